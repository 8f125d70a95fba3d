"""Interleaved documents in the reference trainer: `document` rows (text with one `<image>` paragraph
per image) index into their own pool, become sequences with each image's visual tokens at its
marker, cut on an image boundary, feed the vision encoder every image of a batch, and take their
share of stage 2's multimodal steps, logged as `interleaved`."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from model_ref import train as trainer
from model_ref.config import preset
from model_ref.data.loader import StagePools
from model_ref.data.sequences import SequenceBuilder, collate
from model_ref.data.shards import build_index
from model_ref.metrics import read_metrics
from model_ref.model import IGNORE, build_model
from model_ref.schedule.stages import INTERLEAVED_SHARE, STAGES
from model_ref.tokenizer import EOS_ID, IMAGE_ID, TextTokenizer
from pipelines.documents import DocumentBuilder
from pipelines.schema import DOCUMENT_KIND, sample_id
from tests.model_ref.conftest import COLOURS, sentence, write_shards

FAST = ["--batch-size", "4", "--workers", "0", "--eval-batches", "1"]
SIZES = [(96, 64), (64, 150), (200, 120), (72, 72), (130, 90)]  # varied sizes and aspect ratios


def png(colour: str, size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, COLOURS[colour]).save(buf, format="PNG")
    return buf.getvalue()


def document(seed: int, i: int, images: int) -> dict:
    """A document row as the sources write it: paragraphs, and `images` images each with a caption."""
    rng = random.Random(seed * 1000 + i)
    doc = DocumentBuilder()
    doc.text(f"Document {i}", heading=True)
    for k in range(images):
        doc.text(" ".join(sentence(rng) for _ in range(2)))
        colour = rng.choice(list(COLOURS))
        doc.image(png(colour, SIZES[(i + k) % len(SIZES)]), {"url": f"https://example.org/{i}/{k}.png",
                                                             "caption": f"A {colour} square."})
        doc.text(f"Figure {k + 1}: a {colour} square.")
    doc.text(sentence(rng))
    fields = doc.fields()
    row = {"source": "web", "kind": DOCUMENT_KIND, "uri": f"https://example.org/{seed}/{i}", "locator": "",
           "lang": "en", "keep": True, "text": fields["text"], "images": fields["images"],
           "meta": json.dumps(fields["meta"])}
    row["id"] = sample_id("web", row["uri"], "", fields["text"])
    return row


def write_mixed_shards(folder: Path) -> Path:
    """Two shards (the second held out) of documents with 2-5 images, one document with no image, and
    the existing kinds (text, pages with questions, text questions)."""
    def docs(part: int) -> list[dict]:
        n_docs = (12, 4)[part]
        # ... and a document whose images all went: text only
        return [document(part, i, 2 + i % 4) for i in range(n_docs)] + [document(part, 99, 0)]

    return write_shards(folder, (48, 16), extra=docs, row_group_size=16)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    return write_mixed_shards(tmp_path_factory.mktemp("interleaved") / "data")


@pytest.fixture(scope="module")
def tok() -> TextTokenizer:
    rng = random.Random(0)
    return TextTokenizer.train([sentence(rng) for _ in range(200)] + ["Figure 1: a red square."] * 5,
                               vocab_size=400)


def _runs(ids: list[int], per_image: int = 16) -> list[tuple[int, int]]:
    """(start, length) of each image's visual tokens: runs of `<image>` tokens, split every
    `per_image` tokens (two images in a row make one run); a partial image shows as a short one."""
    out, i = [], 0
    while i < len(ids):
        if ids[i] == IMAGE_ID:
            j = i
            while j < len(ids) and ids[j] == IMAGE_ID:
                j += 1
            out += [(k, min(per_image, j - k)) for k in range(i, j, per_image)]
            i = j
        else:
            i += 1
    return out


def _pixels(n: int) -> list[np.ndarray]:
    return [np.full((3, 8, 8), 10 * (k + 1), dtype=np.uint8) for k in range(n)]


def test_each_marker_becomes_its_own_images_visual_tokens_in_order_with_loss_on_text_only(tok):
    builder = SequenceBuilder(tok, image_tokens=16, max_len=384)
    text = "The red cat sees the tree.\n\n<image>\n\nFigure 1: a red square.\n\n<image>\n\n<image>\n\nThe end."
    images = _pixels(3)
    ex = builder.interleaved(text, images)
    assert [length for _, length in _runs(ex.ids)] == [16, 16, 16]
    assert [im is orig for im, orig in zip(ex.images, images, strict=True)] == [True] * 3
    # The text between the markers, tokenised, in order; then <eos>.
    starts = [s for s, _ in _runs(ex.ids)]
    assert ex.ids[1:starts[0]] == tok.encode("The red cat sees the tree.")
    assert ex.ids[starts[0] + 16:starts[1]] == tok.encode("Figure 1: a red square.")
    assert starts[2] == starts[1] + 16  # two images in a row
    assert ex.ids[starts[2] + 16:] == [*tok.encode("The end."), EOS_ID]
    # Loss on the text only: labels are IGNORE on every visual token and the token itself elsewhere.
    assert all((label == IGNORE) == (t == IMAGE_ID) for t, label in zip(ex.ids[1:], ex.labels[1:], strict=True))
    assert all(label in (IGNORE, t) for t, label in zip(ex.ids, ex.labels, strict=True))
    # A literal "<image>" inside a paragraph is text, not an image; markers and images must agree.
    assert builder.interleaved("see <image> here\n\n<image>", _pixels(1)).ids.count(IMAGE_ID) == 16
    assert builder.interleaved(text, _pixels(2)) is None


def test_truncation_lands_on_an_image_boundary_and_drops_what_does_not_fit(tok):
    text = "The red cat sees the tree.\n\n<image>\n\nThe blue dog likes the ball.\n\n<image>\n\nThe end."
    first_text = len(tok.encode("The red cat sees the tree."))
    second_text = len(tok.encode("The blue dog likes the ball."))
    upto_second = 1 + first_text + 16 + second_text  # tokens before the second image
    for max_len in range(upto_second, upto_second + 16):  # the second image does not fit whole
        ex = SequenceBuilder(tok, image_tokens=16, max_len=max_len).interleaved(text, _pixels(2))
        assert [length for _, length in _runs(ex.ids)] == [16] and len(ex.images) == 1
        assert len(ex.ids) == upto_second and ex.ids[-1] != EOS_ID  # cut right where that image stood
    whole = SequenceBuilder(tok, image_tokens=16, max_len=upto_second + 16).interleaved(text, _pixels(2))
    assert [length for _, length in _runs(whole.ids)] == [16, 16]
    # A cap on images per sequence cuts the same way.
    capped = SequenceBuilder(tok, image_tokens=16, max_len=384, max_images=1).interleaved(text, _pixels(2))
    assert len(capped.images) == 1 and len(capped.ids) == upto_second
    # An image that does not decode goes with its marker; the text around it stays.
    broken = SequenceBuilder(tok, image_tokens=16, max_len=384).interleaved(text, [None, _pixels(1)[0]])
    assert [length for _, length in _runs(broken.ids)] == [16] and len(broken.images) == 1
    assert broken.ids[1:1 + first_text + second_text] == tok.encode("The red cat sees the tree.") + \
        tok.encode("The blue dog likes the ball.")
    # Text so long before the first image that it would crowd it out: its tail is kept, and the image.
    long = "\n\n".join(["The green owl finds the stone."] * 40) + "\n\n<image>\n\nThe end."
    ex = SequenceBuilder(tok, image_tokens=16, max_len=64).interleaved(long, _pixels(1))
    assert len(ex.ids) <= 64 and [length for _, length in _runs(ex.ids)] == [16]


def test_documents_index_into_the_interleaved_pool_and_one_without_images_into_language(mixed):
    index = build_index([mixed])
    table = pq.read_table(mixed / "shards" / "part-00000.parquet", columns=["kind", "text", "images"]).to_pylist()
    pos = {(loc[1] * 16 + loc[2]) for loc in index.train["interleaved"].tolist()}
    docs = {i for i, r in enumerate(table) if r["kind"] == DOCUMENT_KIND and r["images"]}
    imageless = {i for i, r in enumerate(table) if r["kind"] == DOCUMENT_KIND and not r["images"]}
    assert pos == docs and len(docs) == 12 and len(imageless) == 1
    language = {(loc[1] * 16 + loc[2]) for loc in index.train["language"].tolist()}
    assert imageless <= language and not docs & language
    image_text = {(loc[1] * 16 + loc[2]) for loc in index.train["image_text"].tolist()}
    assert not docs & image_text and len(index.heldout["interleaved"]) == 4
    # Stage 2 takes the report's share by default and falls back to none without documents.
    pools = StagePools.for_stage(STAGES[2], index.train)
    assert pools.interleaved_share == INTERLEAVED_SHARE == 0.437 and pools.note == ""
    empty = {**index.train, "interleaved": index.train["interleaved"][:0]}
    fallback = StagePools.for_stage(STAGES[2], empty)
    assert fallback.interleaved is None and fallback.interleaved_share == 0.0
    assert "no documents with images in the data, so no interleaved steps" in fallback.note
    only_docs = StagePools.for_stage(STAGES[2], {**index.train, "image_text": index.train["image_text"][:0]})
    assert only_docs.interleaved_share == 1.0 and "every multimodal step is interleaved" in only_docs.note


def test_the_vision_encoder_sees_every_image_of_a_batch_and_each_lands_at_its_marker(tok):
    cfg = preset("tiny").with_vocab(tok.vocab_size)
    model = build_model(cfg).eval()
    builder = SequenceBuilder(tok, cfg.image_tokens, cfg.lm.max_seq_len)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (3, cfg.image_size, cfg.image_size), dtype=np.uint8) for _ in range(4)]
    a = builder.interleaved("The red cat.\n\n<image>\n\nThe dog.\n\n<image>\n\n<image>\n\nEnd.", images[:3])
    b = builder.interleaved("<image>\n\nThe blue owl.", images[3:])
    batch = collate([a, b])
    assert batch["images"].shape[0] == 4
    with torch.no_grad():
        emb = model.embed(batch["input_ids"], batch["images"])
        visual = model.adaptor(*model.vision(batch["images"]))
    flat = 0
    for row, ex in enumerate((a, b)):
        for start, length in _runs(ex.ids, cfg.image_tokens):
            assert torch.allclose(emb[row, start:start + length], visual[flat], atol=1e-6)
            flat += 1
    assert flat == 4


def test_stage2_trains_interleaved_steps_and_logs_them(mixed, tmp_path, capsys):
    out = tmp_path / "run"
    assert trainer.main([str(a) for a in ("--data", mixed, "--stage", "2", "--steps", 6, "--out", out,
                                          "--language-share", 0.5, "--modality-warmup", 0, "--eval-every", 6,
                                          *FAST)]) == 0
    rows_ = read_metrics(out)
    modalities = [r["modality"] for r in rows_]
    # 3 multimodal steps of 6, 0.437 of them interleaved: Bresenham over the multimodal steps.
    assert modalities.count("language") == 3 and modalities.count("interleaved") == 1, modalities
    assert all(np.isfinite(r["loss"]) for r in rows_)
    assert "eval_loss_interleaved" in rows_[-1] and "eval_loss_multimodal" in rows_[-1]
    assert "interleaved 0.437 of multimodal steps" in capsys.readouterr().err


def test_without_documents_stage2_says_so_at_start_up(shards, tmp_path, capsys):
    args = trainer.parse_args(["--data", str(shards), "--stage", "2", "--steps", "2", "--out", str(tmp_path), *FAST])
    trainer.prepare(args)
    assert "no documents with images in the data, so no interleaved steps (0.437" in capsys.readouterr().err
