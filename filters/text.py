"""Text filter: length bounds, Gopher-style rules, repetition and garbled-text checks.

Rules follow the Gopher paper (Rae et al. 2021, appendix A) as DataTrove and Data-Juicer implement
them. Word rules only make sense where words are separated by spaces, so text detected as Chinese,
Japanese or Korean is judged by its characters, lines and paragraphs. Text-only samples get every
rule; image samples (a page and its text layer) only the garbled-text rule, because a table or a
chart legitimately breaks the prose rules while a mis-encoded text layer makes the pair useless.
Interleaved documents are judged on their text without `<image>` markers: one left with no image is
a text document and gets every rule; one with images, whose paragraphs the document filter has
already judged node by node, only the garbled-text rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any

from filters.base import Filter
from filters.textkit import CJK_LETTER_RE
from pipelines.documents import marker_count, plain_text
from pipelines.registry import register_stage
from pipelines.schema import DOCUMENT_KIND

STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})  # Gopher's list
BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "–", "-", "*", "·", "‣", "⁃", "◦")
CJK_LANGS = frozenset({"zh", "ja", "ko"})
_CID = re.compile(r"\(cid:\d+\)")
# UTF-8 read as Latin-1/cp1252: 'Ã©', 'â€™', 'Â ' and friends.
_MOJIBAKE = re.compile(r"[ÃÂâÅÐÑ][\u0080-\u00bf\u2018-\u201e\u2020-\u2022\u2026\u2030\u20ac\u2122\u0152\u0153\u0160"
                       r"\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc]")


@dataclass(frozen=True)
class TextFilterConfig:
    """Bounds for text samples; the Gopher defaults, except length, which suits page-sized texts."""

    min_chars: int = 20
    max_chars: int = 200_000
    min_words: int = 5
    min_mean_word_len: float = 3.0
    max_mean_word_len: float = 10.0
    max_symbol_ratio: float = 0.1
    max_bullet_frac: float = 0.9
    max_ellipsis_frac: float = 0.3
    min_stopwords: int = 2
    stopwords_from_words: int = 50  # the stop-word rule needs this many words to be fair to short texts
    max_dup_line_frac: float = 0.3
    max_dup_para_frac: float = 0.3
    repetition_from_words: int = 30  # n-gram rules are noise on shorter texts
    max_top_2gram_frac: float = 0.2
    max_dup_5gram_frac: float = 0.15
    max_garbled_frac: float = 0.05


@register_stage(order=240, section="filters.text", config=TextFilterConfig, scores=(
    "text_chars",  # characters of text after whitespace normalisation
    "words",  # whitespace words (CJK characters count one each)
    "mean_word_len",
    "symbol_ratio",  # '#' and ellipses per word (Gopher)
    "bullet_frac",  # share of lines that start with a bullet
    "ellipsis_frac",  # share of lines that end with an ellipsis
    "stopwords",  # English stop words present (Gopher: at least 2)
    "dup_line_frac",  # share of characters in lines that repeat an earlier line
    "dup_para_frac",  # share of characters in paragraphs that repeat an earlier paragraph
    "top_2gram_frac",  # share of characters covered by the most frequent word 2-gram
    "dup_5gram_frac",  # share of characters covered by word 5-grams seen more than once
    "garbled_frac",  # share of characters that are replacement, control, glyph-id or mojibake debris
))
class TextFilter(Filter):
    """Scores the text of each sample and fails text-only samples that break a rule."""

    name = "text_filter"
    version = "2"
    reads = ("text", "lang")

    def __init__(self, config: TextFilterConfig = TextFilterConfig()):
        self.config = config

    def applies(self, row: dict[str, Any]) -> bool:
        return is_text_like(row) or bool((row.get("text") or "").strip())

    def score(self, row: dict[str, Any]) -> dict[str, float]:
        text = judged_text(row)
        if not is_text_like(row):
            return {"garbled_frac": garbled_frac(text)}
        return text_scores(text, cjk=is_cjk(text, row.get("lang")))

    def reason(self, row: dict[str, Any], scores: dict[str, float]) -> str | None:
        c = self.config
        if scores.get("garbled_frac", 0) > c.max_garbled_frac:
            return "garbled"
        if not is_text_like(row):
            return None
        words = scores["words"]
        checks = [
            ("too_short", scores["text_chars"] < c.min_chars or words < c.min_words),
            ("too_long", scores["text_chars"] > c.max_chars),
            ("mean_word_len", "mean_word_len" in scores
             and not c.min_mean_word_len <= scores["mean_word_len"] <= c.max_mean_word_len),
            ("symbols", scores["symbol_ratio"] > c.max_symbol_ratio),
            ("bullets", scores["bullet_frac"] > c.max_bullet_frac),
            ("ellipses", scores["ellipsis_frac"] > c.max_ellipsis_frac),
            ("no_stopwords", "stopwords" in scores and words >= c.stopwords_from_words
             and scores["stopwords"] < c.min_stopwords),
            ("repeated_paragraphs", scores["dup_para_frac"] > c.max_dup_para_frac),
            ("repeated_lines", scores["dup_line_frac"] > c.max_dup_line_frac),
            ("repeated_ngrams", words >= c.repetition_from_words
             and (scores["top_2gram_frac"] > c.max_top_2gram_frac or scores["dup_5gram_frac"] > c.max_dup_5gram_frac)),
        ]
        return next((why for why, failed in checks if failed), None)


def judged_text(row: dict[str, Any]) -> str:
    """The text a text rule reads: a document's without its `<image>` markers, any other sample's as is."""
    text = row.get("text") or ""
    return plain_text(text) if row.get("kind") == DOCUMENT_KIND else text


def is_text_like(row: dict[str, Any]) -> bool:
    """Whether every text rule applies: text samples, and documents left with no image (no marker: the
    markers always match the images, so the image bytes need not be read)."""
    return row.get("kind") == "text" or (row.get("kind") == DOCUMENT_KIND and marker_count(row.get("text")) == 0)


def is_cjk(text: str, lang: str | None = None) -> bool:
    """Whether to judge the text by characters: detected as zh/ja/ko, or mostly CJK characters."""
    if lang:
        return lang in CJK_LANGS
    letters = sum(ch.isalpha() for ch in text)
    return letters > 0 and len(CJK_LETTER_RE.findall(text)) / letters > 0.3


def text_scores(text: str, cjk: bool = False) -> dict[str, float]:
    """Every text score of one text; word scores are left out for CJK text."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    words = text.split()
    units = CJK_LETTER_RE.findall(text) + [w for w in words if not CJK_LETTER_RE.search(w)] if cjk else words
    n_words = len(units)
    scores = {
        "text_chars": float(len(" ".join(words))),
        "words": float(n_words),
        "symbol_ratio": (text.count("#") + text.count("...") + text.count("…")) / max(n_words, 1),
        "bullet_frac": sum(ln.startswith(BULLETS) for ln in lines) / max(len(lines), 1),
        "ellipsis_frac": sum(ln.endswith(("...", "…")) for ln in lines) / max(len(lines), 1),
        "dup_line_frac": _dup_frac(lines),
        "dup_para_frac": _dup_frac(paras),
        "garbled_frac": garbled_frac(text),
    }
    tokens = [w.lower().strip(".,;:!?\"'()[]") for w in units]
    scores["top_2gram_frac"] = _top_ngram_frac(tokens, 2)
    scores["dup_5gram_frac"] = _dup_ngram_frac(tokens, 5)
    if not cjk:
        scores["mean_word_len"] = sum(map(len, words)) / max(n_words, 1)
        scores["stopwords"] = float(len(STOP_WORDS.intersection(tokens)))
    return scores


