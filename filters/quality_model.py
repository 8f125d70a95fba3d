"""Learned text quality: a small fastText classifier of well-formed prose against boilerplate, spam and garbled text.

The DCLM / DeepSeek recipe: a bag of word bigrams and character n-grams, trained in seconds, scoring thousands of
texts per second on one core. Training data ships in `filters/data/quality/` (made by
`python -m filters.data.make_quality_data`); the trained model is a build artefact in the user's cache
(`pipelines.resources.model_path`), retrained whenever the data it was trained on changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from filters.textkit import fasttext_predict, fasttext_text, fit_fasttext
from pipelines.resources import model_path, package_path

DEFAULT_DATA_DIR = package_path("filters", "data", "quality")
DEFAULT_MODEL_PATH = model_path("quality.bin")  # trained on first use: ~/.cache/vlforge/models
MAX_CHARS = 3000
HELDOUT_PERCENT = 20
# The input matrix is (vocabulary + bucket) x dim floats: 50k buckets of 16 dims keep the model near 4 MB (200k x 32
# would be 26 MB) at no cost in held-out accuracy. A low rate over 60 epochs beats 0.1 over 25 by about 1.5 points and
# overfits less to the docstring style of most good text; one thread for determinism.
TRAIN_PARAMS = {"lr": 0.05, "epoch": 60, "wordNgrams": 2, "minn": 2, "maxn": 4, "bucket": 50_000, "dim": 16,
                "minCount": 2, "loss": "softmax", "thread": 1}
PREPROCESS_VERSION = "2"  # bump when preprocess() changes, so saved models are retrained


def preprocess(text: str) -> str:
    """The one normalisation used for training and scoring: lowercase, one line, CJK split into characters."""
    return fasttext_text(text, MAX_CHARS)


def is_heldout(group: str) -> bool:
    """Deterministic 80/20 split by the row's group, i.e. by the good paragraph (or spam template) it came from."""
    return int(hashlib.sha1(group.encode("utf-8")).hexdigest()[:8], 16) % 100 < HELDOUT_PERCENT


def load_rows(data_dir: Path = DEFAULT_DATA_DIR) -> list[dict]:
    """All rows of good.jsonl and bad.jsonl, each with its "label" added."""
    rows = []
    for label in ("good", "bad"):
        with (data_dir / f"{label}.jsonl").open(encoding="utf-8") as f:
            rows += [{**json.loads(line), "label": label} for line in f if line.strip()]
    return rows


