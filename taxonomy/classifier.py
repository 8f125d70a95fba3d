"""Which use case a user's request to a VLM belongs to: a fastText classifier over the taxonomy's subcategories.

Trained in a few seconds on `taxonomy/data/requests.jsonl` (hand-written messy requests, English and Chinese) plus the
example requests in `taxonomy/taxonomy.toml`. fastText's softmax is overconfident on short texts, so its scores are
rescaled by one temperature fitted on out-of-fold predictions of the training split; the reported held-out figures
never see that fit. The model is a build artefact in the user's cache, retrained when the data or taxonomy change.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from filters.textkit import fasttext_predict, fasttext_text, fit_fasttext
from pipelines.resources import model_path, package_path
from taxonomy.tree import DEFAULT_PATH as DEFAULT_TAXONOMY
from taxonomy.tree import load_taxonomy

DEFAULT_DATA = package_path("taxonomy", "data", "requests.jsonl")
DEFAULT_MODEL_PATH = model_path("requests.bin")  # trained on first use: ~/.cache/vlforge/models
MAX_CHARS = 2000
HELDOUT_FRACTION = 0.2
CV_FOLDS = 5
ECE_BINS = 10
# Requests are a handful of words: character n-grams carry the typos and the Chinese, word bigrams the phrasing.
# Chosen by 5-fold cross-validation on the training split, never on the held-out rows: a low rate (0.1) underfits badly
# on ~1,500 short rows (10-30% accuracy), lr 0.3-1.0 over 50-150 epochs all land within noise (57-59%); dim 16-64 and
# minn/maxn 2-4 to 3-6 move it by a point or two. 50k buckets x 32 dims keep the model near 7 MB; one thread for
# determinism.
TRAIN_PARAMS = {"lr": 0.5, "epoch": 100, "wordNgrams": 2, "minn": 2, "maxn": 4, "bucket": 50_000, "dim": 32,
                "minCount": 1, "loss": "softmax", "thread": 1}
PREPROCESS_VERSION = "2"  # bump when preprocess() changes, so saved models are retrained
LABEL_PREFIX = "__label__"
_MAGIC = b"VLFREQ1\n"


def preprocess(text: str) -> str:
    """The one normalisation for training and prediction: lowercase, one line, CJK characters as separate tokens."""
    return fasttext_text(text, MAX_CHARS)


def load_rows(data: Path = DEFAULT_DATA, taxonomy_path: Path = DEFAULT_TAXONOMY) -> list[dict]:
    """The labelled requests, checked against the taxonomy; a bad line raises ValueError naming it."""
    known = load_taxonomy(taxonomy_path).subcategories
    rows = []
    with Path(data).open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{data}:{n}: not valid JSON ({e})") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
                raise ValueError(f"{data}:{n}: needs a non-empty \"text\"")
            if row.get("tag") not in known:
                raise ValueError(f"{data}:{n}: tag {row.get('tag')!r} is not a subcategory in {taxonomy_path}")
            if row.get("lang") not in ("en", "zh"):
                raise ValueError(f"{data}:{n}: lang must be \"en\" or \"zh\", got {row.get('lang')!r}")
            rows.append(row)
    return rows


def taxonomy_rows(taxonomy_path: Path = DEFAULT_TAXONOMY) -> list[dict]:
    """The taxonomy's example requests as training rows, so a newly added subcategory is known before it has data."""
    taxonomy = load_taxonomy(taxonomy_path)
    return [{"text": text, "tag": sub.id, "lang": lang}
            for sub in taxonomy.subcategories.values() for lang, texts in sub.examples.items() for text in texts]


def _text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def split(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """Deterministic train/held-out split: within each (tag, lang), the 20% of rows whose text hashes lowest.

    Ranking by hash inside each group (rather than hash % 100) guarantees every subcategory and language has held-out
    rows, and rows added to other subcategories never move a row to the other side.
    """
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["tag"], row["lang"]].append(row)
    heldout_ids = set()
    for group in groups.values():
        # At least one held-out row per group that has two; a lone row stays in training.
        count = max(round(len(group) * HELDOUT_FRACTION), 1) if len(group) > 1 else 0
        heldout_ids.update(id(r) for r in sorted(group, key=lambda r: _text_hash(r["text"]))[:count])
    return [r for r in rows if id(r) not in heldout_ids], [r for r in rows if id(r) in heldout_ids]


