"""Grounding in the reference trainer: the markers are single tokens that decoding keeps, predicted boxes are
parsed and scored by IoU, and `generate --task grounding` runs on a checkpoint over held-out shards."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image
from tokenizers import Tokenizer, models

from model_ref import generate
from model_ref import train as trainer
from model_ref.grounding import boxes_in, evaluate, grounding_turns, score
from model_ref.tokenizer import DET_ID, GROUNDING, REF_ID, TextTokenizer
from pipelines.schema import SAMPLE_SCHEMA, image_value, sample_id, to_table

ANSWER = "<|ref|>the red square<|/ref|><|det|>[[100, 200, 300, 400]]<|/det|>"


def square_row(rng: random.Random, i: int) -> dict:
    """A white image with a red square somewhere, and a question about where it is."""
    x, y = rng.randint(0, 60), rng.randint(0, 40)
    im = Image.new("RGB", (100, 80), (255, 255, 255))
    im.paste((220, 30, 30), (x, y, x + 30, y + 30))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    box = [x * 999 // 100, y * 999 // 80, -(-(x + 30) * 999 // 100), -(-(y + 30) * 999 // 80)]
    messages = [{"role": "user", "content": "<image>\nWhere is the red square?"},
                {"role": "assistant", "content": f"<|ref|>the red square<|/ref|><|det|>[{box}]<|/det|>"}]
    return {"id": sample_id("test", "squares", f"row={i}", str(box)), "source": "test", "kind": "page",
            "uri": "squares", "locator": f"row={i}", "image": image_value(buf.getvalue()), "width": 100,
            "height": 80, "text": "a red square", "keep": True, "messages": messages, "meta": "{}"}


@pytest.fixture(scope="module")
def squares(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("squares")
    (folder / "shards").mkdir()
    rng = random.Random(0)
    for part, n in enumerate((24, 8)):  # the second shard is held out
        rows = [square_row(rng, part * 100 + i) for i in range(n)]
        pq.write_table(to_table(rows, SAMPLE_SCHEMA), folder / "shards" / f"part-{part:05d}.parquet")
    return folder


def test_grounding_markers_are_single_tokens_with_fixed_ids_and_decode_keeps_them():
    tok = TextTokenizer.train([f"Where is it? {ANSWER} 中文"] * 20, vocab_size=300)
    ids = tok.encode(ANSWER)
    assert ids[0] == REF_ID and DET_ID in ids and ids.count(DET_ID) == 1
    assert tok.decode([1, 4, *ids, 2]) == ANSWER  # <bos>, <|user|>, <eos> dropped; markers kept


def test_a_tokenizer_made_before_the_grounding_tokens_is_refused_with_the_reason():
    vocab = {name: i for i, name in enumerate(["<pad>", "<bos>", "<eos>", "<image>", "<|user|>", "<|assistant|>",
                                               "a", "b", "c", "d"])}
    old = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    old.add_special_tokens(list(vocab)[:6])
    with pytest.raises(ValueError, match="predates the grounding tokens"):
        TextTokenizer(old)
    assert GROUNDING == ("<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>")


def test_predicted_boxes_are_parsed_and_matched_one_to_one_by_iou():
    assert boxes_in(ANSWER) == [(100, 200, 300, 400)]
    assert boxes_in("no boxes here") is None
    assert boxes_in("<|det|>[[5, 5, 2, 9], [1, 2, 3]]<|/det|>") == []  # malformed boxes are not predictions
    assert score([(100, 200, 300, 400)], [(100, 200, 300, 400)]) == (1.0, True)
    value, hit = score([(100, 200, 300, 400), (0, 0, 10, 10)], [(100, 200, 300, 400)])
    assert value == 0.5 and not hit  # an extra box costs
    assert score([], [(1, 1, 5, 5)]) == (0.0, False)
    assert grounding_turns([{"role": "user", "content": "<image>\nWhere?"}, {"role": "assistant", "content": ANSWER},
                            {"role": "user", "content": "What is in <|det|>[[1, 2, 3, 4]]<|/det|>?"},
                            {"role": "assistant", "content": "text"}]) == [("Where?", [(100, 200, 300, 400)])]


def test_the_eval_scores_a_perfect_answerer_one_and_a_silent_one_zero(squares):
    rows = generate.heldout_rows([squares])
    answers = {}
    for row in generate.heldout_rows([squares]):
        answers[row["image"]["bytes"]] = row["messages"][1]["content"]
    perfect = evaluate(rows, lambda q, image: answers[image], limit=100)
    assert perfect["turns"] == 8 and perfect["mean_iou"] == 1.0 and perfect["hit_rate"] == 1.0
    silent = evaluate(generate.heldout_rows([squares]), lambda q, image: "", limit=3)
    assert silent["turns"] == 3 and silent["parsed"] == 0 and silent["mean_iou"] == 0.0


def test_generate_task_grounding_runs_on_a_checkpoint_and_reports_iou(squares, tmp_path, capsys):
    out = tmp_path / "ckpt"
    assert trainer.main([str(a) for a in ("--data", squares, "--stage", "3", "--steps", 2, "--out", out,
                                          "--batch-size", 4, "--workers", 0, "--eval-batches", 1)]) == 0
    report = tmp_path / "g.json"
    assert generate.main(["--ckpt", str(out), "--task", "grounding", "--data", str(squares), "--limit", "3",
                          "--max-new-tokens", "8", "--json", str(report)]) == 0
    assert "grounding: 3 questions" in capsys.readouterr().out
    data = json.loads(report.read_text())
    assert data["turns"] == 3 and 0.0 <= data["mean_iou"] <= 1.0 and len(data["examples"]) == 3
    assert generate.main(["--ckpt", str(out), "--task", "grounding"]) == 2  # no --data