def data_hash(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """Identity of a training run's inputs: the data files, the hyperparameters and the preprocessing version."""
    digest = hashlib.sha256(json.dumps([TRAIN_PARAMS, PREPROCESS_VERSION, MAX_CHARS, HELDOUT_PERCENT]).encode())
    for name in ("good.jsonl", "bad.jsonl"):
        digest.update((data_dir / name).read_bytes())
    return digest.hexdigest()


class QualityModel:
    """A trained classifier; `score` gives the probability that each text is good, well-formed prose."""

    def __init__(self, model):
        self._model = model

    def score(self, texts: list[str]) -> list[float]:
        """P(good) per text, in one batched fastText call; text with nothing in it scores 0."""
        cleaned = [preprocess(t or "") for t in texts]
        todo = [i for i, t in enumerate(cleaned) if t]
        scores = [0.0] * len(texts)
        if todo:
            labels, probs = fasttext_predict(self._model, [cleaned[i] for i in todo], k=2)
            for i, names, values in zip(todo, labels, probs, strict=True):
                by_label = dict(zip(names, values, strict=True))
                good = by_label.get("__label__good", 1.0 - by_label.get("__label__bad", 1.0))
                scores[i] = float(min(1.0, max(0.0, good)))
        return scores

    def save(self, path: Path) -> None:
        """Write the fastText binary to path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._model.save_model(str(path))

    @classmethod
    def load(cls, path: Path) -> QualityModel:
        """Read a model written by `save`."""
        import fasttext

        return cls(fasttext.load_model(str(path)))

    def to_bytes(self) -> bytes:
        """The model as bytes, to ship to Ray workers; fastText only writes to paths, hence the temp file."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.bin"
            self.save(path)
            return path.read_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> QualityModel:
        """Inverse of `to_bytes`."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.bin"
            path.write_bytes(data)
            return cls.load(path)


def _write_fasttext_file(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            text = preprocess(row["text"])
            if text:
                f.write(f"__label__{row['label']} {text}\n")


def evaluate(model: QualityModel, rows: list[dict]) -> dict:
    """Accuracy, and precision/recall of "bad" (bad is what the filter acts on), plus accuracy per source."""
    scores = model.score([r["text"] for r in rows])
    tp = fp = fn = correct = 0
    per_source: dict[str, list[int]] = {}
    for row, score in zip(rows, scores, strict=True):
        predicted_bad, is_bad = score < 0.5, row["label"] == "bad"
        correct += predicted_bad == is_bad
        tp += predicted_bad and is_bad
        fp += predicted_bad and not is_bad
        fn += is_bad and not predicted_bad
        hits = per_source.setdefault(row.get("source", "?"), [0, 0])
        hits[0] += predicted_bad == is_bad
        hits[1] += 1
    return {
        "accuracy": correct / len(rows) if rows else 0.0,
        "bad_precision": tp / (tp + fp) if tp + fp else 0.0,
        "bad_recall": tp / (tp + fn) if tp + fn else 0.0,
        "per_source_accuracy": {s: round(c / n, 4) for s, (c, n) in sorted(per_source.items())},
    }


def train(data_dir: Path = DEFAULT_DATA_DIR, seed: int = 0) -> tuple[QualityModel, dict]:
    """Train on the 80% split and report held-out metrics; deterministic for a seed (one thread)."""
    rows = load_rows(data_dir)
    train_rows = [r for r in rows if not is_heldout(r["group"])]
    heldout_rows = [r for r in rows if is_heldout(r["group"])]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        train_path, model_path = Path(tmp) / "train.txt", Path(tmp) / "model.bin"
        _write_fasttext_file(train_path, train_rows)
        fit_fasttext(train_path, model_path, {**TRAIN_PARAMS, "seed": seed, "verbose": 0})
        model = QualityModel.load(model_path)
    seconds = time.perf_counter() - start
    counts = {f"{split}_{label}": sum(r["label"] == label for r in split_rows)
              for split, split_rows in (("train", train_rows), ("heldout", heldout_rows)) for label in ("good", "bad")}
    report = {
        "heldout": evaluate(model, heldout_rows),
        "train_accuracy": evaluate(model, train_rows)["accuracy"],
        "counts": counts,
        "train_seconds": round(seconds, 2),
        "seed": seed,
        "data_hash": data_hash(data_dir),
    }
    return model, report


def load_or_train(path: Path = DEFAULT_MODEL_PATH, data_dir: Path = DEFAULT_DATA_DIR) -> QualityModel:
    """The saved model if it was trained on the current data, else a freshly trained (and saved) one."""
    meta_path = path.with_name(path.name + ".json")
    current = data_hash(data_dir)
    if path.is_file() and meta_path.is_file():
        try:
            if json.loads(meta_path.read_text())["data_hash"] == current:
                return QualityModel.load(path)
        except (ValueError, KeyError):
            pass  # unreadable metadata: retrain below
    model, report = train(data_dir)
    # Write beside the target and rename, so a concurrent reader never sees half a model or a stale report.
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        model.save(Path(tmp) / path.name)
        (Path(tmp) / meta_path.name).write_text(json.dumps(report, indent=2))
        os.replace(Path(tmp) / path.name, path)
        os.replace(Path(tmp) / meta_path.name, meta_path)
    return model
