"""Character error rate between a reference text (a PDF text layer) and OCR output.

One definition for every consumer: `python -m annotators.ocr.eval`, the OCR stage's `quality.ocr_cer`
and the benches. Both sides go through `normalise`, which forgives what is layout or typography rather
than a reading error:

- Unicode NFKC (ligatures, full-width forms, "…" as "...");
- typographic quotes and dashes folded to ASCII (a text layer says ‘x’ and –, OCR reads 'x' and -);
- dot leaders removed: runs of 3+ dots, spaced or not, and tokens that are only dots (a table of
  contents spells ". . . . ." in its text layer; OCR never boxes the dots, or boxes a few of them);
- whitespace collapsed to single spaces, and none beside CJK characters (Chinese and Japanese are
  written without spaces; Tesseract puts one between every character).
"""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz.distance import Levenshtein

from filters.textkit import CJK_UNSPACED, collapse_whitespace

_SPACE_BY_CJK = re.compile(rf"(?<={CJK_UNSPACED}) | (?={CJK_UNSPACED})")

# Quotes and dashes a typesetter uses where a typist (and OCR) writes ASCII.
_TYPOGRAPHIC = str.maketrans({
    **dict.fromkeys("‘’‚‛′`", "'"),
    **dict.fromkeys("“”„‟″", '"'),
    **dict.fromkeys("‐‑‒–—―−", "-"),
})

_DOT = r"[.·⋅∙]"  # full stop, middle dot, dot operator, bullet operator: what leaders are drawn with
_LEADER_RUN = re.compile(rf"{_DOT}(?:[ \t]*{_DOT}){{2,}}")
_DOT_TOKEN = re.compile(rf"(?<!\S){_DOT}+(?!\S)")


def fold_typography(text: str) -> str:
    """NFKC, then typographic quotes and dashes as ASCII."""
    return unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHIC)


def strip_leaders(text: str) -> str:
    """Dot leaders (3+ dots, spaced or not) and tokens made only of dots, each replaced by a space."""
    return _DOT_TOKEN.sub(" ", _LEADER_RUN.sub(" ", text))


def normalise(text: str) -> str:
    """The text as CER compares it: typography folded, leaders gone, whitespace collapsed (none beside CJK)."""
    return _SPACE_BY_CJK.sub("", collapse_whitespace(strip_leaders(fold_typography(text))))


def edit_distance(reference: str, hypothesis: str) -> int:
    """Levenshtein distance between the normalised texts (the numerator of `cer`)."""
    return Levenshtein.distance(normalise(reference), normalise(hypothesis))


def cer(reference: str, hypothesis: str) -> float:
    """Edits per normalised reference character (0 = identical; can exceed 1 when OCR invents text)."""
    ref = normalise(reference)
    if not ref:
        return 0.0 if not normalise(hypothesis) else 1.0
    return Levenshtein.distance(ref, normalise(hypothesis)) / len(ref)
