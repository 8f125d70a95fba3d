"""Text helpers shared by the filters and the fastText classifiers: CJK character classes, whitespace, tokens, training.

The CJK ranges are defined once, in `CJK_RANGES`; every class below is built from that table:

- `CJK_LETTER`: Han, kana and Hangul, the letters a CJK text is made of (the text filter's CJK test and word units,
  dedup's shingles, where each such letter counts as a word).
- `CJK_UNSPACED`: Han, kana, CJK punctuation and full-width forms, the characters written without spaces between
  them; fastText input splits each into its own token (`fasttext_text`), OCR's CER ignores spaces beside them.
  Hangul is left out: Korean puts spaces between words.
- `KANA`: hiragana and katakana, which tell Japanese from Chinese.

`fit_fasttext` trains a fastText model in a fresh interpreter. The text-quality filter (`filters/quality_model.py`) and
the request classifier (`taxonomy/classifier.py`) use it and `fasttext_text`: their models are retrained when their
`PREPROCESS_VERSION` changes, so a change here that alters `fasttext_text`'s output must bump both.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from pipelines.recent import per_distinct

# (first, last, script). Scripts: han, kana, hangul (letters); punctuation, fullwidth (symbols and forms).
CJK_RANGES = (
    ("\u3000", "\u303f", "punctuation"),  # CJK symbols and punctuation: 、。「」
    ("\u3040", "\u30ff", "kana"),  # hiragana, katakana
    ("\u31f0", "\u31ff", "kana"),  # katakana phonetic extensions
    ("\u3400", "\u4dbf", "han"),  # CJK unified ideographs extension A
    ("\u4e00", "\u9fff", "han"),  # CJK unified ideographs
    ("\uac00", "\ud7af", "hangul"),  # Hangul syllables
    ("\uf900", "\ufaff", "han"),  # CJK compatibility ideographs
    ("\uff00", "\uff65", "fullwidth"),  # full-width ASCII and half-width CJK punctuation
    ("\uff66", "\uff9f", "kana"),  # half-width katakana
    ("\uffa0", "\uffef", "fullwidth"),  # half-width Hangul jamo, full-width symbols
)


def _char_class(*scripts: str) -> str:
    """A regex character class ("[...]") of the CJK_RANGES rows whose script is one of `scripts`."""
    return "[" + "".join(f"{first}-{last}" for first, last, script in CJK_RANGES if script in scripts) + "]"


CJK_LETTER = _char_class("han", "kana", "hangul")
CJK_UNSPACED = _char_class("han", "kana", "punctuation", "fullwidth")
KANA = _char_class("kana")
CJK_LETTER_RE = re.compile(CJK_LETTER)
KANA_RE = re.compile(KANA)
_UNSPACED_RE = re.compile(f"({CJK_UNSPACED})")


def collapse_whitespace(text: str) -> str:
    """Every run of whitespace (newlines included) as one space, none at either end."""
    return " ".join(text.split())  # str.split and regex \s agree on what whitespace is


def split_cjk(text: str) -> str:
    """Each CJK_UNSPACED character set apart by spaces, so a tokenizer that splits on spaces sees it as a word."""
    return _UNSPACED_RE.sub(r" \1 ", text)


def fasttext_text(text: str, max_chars: int) -> str:
    """A fastText classifier's input, the same for training and scoring: lowercase, one line, CJK split into
    characters, at most `max_chars` characters."""
    return collapse_whitespace(split_cjk(text[: max_chars * 2].lower()))[:max_chars]


def fasttext_predict(model: Any, texts: list[str], **kwargs: Any) -> tuple[list[Any], list[Any]]:
    """A fastText model's `predict(texts, **kwargs)` (labels, probabilities: one entry per text), each distinct
    text predicted once: a page and its text sample carry the same text."""
    found = per_distinct(texts, lambda distinct: list(zip(*model.predict(distinct, **kwargs), strict=True)))
    return [labels for labels, _ in found], [probs for _, probs in found]


_FIT_SCRIPT = """
import json, sys
import fasttext
train_path, model_path, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
fasttext.train_supervised(input=train_path, **params).save_model(model_path)
"""


def fit_fasttext(train_path: Path, model_path: Path, params: dict) -> None:
    """Run fastText training in a fresh interpreter.

    A second training run in the same interpreter gives different weights from the first, and sometimes fails with
    "Encountered NaN" (probably native memory that a fresh process gets zeroed and a reused heap does not). In a
    child process every run starts from the same state, so a seed always gives the same model.
    """
    proc = subprocess.run([sys.executable, "-c", _FIT_SCRIPT, str(train_path), str(model_path), json.dumps(params)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        hint = ""
        if "train_supervised" in proc.stderr:
            hint = (" (the installed `fasttext` module is a predict-only one, fasttext-predict's, which another "
                    "package pulled in over fasttext-numpy2-wheel's: `pip uninstall fasttext-predict`, then "
                    "`pip install --force-reinstall --no-deps fasttext-numpy2-wheel`)")
        raise RuntimeError(f"fastText training failed{hint}: {proc.stderr.strip()[-2000:]}")
