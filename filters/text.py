"""Text filter: length bounds, Gopher-style rules, repetition and garbled-text checks.

Rules follow the Gopher paper (Rae et al. 2021, appendix A) as DataTrove and Data-Juicer implement
them. The repetition rules are Gopher's as defined (Table A1; DataTrove's GopherRepetitionFilter):
the share of the text's characters in word n-grams that repeat an earlier one (the first occurrence
is not counted: a phrase said twice is one repeat, not two), for n = 5..10 with limits 0.15 down to
0.10, and the share in the most frequent word n-gram (when it occurs more than once) for n = 2..4,
with limits 0.20, 0.18, 0.16; both over the characters of the whole text. Counting the first
occurrence too, and checking 5-grams only, dropped 13.6% of clean documentation prose. The n-gram
scores of a batch are computed at once on integer token ids (numpy), not per document in Python.
Word rules only make sense where words are separated by spaces, so text detected as Chinese,
Japanese or Korean is judged by its characters, lines and paragraphs. Text-only samples get every
rule; image samples (a page and its text layer) only the garbled-text rule, because a table or a
chart legitimately breaks the prose rules while a mis-encoded text layer makes the pair useless.
Interleaved documents are judged on their text without `<image>` markers: one left with no image is
a text document and gets every rule; one with images, whose paragraphs the document filter has
already judged node by node, only the garbled-text rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

from filters.base import Filter
from filters.textkit import CJK_LETTER_RE
from pipelines.documents import marker_count, plain_text
from pipelines.registry import register_stage
from pipelines.schema import DOCUMENT_KIND

STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})  # Gopher's list
BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "–", "-", "*", "·", "‣", "⁃", "◦")
CJK_LANGS = frozenset({"zh", "ja", "ko"})
_CID = re.compile(r"\(cid:\d+\)")
# Unicode categories Cc (control, except whitespace), Co (private use) and Cs (surrogates), and U+FFFD.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff\ue000-\uf8ff\ufffd"
                        "\U000f0000-\U000ffffd\U00100000-\U0010fffd]")
_PARA_SPLIT = re.compile(r"\n\s*\n")
_STRIP = ".,;:!?\"'()[]"
TOP_NGRAMS = (2, 3, 4)  # Gopher's top n-gram character fraction
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)  # Gopher's duplicate n-gram character fraction
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
    # The n-gram rules start at 100 words: on a shorter text one phrase said three times is over the
    # limits (a paragraph about "the completion display function"); on Python's documentation they dropped
    # 7.4% of the 60-80-word passages, 3.7% of 80-100, 2.1% of 100-150 and 1.0% of 150-250.
    repetition_from_words: int = 100
    max_top_ngram_frac: tuple[float, ...] = (0.20, 0.18, 0.16)  # n = 2, 3, 4 (Gopher)
    max_dup_ngram_frac: tuple[float, ...] = (0.15, 0.14, 0.13, 0.12, 0.11, 0.10)  # n = 5..10 (Gopher)
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
    # share of characters in the most frequent word n-gram (when repeated), n = 2..4 (Gopher)
    *(f"top_{n}gram_frac" for n in TOP_NGRAMS),
    # share of characters in word n-grams that repeat an earlier one (first occurrence not counted), n = 5..10
    *(f"dup_{n}gram_frac" for n in DUP_NGRAMS),
    "garbled_frac",  # share of characters that are replacement, control, glyph-id or mojibake debris
))
class TextFilter(Filter):
    """Scores the text of each sample and fails text-only samples that break a rule."""

    name = "text_filter"
    version = "3"  # 3: Gopher's n-gram repetition as defined (n = 2..4 and 5..10, first occurrence excluded)
    reads = ("text", "lang")

    def __init__(self, config: TextFilterConfig = TextFilterConfig()):
        self.config = config

    def applies(self, row: dict[str, Any]) -> bool:
        return is_text_like(row) or bool((row.get("text") or "").strip())

    def score_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, float]]:
        texts = [judged_text(r) for r in rows]
        like = [is_text_like(r) for r in rows]
        todo = [(t, r) for t, r, k in zip(texts, rows, like, strict=True) if k]
        full = iter(text_scores_batch([t for t, _ in todo], [is_cjk(t, r.get("lang")) for t, r in todo]))
        return [next(full) if k else {"garbled_frac": garbled_frac(t)} for t, k in zip(texts, like, strict=True)]

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
             and (any(scores[f"top_{n}gram_frac"] > lim for n, lim in zip(TOP_NGRAMS, c.max_top_ngram_frac,
                                                                             strict=True))
                  or any(scores[f"dup_{n}gram_frac"] > lim for n, lim in zip(DUP_NGRAMS, c.max_dup_ngram_frac,
                                                                                strict=True)))),
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
    return text_scores_batch([text], [cjk])[0]


def text_scores_batch(texts: list[str], cjk: list[bool]) -> list[dict[str, float]]:
    """Every text score of each text (word scores left out for CJK text); n-gram scores for all at once."""
    out, token_lists = [], []
    for text, is_zh in zip(texts, cjk, strict=True):
        lines = [ln.strip() for ln in text.splitlines()]
        lines = [ln for ln in lines if ln]
        paras = [p.strip() for p in _PARA_SPLIT.split(text)]
        words = text.split()
        units = CJK_LETTER_RE.findall(text) + [w for w in words if not CJK_LETTER_RE.search(w)] if is_zh else words
        n_words = len(units)
        n_lines = max(len(lines), 1)
        scores = {
            "text_chars": float(len(" ".join(words))),
            "words": float(n_words),
            "symbol_ratio": (text.count("#") + text.count("...") + text.count("…")) / max(n_words, 1),
            "bullet_frac": sum(1 for ln in lines if ln.startswith(BULLETS)) / n_lines,
            "ellipsis_frac": sum(1 for ln in lines if ln.endswith(("...", "…"))) / n_lines,
            "dup_line_frac": _dup_frac(lines),
            "dup_para_frac": _dup_frac([p for p in paras if p]),
            "garbled_frac": garbled_frac(text),
        }
        tokens = text.lower().split() if not is_zh else [u.lower() for u in units]
        tokens = list(map(str.strip, tokens, repeat(_STRIP, len(tokens))))
        if not is_zh:
            scores["mean_word_len"] = sum(map(len, words)) / max(n_words, 1)
            scores["stopwords"] = float(len(STOP_WORDS.intersection(tokens)))
        out.append(scores)
        token_lists.append(tokens)
    top, dup = ngram_repetition(token_lists, [len(t) for t in texts])
    for scores, t, d in zip(out, top.tolist(), dup.tolist(), strict=True):
        scores.update({f"top_{n}gram_frac": v for n, v in zip(TOP_NGRAMS, t, strict=True)})
        scores.update({f"dup_{n}gram_frac": v for n, v in zip(DUP_NGRAMS, d, strict=True)})
    return out


def ngram_repetition(token_lists: list[list[str]], text_chars: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Gopher's n-gram repetition scores of many token lists at once: (top, dup), one row per list.

    top[:, n-2]: characters of the most frequent n-gram (its words and the spaces between them) times
    its count, when it occurs more than once, over the text's characters, n in TOP_NGRAMS. dup[:, n-5]:
    characters of the words covered by n-grams that repeat an earlier n-gram of the same text (overlaps
    counted once, the first occurrence not counted), over the text's characters, n in DUP_NGRAMS.
    Tokens become 64-bit hashes, each n-gram a polynomial hash of them salted by its text, and one
    `np.unique` per n finds the repeats of every text of the batch. An n-gram can only repeat where its
    (n-1)-gram prefix does, so each n sorts only the positions whose (n-1)-gram occurs twice or more.
    """
    n_docs = len(token_lists)
    top = np.zeros((n_docs, len(TOP_NGRAMS)))
    dup = np.zeros((n_docs, len(DUP_NGRAMS)))
    counts = np.fromiter(map(len, token_lists), np.int64, n_docs)
    total = int(counts.sum())
    if total == 0:
        return top, dup
    flat = [t for toks in token_lists for t in toks]
    ids = np.fromiter(map(hash, flat), np.int64, total).view(np.uint64)  # str hashes: stable within a process
    lens = np.fromiter(map(len, flat), np.int64, total)
    cum = np.concatenate([[0], np.cumsum(lens)])
    doc = np.repeat(np.arange(n_docs), counts)
    left = np.repeat(np.cumsum(counts), counts) - np.arange(total)  # tokens from each one to its text's end
    denom = np.maximum(np.asarray(text_chars, np.float64), 1.0)
    h = ids ^ (doc.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))  # salted by text: no match across texts
    cand = np.arange(total)
    with np.errstate(over="ignore"):
        for n in range(2, max(DUP_NGRAMS) + 1):
            nxt = np.zeros(total, np.uint64)
            nxt[:total - n + 1] = ids[n - 1:]
            h = h * np.uint64(0x100000001B3) + nxt
            cand = cand[left[cand] >= n]
            if len(cand) == 0:
                break
            _, first, inv, cnt = np.unique(h[cand], return_index=True, return_inverse=True, return_counts=True)
            inv = inv.ravel()
            count = cnt[inv]
            repeated = count > 1
            if n in TOP_NGRAMS:
                at = cand[repeated]
                best = np.zeros(n_docs)
                np.maximum.at(best, doc[at], count[repeated] * (cum[at + n] - cum[at] + n - 1))
                top[:, TOP_NGRAMS.index(n)] = best / denom
            if n in DUP_NGRAMS:
                starts = cand[first[inv] != np.arange(len(cand))]
                edge = np.bincount(starts, minlength=total + 1) - np.bincount(starts + n, minlength=total + 1)
                covered = np.cumsum(edge[:-1]) > 0
                chars = np.bincount(doc[covered], weights=lens[covered], minlength=n_docs)
                dup[:, DUP_NGRAMS.index(n)] = chars / denom
            cand = cand[repeated]
    return np.minimum(top, 1.0), np.minimum(dup, 1.0)


def garbled_frac(text: str) -> float:
    """Share of characters that are debris of a broken extraction: U+FFFD, control or private-use
    characters, '(cid:N)' glyph ids and UTF-8-read-as-Latin-1 pairs."""
    if not text:
        return 0.0
    bad = sum(len(m) for m in _CID.findall(text)) + 2 * len(_MOJIBAKE.findall(text)) + len(_BAD_CHARS.findall(text))
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
