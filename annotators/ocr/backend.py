"""The OCR backend interface, the backends' registry, and reading order.

A backend loads its model once (`load()`, called in each worker's setup) and reads one RGB image at
a time into lines of text with a confidence and a box. Backends that cannot run say exactly why
(`BackendUnavailable`): a missing package, missing model files, a missing language pack. None of
them ever downloads anything.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import median
from typing import Any

import numpy as np

from pipelines.stage import ConfigError, StageUnavailable

POLICIES = ("auto", "all", "none")


@dataclass(frozen=True)
class OcrConfig:
    """[ocr]: where OCR runs and what reads the text.

    `policy`: auto (default) takes a born-digital page's lines from its text layer and OCRs only what
    needs it: scans, pages whose layer is garbled (`layer_max_garbled`) or covers less than
    `layer_min_text_ink` of the ink the page shows, images without text lines (raster figures, web
    figures, dataset images), and every page of a document whose audit fails; all OCRs every image;
    none never OCRs. Audits: `audit_share` of each document's text-layer pages (at least one) are also
    read by `audit_backend` and scored, feeding `quality.ocr_cer`; a document reading back worse than
    `audit_max_cer` is OCRed in full.
    `backend`: rapidocr (default; models ship in its wheel), tesseract, paddleocr, or none; `model_dir`:
    PaddleOCR's local model folder; `languages`: Tesseract's language packs; `min_score`: lines read
    with lower confidence are dropped (Tesseract's, a mean over words, only when shorter than 4 letters or
    digits: see tesseract.py). How OCR is scheduled (threads per worker = `num_cpus`, actors =
    `concurrency`, pages per task = `batch_size`) is set in [resources.ocr] like any stage's."""

    backend: str = "rapidocr"
    policy: str = "auto"
    model_dir: str = ""
    languages: str = "eng+chi_sim"
    min_score: float = 0.5
    audit_share: float = 0.01
    audit_backend: str = "tesseract"
    audit_max_cer: float = 0.5
    layer_min_text_ink: float = 0.35
    layer_max_garbled: float = 0.05

    def validate(self) -> None:
        from pipelines.registry import ocr_backend_names

        names = (*ocr_backend_names(), "none")
        if self.backend not in names:
            raise ConfigError(f"backend must be one of {', '.join(names)}, got {self.backend!r}", "backend")
        if self.policy not in POLICIES:
            raise ConfigError(f"policy must be one of {', '.join(POLICIES)}, got {self.policy!r}", "policy")
        if self.audit_backend not in ("", *ocr_backend_names()):
            raise ConfigError(f"audit_backend must be one of {', '.join(ocr_backend_names())} or empty (the "
                              f"OCR backend), got {self.audit_backend!r}", "audit_backend")
        for key in ("min_score", "audit_share", "layer_min_text_ink", "layer_max_garbled"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(f"{key} must be between 0 and 1, got {getattr(self, key)}", key)

    @property
    def runs(self) -> bool:
        """Whether any OCR happens at all."""
        return self.backend != "none" and self.policy != "none"

    @property
    def audits(self) -> bool:
        """Whether text layers are audited (auto policy with a share above 0)."""
        return self.runs and self.policy == "auto" and self.audit_share > 0


@dataclass(frozen=True)
class OcrLine:
    """One line of text; `box` is the quadrilateral x0,y0,...,x3,y3 in pixels, clockwise from top-left."""

    text: str
    score: float
    box: tuple[float, ...]

    def as_row(self) -> dict[str, Any]:
        return {"text": self.text, "score": self.score, "box": list(self.box)}


class BackendUnavailable(StageUnavailable):
    """This backend cannot run here; the message says what is missing and how to get it."""


class OcrBackend(ABC):
    """A text reader. `gpu`: the worker holds a GPU ([resources.ocr] num_gpus > 0) and the backend must
    run on it; a backend without a GPU build (`gpu_build` empty), or whose installed build has no GPU
    support, refuses in `load()` instead of quietly reading on the CPU while the GPU sits reserved."""

    name: str
    gpu_build: str = ""  # what to install for the GPU build; empty: the backend runs on CPUs only

    def __init__(self, config: OcrConfig, threads: int = 1, gpu: bool = False):
        self.config = config
        self.threads = threads  # CPU threads of one worker: [resources.ocr] num_cpus
        self.gpu = gpu
        if gpu and not self.gpu_build:
            raise BackendUnavailable(f"the {self.name} OCR backend has no GPU build; set [resources.ocr] "
                                     f"num_gpus = 0 or choose a backend that has one (rapidocr, paddleocr)")

    @abstractmethod
    def load(self) -> None:
        """Load models; raise BackendUnavailable with a clear reason if they are not here."""

    @abstractmethod
    def read(self, image: np.ndarray, upright: bool = True) -> list[OcrLine]:
        """Lines of an H x W x 3 uint8 RGB image, in any order.

        `upright`: the caller knows the text stands upright (a rendered PDF page, a crop of one, a
        screenshot), so a backend must not run a text-direction classifier: on rendered pages it turns
        good lines upside down (RapidOCR read an upright URL as "(Cc=-: ct" and then dropped it). False
        for scans and camera images, whose lines may be rotated."""

    def read_line(self, image: np.ndarray) -> str:
        """The text of an image holding one upright line (a crop around a text-layer line, for audits)."""
        return " ".join(line.text for line in reading_order(self.read(image, upright=True)))

    def version(self) -> str:
        return self.name


def make_backend(config: OcrConfig, threads: int = 1, gpu: bool = False) -> OcrBackend:
    """The registered backend named by `config.backend` (not loaded yet), on the GPU when `gpu`."""
    from pipelines import registry

    entry = registry.entry("ocr", config.backend)
    if entry is None:
        raise ValueError(f"unknown OCR backend {config.backend!r} "
                         f"(choose from {', '.join(registry.ocr_backend_names())}, none)")
    return entry.cls(config, threads, gpu)


def rect_box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, ...]:
    return (x0, y0, x1, y0, x1, y1, x0, y1)


def reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """Order lines as a person reads them, with a recursive XY-cut.

    A band with a vertical gutter at least a line tall is read column by column; otherwise the
    band above the first horizontal gap (taller than most of a line) is read, then the rest. A
    two-column page under a full-width title reads title, left column, right column. A leaf is read
    row by row, left to right.

    Not every gutter makes a column. A group of lines only a few characters wide, or all number-like
    but perhaps one (right-aligned page numbers under a "CONTENTS" head, line numbers), or a single
    row beside several (a running head's middle part) joins the column on its left, so "Intro .... 1"
    reads as one row. A table whose real columns are separated by wide gutters is still read column
    by column. A column of numbers ends its column even when the gutter after it is narrower than a line
    (a two-column index, its page numbers right-aligned: "tube .... 136, 154 | W"), so the numbers join
    their entries rather than the column to their right.
    """
    if len(lines) <= 1:
        return list(lines)
    bounds = [_bounds(line.box) for line in lines]
    height = float(median([b[3] - b[1] for b in bounds])) or 1.0  # statistics': numpy's is 20x slower on few
    several_rows = not _one_row(range(len(lines)), bounds, height)
    columns = _merge_slivers(_column_groups(bounds, lines, height), lines, bounds,
                             _char_width(lines, bounds, height), height if several_rows else 0.0)
    if len(columns) > 1:
        return [line for c in columns for line in reading_order([lines[i] for i in c])]
    rows = _split(bounds, 1, 0.8 * height)
    if len(rows) > 1:
        rest = [i for r in rows[1:] for i in r]
        return reading_order([lines[i] for i in rows[0]]) + reading_order([lines[i] for i in rest])
    return [lines[i] for i in _rows_then_x(bounds)]


MIN_COLUMN_CHARS = 4  # a column narrower than this many characters is a sliver (page numbers), not a column
_NUMBER_LIKE = re.compile(r"[\d\W_]+|[ivxlcdm]+|[IVXLCDM]+")  # 12, (3), 4.2.1, .11, xiv, IV
Bounds = list[tuple[float, float, float, float]]


NUMBER_GUTTER = 0.5  # after a column of numbers, a gutter this many line heights wide (not one) splits


