"""Character error rate between a reference text (a PDF text layer) and OCR output."""

from __future__ import annotations

import re

from rapidfuzz.distance import Levenshtein

from filters.textkit import CJK_UNSPACED, collapse_whitespace

_SPACE_BY_CJK = re.compile(rf"(?<={CJK_UNSPACED}) | (?={CJK_UNSPACED})")


def normalise(text: str) -> str:
    """Whitespace collapsed to single spaces, and none beside CJK characters (Chinese and Japanese are
    written without spaces; Tesseract puts one between every character): layout is not a reading error."""
    return _SPACE_BY_CJK.sub("", collapse_whitespace(text))


def edit_distance(reference: str, hypothesis: str) -> int:
    return Levenshtein.distance(normalise(reference), normalise(hypothesis))


def cer(reference: str, hypothesis: str) -> float:
    """Edits per reference character (0 = identical; can exceed 1 when OCR invents text)."""
    ref = normalise(reference)
    if not ref:
        return 0.0 if not normalise(hypothesis) else 1.0
    return Levenshtein.distance(ref, normalise(hypothesis)) / len(ref)
