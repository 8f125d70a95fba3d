"""What a grounding turn may point at on a sample's image, found only where the answer cannot be wrong.

Sources of truth, by sample:
- a PDF page: the text layer's lines (`ocr` with `meta.ocr_source = "text_layer"`: exact text and
  boxes), figure and caption boxes (`meta.figures`);
- a scanned page (`meta.text_source = "ocr"`): its OCR lines above a confidence cut, since OCR is
  all the page has (the turns say so in `meta.grounding`); OCR lines of a page that has a text layer
  are never used;
- a screenshot, tile or rendered document page: the DOM's text blocks (`meta.boxes`) and the
  elements a user points at (`meta.targets`: buttons, links, headings, form fields, tables, images).

A text is a referent when it is a whole line or block of `min_chars` characters or more and at most
`max_chars` columns (a Chinese character takes two) with a letter in it, every place it occurs on
the image is one of its boxes (a text also found inside a longer line or across a line break is
skipped: its answer would miss that place), it holds no personal data (the PII filter scrubbed
`text` and `ocr` before this stage, but the image still shows the original), and its boxes are sound
(`boxes.clip`, at most `max_box_share` of the image). A line can be read back from its box ("what is
written in …") when no other line overlaps that box.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from filters.pii import PLACEHOLDER, PiiScrubber
from taxonomy.grounding.boxes import Box, area, clip, iou, pixel_box

MAX_BOXES = 8  # a text that occurs more often is a running header or a table's filler, not worth a turn
COVER_BLOCK = 256  # referents whose readability is checked in one array operation
READ_OVERLAP = 0.1  # another line covering this share of a line's box makes "what is written here" ambiguous
TILE_EDGE = 1.0  # pixels: a DOM box touching a tile's top or bottom edge was cut by the tile
_UNSEEN = {"Cc", "Cf", "Co", "Cn", "Cs", "Me"}  # controls, format marks, private use, unassigned, enclosing marks
_LETTER = re.compile(r"[^\W\d_]")
_SPACE = re.compile(r"\s+")
_PII = PiiScrubber()
_TABLE_LABEL = re.compile(r"^\s*(?:table|tab\.|表)", re.I)
ROLES = ("button", "link", "heading", "field", "table", "image")
_TEXT_ROLES = ("heading", "link", "button")
_HEADING_TAGS = {f"h{i}" for i in range(1, 7)}


@dataclass(frozen=True)
class Referent:
    """Something on the image a turn can point at: its task, its name and where every copy of it is.

    `task` is "text" (a line or block of text: `text` is it, verbatim), "element" (`role` and its visible
    label in `text`, possibly empty), "figure" (`role` "figure" or "table", its caption in `text`) or
    "caption" (`text` is the figure's label, "Figure 3"). `readable` marks a text whose one box holds
    nothing else, so the box can be asked about. `about` names what is pointed at, so a sample never gets
    two turns about one thing (a caption is also a line of text)."""

    task: str
    text: str
    boxes: tuple[Box, ...]
    role: str = ""
    readable: bool = False
    about: str = ""


@dataclass(frozen=True)
class Limits:
    """The rules a referent must pass (the stage's settings)."""

    min_chars: int = 4
    max_chars: int = 80
    max_box_share: float = 0.5
    min_ocr_score: float = 0.9


def clean_text(text: str | None) -> str:
    """NFC, whitespace runs as one space, trimmed: the form a referent is quoted in."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text or "")).strip()


def columns(text: str) -> int:
    """The width of `text` in columns: a wide character (Chinese, Japanese, Korean) takes two, as in a
    terminal, so `max_chars` allows half as many of them (a line, not a paragraph, in either script)."""
    if text.isascii():  # every ASCII character is one column; most lines of most corpora are ASCII
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def has_pii(text: str) -> bool:
    """Whether `text` holds a PII placeholder or something the PII filter would replace."""
    return any(p in text for p in PLACEHOLDER.values()) or _PII.scrub(text, Counter()) != text


def text_lines(row: dict[str, Any], meta: dict[str, Any], limits: Limits) -> tuple[list[tuple[str, Box]], str]:
    """The sample's lines of ground-truth text with their pixel boxes, and where they come from
    ("text_layer", "dom", "ocr", or "" when the sample has none)."""
    if meta.get("boxes") is not None:
        return [(b.get("text") or "", b["box"]) for b in meta["boxes"] if isinstance(b, dict) and "box" in b], "dom"
    ocr = row.get("ocr") or []
    if meta.get("text_source") == "ocr":
        return [(line["text"] or "", line["box"]) for line in ocr
                if (line.get("score") or 0.0) >= limits.min_ocr_score], "ocr"
    if meta.get("ocr_source") in ("text_layer", "dom"):  # exact lines: a PDF's text layer, a page's DOM
        return [(line["text"] or "", line["box"]) for line in ocr], meta["ocr_source"]
    return [], ""


def _sound_box(value: Any, width: int, height: int, limits: Limits, tile: bool = False) -> Box | None:
    box = pixel_box(value)
    if box is None:
        return None
    if tile and (box[1] <= TILE_EDGE or box[3] >= height - TILE_EDGE):
        return None  # the tile cut this block: part of its text is on the next tile
    box = clip(box, width, height)
    if box is None or area(box) > limits.max_box_share * width * height:
        return None
    return box


def _quotable(text: str, limits: Limits) -> bool:
    """Long enough to be unambiguous, short enough to quote, with a letter, no personal data, no special
    token, and no character a reader cannot see or type (controls, private-use glyphs of a broken font)."""
    return (limits.min_chars <= len(text) and columns(text) <= limits.max_chars and bool(_LETTER.search(text))
            and "<|" not in text
            and not _unseen(text) and "\ufffd" not in text
            and not has_pii(text))


def _unseen(text: str) -> bool:
    """Whether `text` has a character of the `_UNSEEN` categories. In ASCII those are the controls, exactly
    the characters `str.isprintable` refuses (space aside), so an ASCII line needs no per-character lookup."""
    if text.isascii():
        return not text.isprintable()
    return any(unicodedata.category(c) in _UNSEEN for c in text)


def _distinct(boxes: Iterable[Box]) -> tuple[Box, ...]:
    """Boxes with near-copies removed (a PDF draws fake bold as the same line twice)."""
    out: list[Box] = []
    for box in boxes:
        if all(iou(box, kept) < 0.5 for kept in out):
            out.append(box)
    return tuple(sorted(out, key=lambda b: (round(b[1]), b[0])))


def text_referents(lines: list[tuple[str, Any]], width: int, height: int, limits: Limits,
                   tile: bool = False) -> list[Referent]:
    """Whole lines (or DOM blocks) that can be quoted, each with all of its boxes; in reading order."""
    texts = [clean_text(text) for text, _ in lines]
    folded = [text.casefold() for text in texts]
    sound = [_sound_box(box, width, height, limits, tile) for _, box in lines]
    groups: dict[str, list[int]] = {}
    for i, (raw, _) in enumerate(lines):
        if texts[i] and "\n" not in (raw or "").strip():  # a block broken into lines is several texts
            groups.setdefault(folded[i], []).append(i)
    every_box = _box_array([pixel_box(box) for _, box in lines])
    joined = " ".join(folded)  # a text may run on from one line to the next
    found: list[tuple[str, str, tuple[Box, ...], list[int]]] = []
    for key, order in groups.items():
        text = texts[order[0]]
        boxes = [sound[i] for i in order]
        if not _quotable(text, limits) or any(b is None for b in boxes):
            continue  # one unusable copy makes the set of places incomplete
        if joined.count(key) != len(order):
            continue  # also inside a longer line or across a line break: that place has no box of its own
        kept = _distinct(b for b in boxes if b is not None)
        if len(kept) <= MAX_BOXES:
            found.append((key, text, kept, order))
    # A referent with one place is readable when no other line covers it: asked of every such referent at
    # once (its one box is its first line's), one array operation per page instead of one per line.
    # In blocks of COVER_BLOCK referents, so a page of thousands of lines never holds a square matrix of them.
    single = [k for k, (_, _, kept, _) in enumerate(found) if len(kept) == 1]
    readable = dict.fromkeys(range(len(found)), False)
    for start in range(0, len(single), COVER_BLOCK):
        block = single[start:start + COVER_BLOCK]
        covered = _covered(np.array([found[k][2][0] for k in block], dtype=float).reshape(-1, 4), every_box)
        for row, k in enumerate(block):
            covered[row, found[k][3]] = False  # its own copies do not count
            readable[k] = not covered[row].any()
    return [Referent("text", text, kept, readable=readable[k], about=key)
            for k, (key, text, kept, _) in enumerate(found)]


def _box_array(boxes: list[Box | None]) -> np.ndarray:
    """The lines' boxes as an n x 4 array, NaN where a line has none."""
    return np.array([b if b is not None else (np.nan,) * 4 for b in boxes], dtype=float).reshape(-1, 4)


def _covered(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """For each of `boxes` (m x 4) and each line of `others` (n x 4, NaN where a line has none): whether the
    line covers more than READ_OVERLAP of the smaller of the two (m x n)."""
    b, o = boxes[:, None, :], others[None, :, :]
    inter = (np.clip(np.minimum(o[..., 2], b[..., 2]) - np.maximum(o[..., 0], b[..., 0]), 0, None)
             * np.clip(np.minimum(o[..., 3], b[..., 3]) - np.maximum(o[..., 1], b[..., 1]), 0, None))
    sides = np.clip(others[:, 2:] - others[:, :2], 0, None)
    own = np.clip(boxes[:, 2:] - boxes[:, :2], 0, None)
    smaller = np.minimum(sides[:, 0] * sides[:, 1], (own[:, 0] * own[:, 1])[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(smaller > 0, inter / smaller, 0.0)
    return np.nan_to_num(share) > READ_OVERLAP


def element_referents(meta: dict[str, Any], width: int, height: int, limits: Limits,
                      tile: bool = False) -> list[Referent]:
    """Elements by role and visible label (`meta.targets` from the DOM; headings and form fields from
    `meta.boxes` when a sample predates targets). An element without a label is a referent only when it
    is the one element of its role on the image ("the table")."""
    targets = meta.get("targets")
    if targets is None:
        targets = [{"role": "heading" if b.get("tag") in _HEADING_TAGS else "field", "label": b.get("text"),
                    "box": b.get("box")} for b in meta.get("boxes") or []
                   if isinstance(b, dict) and (b.get("tag") in _HEADING_TAGS or b.get("tag") in ("input", "select"))]
    found: dict[tuple[str, str], tuple[str, list[Box | None]]] = {}
    per_role: Counter[str] = Counter()
    for t in targets:
        if not isinstance(t, dict) or t.get("role") not in ROLES:
            continue
        label = clean_text(t.get("label"))
        per_role[t["role"]] += 1
        found.setdefault((t["role"], label.casefold()), (label, []))[1].append(
            _sound_box(t.get("box"), width, height, limits, tile))
    out = []
    for (role, _), (label, boxes) in found.items():
        if any(b is None for b in boxes) or (label and not _quotable(label, limits)):
            continue
        if not label and per_role[role] != 1:
            continue
        kept = _distinct(b for b in boxes if b is not None)
        if len(kept) <= MAX_BOXES:
            # A heading, link or button is its label's text (one thing, one turn); a table, an image or a
            # field is named by a caption, alt text or label that is not the element itself.
            about = label.casefold() if role in _TEXT_ROLES and label else f"{role}:{label.casefold()}"
            out.append(Referent("element", label, kept, role=role, about=about))
    return out


def shortened(text: str, limit: int) -> str:
    """`text` cut to `limit` columns (see `columns`) at a word boundary (a character for Chinese), with "…"."""
    text = clean_text(text)
    if columns(text) <= limit:
        return text
    cut = text
    while cut and columns(cut) > limit - 1:
        cut = cut[:-1]
    if " " in cut and cut.rfind(" ") > len(cut) // 2:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:，；：") + "…"


def figure_referents(meta: dict[str, Any], width: int, height: int, limits: Limits) -> list[Referent]:
    """Each figure by its caption, and each caption by its figure's label ("Figure 3"), from `meta.figures`
    (boxes in pixels of the page image); a caption or label shared by two figures is skipped."""
    figures = [f for f in meta.get("figures") or [] if isinstance(f, dict)]
    captions = Counter(clean_text(f.get("caption")).casefold() for f in figures)
    labels = Counter(clean_text(f.get("label")).casefold() for f in figures)
    out = []
    for f in figures:
        caption, label = clean_text(f.get("caption")), clean_text(f.get("label"))
        role = "table" if _TABLE_LABEL.match(label or caption) else "figure"
        box = _sound_box(f.get("bbox"), width, height, limits)
        quoted = shortened(caption, limits.max_chars)
        if box is not None and caption and captions[caption.casefold()] == 1 and _quotable(quoted, limits):
            out.append(Referent("figure", quoted, (box,), role=role, about=f"figure:{caption.casefold()}"))
        cap_box = _sound_box(f.get("caption_bbox"), width, height, limits)
        if cap_box is not None and label and labels[label.casefold()] == 1 and not has_pii(label):
            out.append(Referent("caption", label, (cap_box,), role=role, about=caption.casefold()))
    return out