def garbled_frac(text: str) -> float:
    """Share of characters that are debris of a broken extraction: U+FFFD, control or private-use
    characters, '(cid:N)' glyph ids and UTF-8-read-as-Latin-1 pairs."""
    if not text:
        return 0.0
    bad = sum(len(m) for m in _CID.findall(text)) + 2 * len(_MOJIBAKE.findall(text))
    for ch in text:
        if ch == "\ufffd" or (unicodedata.category(ch) in ("Cc", "Co", "Cs") and ch not in "\n\r\t\f"):
            bad += 1
    return min(1.0, bad / len(text))


def _dup_frac(items: list[str]) -> float:
    """Share of characters in items that repeat an earlier item."""
    seen: set[str] = set()
    dup = 0
    for item in items:
        if item in seen:
            dup += len(item)
        seen.add(item)
    return dup / max(sum(map(len, items)), 1)


def _top_ngram_frac(tokens: list[str], n: int) -> float:
    grams = Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    if not grams:
        return 0.0
    gram, count = grams.most_common(1)[0]
    return count * sum(map(len, gram)) / max(sum(map(len, tokens)), 1)


def _dup_ngram_frac(tokens: list[str], n: int) -> float:
    """Share of characters covered by n-grams that occur more than once (Gopher's duplicate n-grams)."""
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    counts = Counter(grams)
    covered = [False] * len(tokens)
    for i, g in enumerate(grams):
        if counts[g] > 1:
            for j in range(i, i + n):
                covered[j] = True
    return sum(len(t) for t, c in zip(tokens, covered, strict=True) if c) / max(sum(map(len, tokens)), 1)
