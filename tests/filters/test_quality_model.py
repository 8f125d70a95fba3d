"""The learned quality classifier keeps well-formed prose, rejects boilerplate, spam and garbled extraction, and is
retrained when its training data changes."""

from __future__ import annotations

import json
import random

import pytest

from filters.data.corrupt import KINDS_EN, KINDS_ZH, corrupt
from filters.quality_model import (
    DEFAULT_DATA_DIR,
    QualityModel,
    data_hash,
    is_heldout,
    load_or_train,
    load_rows,
    preprocess,
    train,
)

# Written for this test; neither paragraph is in the training data.
PROSE_EN = ("The volunteers spent the weekend clearing litter from the beach. They collected more than two hundred "
            "bags of rubbish, most of it plastic bottles and fishing nets washed in by winter storms.")
PROSE_ZH = ("清晨的公园里，很多老人在打太极拳，动作缓慢而有力。"
            "不远处，几个年轻人沿着湖边跑步，湖面上飘着一层薄薄的雾气，显得格外宁静。")
# Mojibake needs non-ASCII characters to damage: this one has apostrophes and quotes, as most web prose does.
PROSE_EN_QUOTED = ("The baker's daughter says it's the town's oldest oven. \"We've baked here since my grandfather's "
                   "time,\" she said, \"and we're not stopping now.\" Customers who'd queued since dawn agreed.")
SPAM = [
    "BUY NOW!!! Cheap watches cheap watches best price free shipping click here click here www.bestwatch.biz",
    "We use cookies to give you the best experience. By using our site you accept cookies. Accept | Settings",
    "Home | Products | About | Contact | Login | Cart",
    "注册即送100元 百家乐 老虎机 真人视讯 点击进入 www.win888.top 24小时在线客服",
]


@pytest.fixture(scope="module")
def trained() -> tuple[QualityModel, dict]:
    return train()


@pytest.fixture()
def small_data(tmp_path):
    """A few hundred rows of the shipped data: enough to train a model in well under a second."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("good.jsonl", "bad.jsonl"):
        lines = (DEFAULT_DATA_DIR / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (data / name).write_text("".join(lines[::20]), encoding="utf-8")
    return data


def test_preprocess_lowercases_joins_lines_and_splits_chinese_into_characters():
    assert preprocess("Hello\n  WORLD\t!") == "hello world !"
    assert preprocess("今天Good天气") == "今 天 good 天 气"
    assert preprocess("x" * 10_000) == "x" * 3000


def test_unseen_well_formed_paragraphs_score_as_good(trained):
    model, _ = trained
    assert all(score > 0.5 for score in model.score([PROSE_EN, PROSE_ZH]))


def test_heldout_paragraphs_of_the_shipped_data_mostly_score_as_good(trained):
    model, _ = trained
    rows = [r for r in load_rows() if r["label"] == "good" and is_heldout(r["group"])]
    scores = model.score([r["text"] for r in rows])
    assert sum(s > 0.5 for s in scores) / len(scores) >= 0.95


def test_spam_and_boilerplate_score_as_bad(trained):
    model, _ = trained
    assert all(score < 0.5 for score in model.score(SPAM))


@pytest.mark.parametrize("kind", ["cid", "fffd", "mojibake", "nospace", "spaced", "symbols"])
def test_garbled_versions_of_a_good_paragraph_score_as_bad(trained, kind):
    model, _ = trained
    rng = random.Random(7)
    texts = [KINDS_EN[kind](PROSE_EN_QUOTED if kind == "mojibake" else PROSE_EN, "en", rng)]
    if kind in KINDS_ZH:
        texts.append(KINDS_ZH[kind](PROSE_ZH, "zh", rng))
    assert all(text and text not in (PROSE_EN, PROSE_EN_QUOTED, PROSE_ZH) for text in texts)
    assert all(score < 0.5 for score in model.score(texts)), texts


def test_heldout_accuracy_meets_the_target(trained):
    _, report = trained
    heldout = report["heldout"]
    assert heldout["accuracy"] >= 0.9, heldout
    assert heldout["bad_precision"] >= 0.9 and heldout["bad_recall"] >= 0.85, heldout
    assert report["counts"]["heldout_good"] > 300 and report["counts"]["heldout_bad"] > 300


def test_empty_text_scores_zero_and_scores_are_probabilities(trained):
    model, _ = trained
    scores = model.score(["", PROSE_EN, SPAM[0]])
    assert scores[0] == 0.0
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_bytes_and_file_round_trips_give_the_same_scores(trained, tmp_path):
    model, _ = trained
    texts = [PROSE_EN, PROSE_ZH, *SPAM]
    assert QualityModel.from_bytes(model.to_bytes()).score(texts) == model.score(texts)
    model.save(tmp_path / "m.bin")
    assert QualityModel.load(tmp_path / "m.bin").score(texts) == model.score(texts)


def test_training_is_deterministic(small_data):
    first, _ = train(small_data)
    second, _ = train(small_data)
    assert first.to_bytes() == second.to_bytes()


def test_load_or_train_reuses_a_current_model_and_retrains_when_the_data_changes(small_data, tmp_path):
    path = tmp_path / "models" / "quality.bin"
    meta = path.with_name("quality.bin.json")
    load_or_train(path, small_data)
    assert json.loads(meta.read_text())["data_hash"] == data_hash(small_data)
    trained_at = path.stat().st_mtime_ns

    load_or_train(path, small_data)
    assert path.stat().st_mtime_ns == trained_at  # same data: loaded, not retrained

    with (small_data / "bad.jsonl").open("a", encoding="utf-8") as f:
        row = {"text": "Click here! Click here! Free prizes!", "source": "spam-test", "group": "t"}
        f.write(json.dumps(row) + "\n")
    load_or_train(path, small_data)
    assert json.loads(meta.read_text())["data_hash"] == data_hash(small_data)
    assert path.stat().st_mtime_ns != trained_at


def test_every_corruption_changes_the_text_and_is_reproducible():
    for lang, text in (("en", PROSE_EN), ("zh", PROSE_ZH)):
        for seed in range(5):
            kind, out = corrupt(text, lang, random.Random(seed))
            assert out != text
            assert corrupt(text, lang, random.Random(seed)) == (kind, out)


def test_the_shipped_data_is_large_enough_and_small_enough():
    rows = load_rows()
    good = [r for r in rows if r["label"] == "good"]
    bad = [r for r in rows if r["label"] == "bad"]
    assert len(good) >= 2000 and len(bad) >= 2000
    assert sum(r["source"] == "written-zh" for r in good) >= 60
    size = sum((DEFAULT_DATA_DIR / n).stat().st_size for n in ("good.jsonl", "bad.jsonl"))
    assert size < 3_000_000


def test_the_shipped_data_has_no_characters_that_split_lines_in_some_readers():
    for name in ("good.jsonl", "bad.jsonl"):
        text = (DEFAULT_DATA_DIR / name).read_text(encoding="utf-8")
        assert text.splitlines() == text.split("\n")[:-1]
