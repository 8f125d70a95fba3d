"""The OCR backend interface, the backends' registry, and reading order.

A backend loads its model once (`load()`, called in each worker's setup) and reads one RGB image at
a time into lines of text with a confidence and a box. Backends that cannot run say exactly why
(`BackendUnavailable`): a missing package, missing model files, a missing language pack. None of
them ever downloads anything.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.stage import ConfigError, StageUnavailable


@dataclass(frozen=True)
class OcrConfig:
    """[ocr]: what reads the text. `backend`: rapidocr (default; models ship in its wheel), tesseract,
    paddleocr, or none; `model_dir`: PaddleOCR's local model folder; `languages`: Tesseract's language
    packs; `min_score`: lines read with lower confidence are dropped. How OCR is scheduled (threads per
    worker = `num_cpus`, actors = `concurrency`, pages per task = `batch_size`) is set in [resources.ocr]
    like any stage's."""

    backend: str = "rapidocr"
    model_dir: str = ""
    languages: str = "eng+chi_sim"
    min_score: float = 0.5

    def validate(self) -> None:
        from pipelines.registry import ocr_backend_names

        names = (*ocr_backend_names(), "none")
        if self.backend not in names:
            raise ConfigError(f"backend must be one of {', '.join(names)}, got {self.backend!r}", "backend")
        if not 0 <= self.min_score <= 1:
            raise ConfigError(f"min_score must be between 0 and 1, got {self.min_score}", "min_score")


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
    name: str

    def __init__(self, config: OcrConfig, threads: int = 1):
        self.config = config
        self.threads = threads  # CPU threads of one worker: [resources.ocr] num_cpus

    @abstractmethod
    def load(self) -> None:
        """Load models; raise BackendUnavailable with a clear reason if they are not here."""

    @abstractmethod
    def read(self, image: np.ndarray) -> list[OcrLine]:
        """Lines of an H x W x 3 uint8 RGB image, in any order."""

    def version(self) -> str:
        return self.name


def make_backend(config: OcrConfig, threads: int = 1) -> OcrBackend:
    """The registered backend named by `config.backend` (not loaded yet)."""
    from pipelines import registry

    entry = registry.entry("ocr", config.backend)
    if entry is None:
        raise ValueError(f"unknown OCR backend {config.backend!r} "
                         f"(choose from {', '.join(registry.ocr_backend_names())}, none)")
    return entry.cls(config, threads)


def rect_box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, ...]:
    return (x0, y0, x1, y0, x1, y1, x0, y1)


def reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """Order lines as a person reads them, with a recursive XY-cut.

    A band with a vertical gutter at least a line tall is read column by column; otherwise the
    band above the first horizontal gap (taller than most of a line) is read, then the rest. A
    two-column page under a full-width title reads title, left column, right column. A leaf is read
    row by row, left to right. (A table whose columns are separated by wide gutters is read column by
    column.)
    """
    if len(lines) <= 1:
        return list(lines)
    bounds = [_bounds(line.box) for line in lines]
    height = float(np.median([b[3] - b[1] for b in bounds])) or 1.0
    columns = _split(bounds, 0, height)
    if len(columns) > 1:
        return [line for c in columns for line in reading_order([lines[i] for i in c])]
    rows = _split(bounds, 1, 0.8 * height)
    if len(rows) > 1:
        rest = [i for r in rows[1:] for i in r]
        return reading_order([lines[i] for i in rows[0]]) + reading_order([lines[i] for i in rest])
    return [lines[i] for i in _rows_then_x(bounds)]


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