def _folds(rows: list[dict], folds: int) -> list[int]:
    """A cross-validation fold per row, stratified by tag: rows of a tag are dealt round-robin in hash order."""
    fold_of: dict[int, int] = {}
    by_tag: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_tag[row["tag"]].append(row)
    for group in by_tag.values():
        for i, row in enumerate(sorted(group, key=lambda r: _text_hash(r["text"]))):
            fold_of[id(row)] = i % folds
    return [fold_of[id(r)] for r in rows]


def data_hash(data: Path = DEFAULT_DATA, taxonomy_path: Path = DEFAULT_TAXONOMY, params: dict | None = None) -> str:
    """Identity of a training run's inputs: data, taxonomy, hyperparameters, split and preprocessing."""
    settings = [params or TRAIN_PARAMS, PREPROCESS_VERSION, MAX_CHARS, HELDOUT_FRACTION, CV_FOLDS]
    digest = hashlib.sha256(json.dumps(settings).encode())
    digest.update(Path(data).read_bytes())
    digest.update(Path(taxonomy_path).read_bytes())
    return digest.hexdigest()


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def expected_calibration_error(probs: np.ndarray, truth: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE of the top prediction: |accuracy - confidence| per equal-width confidence bin, weighted by bin size."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == truth
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    return float(sum(abs(correct[which == b].mean() - confidence[which == b].mean()) * (which == b).mean()
                     for b in range(bins) if (which == b).any()))


def fit_temperature(log_probs: np.ndarray, truth: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(log_probs / T): a log-spaced grid search."""
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 801))
    rows = np.arange(len(truth))

    def nll(t: float) -> float:
        return float(-np.log(_softmax(log_probs / t)[rows, truth] + 1e-12).mean())

    return float(min(grid, key=nll))


class RequestClassifier:
    """A trained classifier: `predict` gives calibrated subcategory probabilities, `categories` top-level ones."""

    def __init__(self, model, temperature: float = 1.0, meta: dict | None = None):
        self._model = model
        self.labels = [label.removeprefix(LABEL_PREFIX) for label in model.get_labels()]
        self.temperature = temperature
        self.meta = {**(meta or {}), "temperature": temperature, "labels": self.labels}
        # Subcategory ids are "<category>.<name>" and category ids have no dot (taxonomy.tree checks both).
        self.parents = [label.split(".", 1)[0] for label in self.labels]

    def log_probs(self, texts: list[str]) -> np.ndarray:
        """fastText's uncalibrated log-probabilities, one row per text and one column per label (self.labels order).

        fastText floors each probability at 1e-5 before the log; a text with no tokens gets a flat row.
        """
        column = {label: i for i, label in enumerate(self.labels)}
        out = np.zeros((len(texts), len(self.labels)))
        cleaned = [preprocess(t or "") for t in texts]
        todo = [i for i, t in enumerate(cleaned) if t]
        if todo:
            labels, probs = fasttext_predict(self._model, [cleaned[i] for i in todo], k=-1, threshold=0.0)
            for i, names, values in zip(todo, labels, probs, strict=True):
                for name, value in zip(names, values, strict=True):
                    out[i, column[name.removeprefix(LABEL_PREFIX)]] = np.log(max(float(value), 1e-5))
        return out

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Calibrated probabilities over self.labels, one row per text; each row sums to 1."""
        return _softmax(self.log_probs(texts) / self.temperature)

    def predict(self, texts: list[str], k: int | None = None) -> list[list[tuple[str, float]]]:
        """Per text, the k most likely subcategory ids (all when k is None) with calibrated probabilities."""
        return [_ranked(self.labels, row, k) for row in self.probabilities(texts)]

    def categories(self, texts: list[str], k: int | None = None) -> list[list[tuple[str, float]]]:
        """Per text, top-level category ids with the summed probability of their subcategories, most likely first."""
        probs = self.probabilities(texts)
        names = list(dict.fromkeys(self.parents))
        summed = np.zeros((len(texts), len(names)))
        for j, parent in enumerate(self.parents):
            summed[:, names.index(parent)] += probs[:, j]
        return [_ranked(names, row, k) for row in summed]

    def save(self, path: Path) -> None:
        """Write the fastText binary to path and the metadata (temperature, data hash, report) to path + ".json"."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._model.save_model(str(path))
        path.with_name(path.name + ".json").write_text(json.dumps(self.meta, indent=2, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> RequestClassifier:
        """Read a classifier written by `save`."""
        import fasttext

        path = Path(path)
        meta = json.loads(path.with_name(path.name + ".json").read_text())
        return cls(fasttext.load_model(str(path)), meta["temperature"], meta)

    def to_bytes(self) -> bytes:
        """Model and metadata as one blob, to ship to Ray workers (fastText only writes to paths: a temp file)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.bin"
            self._model.save_model(str(path))
            meta = json.dumps(self.meta, ensure_ascii=False).encode("utf-8")
            return _MAGIC + struct.pack("<Q", len(meta)) + meta + path.read_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> RequestClassifier:
        """Inverse of `to_bytes`."""
        import fasttext

        if not data.startswith(_MAGIC):
            raise ValueError("not a request classifier written by RequestClassifier.to_bytes")
        start = len(_MAGIC) + 8
        (size,) = struct.unpack("<Q", data[len(_MAGIC):start])
        meta = json.loads(data[start:start + size])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.bin"
            path.write_bytes(data[start + size:])
            return cls(fasttext.load_model(str(path)), meta["temperature"], meta)


def _ranked(names: list[str], scores: np.ndarray, k: int | None) -> list[tuple[str, float]]:
    order = np.argsort(-scores, kind="stable")[: None if k is None else max(k, 0)]
    return [(names[i], float(scores[i])) for i in order]


def _fit(rows: list[dict], seed: int, params: dict | None = None) -> RequestClassifier:
    """Train fastText on rows in a fresh interpreter (see fit_fasttext) and load the result, uncalibrated."""
    import fasttext

    with tempfile.TemporaryDirectory() as tmp:
        train_path, model_path = Path(tmp) / "train.txt", Path(tmp) / "model.bin"
        with train_path.open("w", encoding="utf-8") as f:
            for row in rows:
                if text := preprocess(row["text"]):
                    f.write(f"{LABEL_PREFIX}{row['tag']} {text}\n")
        fit_fasttext(train_path, model_path, {**(params or TRAIN_PARAMS), "seed": seed, "verbose": 0})
        return RequestClassifier(fasttext.load_model(str(model_path)))


def _truth(model: RequestClassifier, rows: list[dict]) -> np.ndarray:
    column = {label: i for i, label in enumerate(model.labels)}
    return np.array([column.get(r["tag"], -1) for r in rows])


def evaluate(model: RequestClassifier, rows: list[dict]) -> dict:
    """Top-1 accuracy of subcategory and top-level category (summed probabilities), overall and per language, and ECE.

    `category_accuracy_from_top_subcategory` is the cruder alternative: the parent of the most likely subcategory.
    """
    probs = model.probabilities([r["text"] for r in rows])
    truth = _truth(model, rows)
    sub_hit = probs.argmax(axis=1) == truth
    parents = np.array(model.parents)
    predicted_category = [c for c, _ in (ranked[0] for ranked in model.categories([r["text"] for r in rows]))]
    cat_hit = np.array([p == r["tag"].split(".", 1)[0] for p, r in zip(predicted_category, rows, strict=True)])
    cat_hit_top = parents[probs.argmax(axis=1)] == np.array([r["tag"].split(".", 1)[0] for r in rows])
    langs = np.array([r["lang"] for r in rows])
    per_sub = {tag: round(float(sub_hit[[r["tag"] == tag for r in rows]].mean()), 4)
               for tag in dict.fromkeys(r["tag"] for r in rows)}
    return {
        "n": len(rows),
        "subcategory_accuracy": round(float(sub_hit.mean()), 4),
        "category_accuracy": round(float(cat_hit.mean()), 4),
        "category_accuracy_from_top_subcategory": round(float(cat_hit_top.mean()), 4),
        "by_language": {lang: {"n": int((langs == lang).sum()),
                               "subcategory_accuracy": round(float(sub_hit[langs == lang].mean()), 4),
                               "category_accuracy": round(float(cat_hit[langs == lang].mean()), 4)}
                        for lang in ("en", "zh") if (langs == lang).any()},
        "ece": round(expected_calibration_error(probs, truth), 4),
        "per_subcategory_accuracy": per_sub,
    }


def train(data: Path = DEFAULT_DATA, seed: int = 0, taxonomy_path: Path = DEFAULT_TAXONOMY,
          params: dict | None = None) -> tuple[RequestClassifier, dict]:
    """Train on the 80% split, calibrate on out-of-fold predictions of that split, report on the held-out 20%.

    Deterministic for a seed: one fastText thread, hash-based split and folds.
    """
    start = time.perf_counter()
    rows = load_rows(data, taxonomy_path)
    train_rows, heldout_rows = split(rows)
    examples = taxonomy_rows(taxonomy_path)
    # Out-of-fold log-probabilities of every training row: what the model says about requests it has not seen, which
    # is what the temperature must correct (on its own training rows fastText is near-certain and right).
    fold = np.array(_folds(train_rows, CV_FOLDS))
    oof_log_probs, oof_truth = [], []
    for k in range(CV_FOLDS):
        fold_model = _fit([r for r, f in zip(train_rows, fold, strict=True) if f != k] + examples, seed, params)
        scored = [r for r, f in zip(train_rows, fold, strict=True) if f == k]
        if not scored:
            continue
        # A fold model may lack a label the full model has: keep its label order, _align maps it onto the model's.
        oof_log_probs.append((fold_model.labels, fold_model.log_probs([r["text"] for r in scored])))
        oof_truth.append([r["tag"] for r in scored])
    model = _fit(train_rows + examples, seed, params)
    aligned, truth = _align(model.labels, oof_log_probs, oof_truth)
    temperature = fit_temperature(aligned, truth)
    uncalibrated = evaluate(model, heldout_rows)
    calibrated_model = RequestClassifier(model._model, temperature)
    heldout = evaluate(calibrated_model, heldout_rows)
    heldout["ece_uncalibrated"] = uncalibrated["ece"]
    seconds = time.perf_counter() - start
    report = {
        "heldout": heldout,
        "train_accuracy": evaluate(calibrated_model, train_rows)["subcategory_accuracy"],
        "temperature": round(temperature, 4),
        "cv_ece_uncalibrated": round(expected_calibration_error(_softmax(aligned), truth), 4),
        "cv_ece_calibrated": round(expected_calibration_error(_softmax(aligned / temperature), truth), 4),
        "counts": {"train": len(train_rows), "heldout": len(heldout_rows), "taxonomy_examples": len(examples),
                   "labels": len(model.labels)},
        "train_seconds": round(seconds, 2),
        "seed": seed,
        "params": params or TRAIN_PARAMS,
        "data_hash": data_hash(data, taxonomy_path, params),
    }
    calibrated_model.meta.update(data_hash=report["data_hash"], report=report)
    return calibrated_model, report


def _align(labels: list[str], parts: list[tuple[list[str], np.ndarray]],
           tags: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-fold log-probabilities onto one label order; a label a fold never saw gets fastText's floor."""
    column = {label: i for i, label in enumerate(labels)}
    blocks = []
    for fold_labels, log_probs in parts:
        block = np.full((len(log_probs), len(labels)), np.log(1e-5))
        for j, label in enumerate(fold_labels):
            block[:, column[label]] = log_probs[:, j]
        blocks.append(block)
    flat = [column[t] for group in tags for t in group]
    return np.vstack(blocks), np.array(flat)


def is_current(path: Path = DEFAULT_MODEL_PATH, data: Path = DEFAULT_DATA,
               taxonomy_path: Path = DEFAULT_TAXONOMY) -> bool:
    """Whether a saved classifier exists at path and was trained on the current data, taxonomy and settings."""
    path = Path(path)
    meta_path = path.with_name(path.name + ".json")
    if not (path.is_file() and meta_path.is_file()):
        return False
    try:
        return json.loads(meta_path.read_text())["data_hash"] == data_hash(data, taxonomy_path)
    except (ValueError, KeyError):
        return False  # unreadable metadata: retrain


def load_or_train(path: Path = DEFAULT_MODEL_PATH, data: Path = DEFAULT_DATA,
                  taxonomy_path: Path = DEFAULT_TAXONOMY) -> RequestClassifier:
    """The saved classifier if it was trained on the current data and taxonomy, else a freshly trained (saved) one."""
    path = Path(path)
    if is_current(path, data, taxonomy_path):
        return RequestClassifier.load(path)
    model, _ = train(data, taxonomy_path=taxonomy_path)
    # Write beside the target and rename, so a concurrent reader never sees half a model or a stale report.
    path.parent.mkdir(parents=True, exist_ok=True)
    meta_name = path.name + ".json"
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        model.save(Path(tmp) / path.name)
        os.replace(Path(tmp) / path.name, path)
        os.replace(Path(tmp) / meta_name, path.with_name(meta_name))
    return model
