"""Corrupt a good paragraph the ways text extraction goes wrong, to make the quality classifier's "bad" examples.

Each corruption imitates a failure seen in crawled or PDF-extracted text: mojibake from a wrong codec, U+FFFD from
undecodable bytes, `(cid:N)` glyph ids from fonts without a ToUnicode map, lost or doubled spaces from bad layout
analysis, symbol noise from OCR of dirty scans, shuffled words from broken reading order, and a hyphen at every line
end from a narrow column. All take an explicit `random.Random`, so the data set is reproducible.
"""

from __future__ import annotations

import codecs
import random
import re
from collections.abc import Callable

REPLACEMENT = "\ufffd"
_NOISE = "~^|\\{}<>¦§¤•□■▪◆►¬°±¿¡«»†‡¶"


def _latin1_fallback(err: UnicodeDecodeError) -> tuple[str, int]:
    # cp1252 leaves five bytes undefined; real mojibake shows them as the matching C1 control characters.
    return "".join(chr(b) for b in err.object[err.start:err.end]), err.end


codecs.register_error("vlforge_latin1_fallback", _latin1_fallback)


def _span(text: str, rng: random.Random, fn: Callable[[str], str]) -> str:
    """Apply fn to the whole text, or (a fifth of the time) to a tail covering at least two thirds of it."""
    if rng.random() < 0.8 or len(text) < 80:
        return fn(text)
    cut = text.rfind(" ", 0, rng.randint(len(text) // 8, len(text) // 3)) + 1
    return text[:cut] + fn(text[cut:])


def _smarten(text: str, rng: random.Random) -> str:
    """Typographic quotes, dashes and no-break spaces: the characters whose mojibake shows up in English pages."""
    text = text.replace("'", "\u2019").replace(" - ", " \u2013 ").replace("--", "\u2014")
    quotes = iter(["\u201c", "\u201d"] * (text.count('"') // 2 + 1))
    text = re.sub('"', lambda _: next(quotes), text)
    nbsp = rng.choice([0.0, 0.0, 0.1, 0.2])  # no-break spaces turn into "Â " in some pages, not in all
    return "".join("\u00a0" if c == " " and rng.random() < nbsp else c for c in text)


def mojibake(text: str, lang: str, rng: random.Random) -> str | None:
    """UTF-8 bytes read as cp1252/latin-1 (or, for Chinese, as GBK): "itâ€™s", "ä»Šå¤©", "浠婂ぉ"."""
    source = text if lang == "zh" else _smarten(text, rng)
    codec = rng.choice(["cp1252", "latin-1", "gbk"] if lang == "zh" else ["cp1252", "cp1252", "latin-1"])
    out = source.encode("utf-8").decode(codec, errors="vlforge_latin1_fallback" if codec != "gbk" else "replace")
    # Plain ASCII survives mojibake untouched: demand a damaged character every dozen words or so.
    damaged = sum(ord(c) > 127 for c in source)
    return out if damaged >= max(3, len(source.split()) // 12) else None


def replacement_chars(text: str, lang: str, rng: random.Random) -> str:
    """Undecodable bytes shown as U+FFFD; in PDFs ligatures (fi, fl, ff) are the usual victims: "e�cient"."""
    rate = rng.uniform(0.15, 0.4) if lang == "zh" else rng.uniform(0.04, 0.12)

    def fn(part: str) -> str:
        if lang != "zh":
            part = re.sub("ffi|ff|fi|fl", REPLACEMENT, part)
            # In English text the multi-byte characters (quotes, accents) are the ones that fail to decode.
            return "".join(REPLACEMENT if not c.isspace() and (ord(c) > 127 or rng.random() < rate) else c
                           for c in part)
        return "".join(REPLACEMENT * rng.randint(1, 3) if rng.random() < rate else c for c in part)

    return _span(text, rng, fn)


def cid_glyphs(text: str, lang: str, rng: random.Random) -> str:
    """Characters replaced by `(cid:N)` glyph ids, consistently per character as a real font's encoding would."""
    offset = rng.randint(-40, 60)
    table: dict[str, int] = {}

    def glyph(c: str) -> str:
        if c.isspace():
            return c
        if c not in table:
            table[c] = (ord(c) + offset) % 400 + 1 if ord(c) < 128 else rng.randint(400, 9000)
        return f"(cid:{table[c]})"

    return _span(text, rng, lambda part: "".join(glyph(c) for c in part))


def no_spaces(text: str, lang: str, rng: random.Random) -> str:
    """Word spacing lost in layout analysis: "Thefunctionreturnsthevalue"."""
    keep = rng.uniform(0.0, 0.15)
    return _span(text, rng, lambda part: "".join(c for c in part if c != " " or rng.random() < keep))


def spaced_letters(text: str, lang: str, rng: random.Random) -> str:
    """Letter-spaced extraction: a space between every character, "T h e  f u n c t i o n"."""
    return _span(text, rng, lambda part: "  ".join(" ".join(word) for word in part.split(" ")))


def symbol_noise(text: str, lang: str, rng: random.Random) -> str:
    """OCR of a dirty scan: stray symbols inserted and characters replaced by them."""
    rate = rng.uniform(0.12, 0.3)

    def fn(part: str) -> str:
        out = []
        for c in part:
            r = rng.random()
            if r < rate / 2:
                out.append(rng.choice(_NOISE))
            elif r < rate:
                out.append(c + rng.choice(_NOISE))
            else:
                out.append(c)
        return "".join(out)

    return _span(text, rng, fn)


def shuffled(text: str, lang: str, rng: random.Random) -> str:
    """Broken reading order: the words (for Chinese, short character runs) of the paragraph in random order."""
    if lang == "zh":
        pieces, i = [], 0
        while i < len(text):
            step = rng.randint(1, 3)
            pieces.append(text[i:i + step])
            i += step
        rng.shuffle(pieces)
        return "".join(pieces)
    words = text.split()
    rng.shuffle(words)
    return " ".join(words)


def hyphenated_lines(text: str, lang: str, rng: random.Random) -> str:
    """A narrow column extracted line by line, every line broken mid-word with a hyphen: "infor-\\nmation"."""
    width = rng.randint(20, 40)
    lines, line = [], ""
    for word in text.split():
        while line and len(line) + 1 + len(word) > width:
            room = width - len(line) - 2  # a space before the piece and the hyphen after it
            if room >= 1 and len(word) - room >= 2:
                line, word = f"{line} {word[:room]}-", word[room:]
            lines.append(line)
            line = ""
        line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n".join(lines)


KINDS_EN: dict[str, Callable[[str, str, random.Random], str | None]] = {
    "mojibake": mojibake,
    "fffd": replacement_chars,
    "cid": cid_glyphs,
    "nospace": no_spaces,
    "spaced": spaced_letters,
    "symbols": symbol_noise,
    "shuffled": shuffled,
    "hyphenated": hyphenated_lines,
}
# Spacing and hyphenation mean nothing for Chinese, and its mojibake comes in two codecs, so it counts twice.
KINDS_ZH: dict[str, Callable[[str, str, random.Random], str | None]] = {
    "mojibake": mojibake,
    "mojibake2": mojibake,
    "fffd": replacement_chars,
    "cid": cid_glyphs,
    "symbols": symbol_noise,
    "shuffled": shuffled,
}


# Hyphenation leaves most of a paragraph intact, so the model needs more examples of it to learn the pattern. Shuffled
# words share every word and character n-gram with their source, which a bag of n-grams can hardly tell apart (it
# catches almost none): they stay in the data, as the bad text they are, but fewer, so they blur the rest less.
WEIGHTS = {"hyphenated": 2.0, "shuffled": 0.5}


def corrupt(text: str, lang: str, rng: random.Random) -> tuple[str, str]:
    """(kind, corrupted text) for a random corruption that actually changes the text noticeably."""
    kinds = KINDS_ZH if lang == "zh" else KINDS_EN
    names = sorted(kinds)
    weights = [WEIGHTS.get(n, 1.0) for n in names]
    while True:
        name = rng.choices(names, weights)[0]
        out = kinds[name](text, lang, rng)
        if out is not None and out != text:
            return name.rstrip("2"), out
