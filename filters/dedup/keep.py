"""Which copy of a duplicate group stays (`dedup.keep`).

"longest" (the largest image, then the longest text) was the only rule, and it keeps the worst copy
of a text: a passage with the site's navigation and footer lines added is longer than the clean
original, and on Python's documentation with planted copies it kept the boilerplate copy in every
such pair. "quality" (the default) compares what each signature carries: the quality model's
probability (`quality_prob`, when the quality filter ran) in steps of `QUALITY_STEP`, so the model's
noise does not decide between two clean copies; then `clean_frac`, the share of characters outside
boilerplate lines (site chrome: navigation, licence and cookie lines) and garbled characters; then
the larger image, the longer text (a truncated copy loses to the whole), then the smallest id, not
the first in the run: units finish in a different order from run to run on several workers, and
every run on the same input must keep the same copy. "first" keeps the first copy in the run's
order (the order of the committed signatures: the input's order on one worker)."""

from __future__ import annotations

import numpy as np

from filters.text import garbled_frac

QUALITY_STEP = 0.1
MAX_CHROME_CHARS = 160  # longer lines (paragraphs of prose) are never counted as boilerplate
# Site chrome: lines a page template repeats around the content (navigation, licence, cookie notices).
# Plain words and phrases, matched from a word start on the lower-cased line: `in` on a string is ~50x
# faster than one regex alternation of them all, which was most of a signature's time.
_CHROME_WORDS = frozenset({"copyright", "privacy", "cookie", "cookies", "subscribe", "donate", "navigation"})
_CHROME_PHRASES = (" all rights reserved", " licensed under", " licenced under", " terms of use", " terms of service",
                   " skip to content", " skip to main content", " sign in", " sign up", " log in", " share on",
                   " share this", " found a bug", " report a bug", " show source", " created using",
                   " last updated on", " last modified on", " table of contents", " quick search")
_NAV_START = ("home", "index", "modules", "next", "previous", "menu", "search", "theme", "contents")
_SENTENCE_END = (".", "!", "?", ":", ";", ")", '"', "”", "。", "！", "？")


def is_boilerplate_line(line: str) -> bool:
    """A line of site chrome: a known template phrase, a short line cut by separators (`a | b`, `a » b`),
    or one of at most three words with no sentence end (a menu entry; a heading counts too, but every
    copy of a passage shares its headings, so the comparison between copies is unchanged)."""
    line = line.strip()
    if not line or len(line) > MAX_CHROME_CHARS:
        return False
    low = line.lower()
    words = low.split()
    n = len(words)
    if (n <= 4 and words[0].strip("|»›>") in _NAV_START) or "©" in low \
            or _CHROME_WORDS.intersection(w.strip(".,;:!?()") for w in words) \
            or any(p in " " + low for p in _CHROME_PHRASES):
        return True
    return not line.endswith(_SENTENCE_END) and (n <= 3 or n <= 12 and any(s in line for s in ("|", "»", "›")))


def boilerplate_frac(text: str) -> float:
    """Share of the text's characters in boilerplate lines."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    total = sum(map(len, lines))
    return sum(len(ln) for ln in lines if is_boilerplate_line(ln)) / total if total else 0.0


def clean_frac(text: str) -> float:
    """Share of the text that is neither boilerplate lines nor garbled characters."""
    return (1.0 - boilerplate_frac(text)) * (1.0 - garbled_frac(text))


def keeper(members: list[int], rule: str, ids: list[str], area: np.ndarray, text_len: np.ndarray,
           quality: np.ndarray, clean: np.ndarray) -> int:
    """The row to keep among a group's `members` (row numbers, which are the run's order)."""
    if rule == "first":
        return min(members)
    if rule == "longest":
        return min(members, key=lambda r: (-int(area[r]), -int(text_len[r]), ids[r]))
    return min(members, key=lambda r: (-round(float(quality[r]) / QUALITY_STEP), -round(float(clean[r]), 3),
                                       -int(area[r]), -int(text_len[r]), ids[r]))