def _column_groups(bounds: Bounds, lines: list[OcrLine], height: float) -> list[list[int]]:
    """Groups of lines (left to right) between vertical gutters at least a line tall, or at least
    `NUMBER_GUTTER` of one after a group of number-like lines."""
    out: list[list[int]] = []
    for group in _split(bounds, 0, NUMBER_GUTTER * height):
        if out:
            prev = out[-1]
            gap = min(bounds[i][0] for i in group) - max(bounds[i][2] for i in prev)
            if gap < height and not _numbers(prev, lines):
                out[-1] = prev + group
                continue
        out.append(group)
    return out


def _numbers(group: list[int], lines: list[OcrLine]) -> bool:
    """Whether a group's lines are number-like, all but perhaps one (page numbers, line numbers)."""
    numbers = sum(bool(_NUMBER_LIKE.fullmatch(lines[i].text.strip())) for i in group)
    return numbers >= max(1, len(group) - 1)


def _char_width(lines: list[OcrLine], bounds: Bounds, height: float) -> float:
    """Median width of one character: each line's box width over its length, at most a line height (a
    glyph is rarely wider than it is tall; the cap keeps a short label in a wide box from inflating it)."""
    widths = [min((b[2] - b[0]) / len(line.text), height)
              for line, b in zip(lines, bounds, strict=True) if line.text.strip()]
    return float(median(widths)) if widths else 0.5 * height


def _one_row(group: Iterable[int], bounds: Bounds, height: float) -> bool:
    """Whether lines form a single row of text (a band no taller than one and a half lines)."""
    group = list(group)
    return max(bounds[i][3] for i in group) - min(bounds[i][1] for i in group) < 1.5 * height


def _is_sliver(group: list[int], lines: list[OcrLine], bounds: Bounds, char_width: float, row_height: float) -> bool:
    """A group of lines that is not a column of its own: a few characters wide, number-like lines but at
    most one, or (`row_height` > 0: the band has several rows) a single row."""
    width = max(bounds[i][2] for i in group) - min(bounds[i][0] for i in group)
    return (width < MIN_COLUMN_CHARS * char_width or _numbers(group, lines)
            or (row_height > 0 and _one_row(group, bounds, row_height)))


def _merge_slivers(columns: list[list[int]], lines: list[OcrLine], bounds: Bounds, char_width: float,
                   row_height: float) -> list[list[int]]:
    """Columns (left to right) with each sliver joined to the column on its left (the first one's to its right)."""
    merged: list[list[int]] = []
    pending: list[int] = []  # slivers left of the first real column
    for group in columns:
        if _is_sliver(group, lines, bounds, char_width, row_height):
            if merged:
                merged[-1] = merged[-1] + group
            else:
                pending += group
        else:
            merged.append(pending + group)
            pending = []
    if pending:  # every group was a sliver: one column, read by rows
        merged.append(pending)
    return merged


def _bounds(box: tuple[float, ...]) -> tuple[float, float, float, float]:
    xs, ys = box[0::2], box[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def _split(bounds: list[tuple[float, float, float, float]], axis: int, min_gap: float) -> list[list[int]]:
    """Indices grouped where the projection on `axis` (0 = x, 1 = y) has a gap of at least `min_gap`."""
    lo, hi = axis, axis + 2
    order = sorted(range(len(bounds)), key=lambda i: bounds[i][lo])
    groups, reach = [[order[0]]], bounds[order[0]][hi]
    for i in order[1:]:
        if bounds[i][lo] - reach >= min_gap:
            groups.append([i])
        else:
            groups[-1].append(i)
        reach = max(reach, bounds[i][hi])
    return groups


def _rows_then_x(bounds: list[tuple[float, float, float, float]]) -> list[int]:
    """Lines whose vertical centres fall within one another's extent form a row; rows top-down, x within."""
    order = sorted(range(len(bounds)), key=lambda i: (bounds[i][1] + bounds[i][3]) / 2)
    rows: list[list[int]] = []
    for i in order:
        centre = (bounds[i][1] + bounds[i][3]) / 2
        if rows and bounds[rows[-1][0]][1] <= centre <= bounds[rows[-1][0]][3]:
            rows[-1].append(i)
        else:
            rows.append([i])
    return [i for row in rows for i in sorted(row, key=lambda j: bounds[j][0])]
