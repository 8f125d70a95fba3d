"""Character error rate between a reference text (a PDF text layer) and OCR output."""

from __future__ import annotations

import re

from rapidfuzz.distance import Levenshtein

_CJK = r"\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_SPACE_BY_CJK = re.compile(rf"(?<=[{_CJK}]) | (?=[{_CJK}])")


def normalise(text: str) -> str:
    """Whitespace collapsed to single spaces, and none beside CJK characters (Chinese is written
    without spaces; Tesseract puts one between every character): layout is not a reading error."""
    return _SPACE_BY_CJK.sub("", " ".join(text.split()))


def edit_distance(reference: str, hypothesis: str) -> int:
    return Levenshtein.distance(normalise(reference), normalise(hypothesis))


def cer(reference: str, hypothesis: str) -> float:
    """Edits per reference character (0 = identical; can exceed 1 when OCR invents text)."""
    ref = normalise(reference)
    if not ref:
        return 0.0 if not normalise(hypothesis) else 1.0
    return Levenshtein.distance(ref, normalise(hypothesis)) / len(ref)
