"""What every export format shares: the format protocol, image files, JSON-safe values, atomic writes."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from pipelines.schema import DOCUMENT_KIND

# Magic numbers of the image formats sources write (PNG renders, JPEG/GIF/WebP/BMP from the web and datasets).
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"), (b"GIF87a", "gif"), (b"GIF89a", "gif"),
          (b"BM", "bmp"), (b"II*\x00", "tif"), (b"MM\x00*", "tif"))


def image_ext(data: bytes) -> str:
    """The file extension of encoded image bytes, read from their magic number (`bin` when unknown)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return next((ext for magic, ext in _MAGIC if data.startswith(magic)), "bin")


def row_images(row: dict[str, Any]) -> list[bytes]:
    """A row's image bytes in order: a document's `images`, else its one `image` (or none)."""
    if row.get("kind") == DOCUMENT_KIND and row.get("images"):
        return [im["bytes"] for im in row["images"] if im and im.get("bytes")]
    image = row.get("image")
    return [image["bytes"]] if image and image.get("bytes") else []


def jsonable(value: Any) -> Any:
    """`value` with NaN and infinite floats as null, so the JSON written is valid for strict parsers too."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def meta_of(row: dict[str, Any]) -> Any:
    """The row's `meta` provenance as an object (it is stored as a JSON string)."""
    try:
        return json.loads(row["meta"]) if row.get("meta") else None
    except ValueError:
        return row["meta"]


def dumps(value: Any) -> str:
    """Compact JSON; NaN and infinities (rare: a score a filter could not compute) become null."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:  # walking every value costs a third of an export: only when there is a NaN to fix
        return json.dumps(jsonable(value), ensure_ascii=False, separators=(",", ":"))


def shard_dir(k: int) -> str:
    """The folder (relative to the export) of output shard k's image files."""
    return f"images/{k:05d}"


def clear(*paths: Path) -> None:
    """Remove what an unfinished shard left (files or folders), so it is redone from nothing."""
    for p in paths:
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def replace(tmp: Path, final: Path) -> int:
    """Move a finished file to its final name (atomic) and return its size."""
    with tmp.open("rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    return final.stat().st_size


class ImageFiles:
    """Writes one output shard's images as files under `images/<shard>/`, named after the sample id."""

    def __init__(self, root: Path, k: int):
        self.root, self.rel = root, shard_dir(k)
        clear(root / self.rel)
        (root / self.rel).mkdir(parents=True)
        self.count = self.bytes = 0

    def write(self, sample_id: str, data: bytes, index: int | None = None) -> str:
        """Write one image and return its path relative to the export folder."""
        name = f"{sample_id}.{image_ext(data)}" if index is None else f"{sample_id}-{index}.{image_ext(data)}"
        (self.root / self.rel / name).write_bytes(data)
        self.count += 1
        self.bytes += len(data)
        return f"{self.rel}/{name}"


class Format:
    """One export format. The driver streams the selected rows to it, one output shard at a time:
    `begin(k)`, `add(row)` for each row, `end()`; then `finish()` once all shards are done. A shard is
    written to temporary names and renamed by `end()`, so a killed export redoes only its last shard."""

    name = ""
    light: tuple[str, ...] = ("kind",)  # the columns `accepts` reads (read for every row; keep them small)
    default_kinds: tuple[str, ...] = ()  # the kinds exported when --kinds is not given (empty: every kind)
    requirement = ""  # what `accepts` asks of a row, in words, for the summary of rows left out

    def __init__(self, root: Path):
        self.root = root

    def accepts(self, row: dict[str, Any]) -> bool:
        """Whether the row (its `light` columns) has what this format needs."""
        return True

    def begin(self, k: int) -> None:
        raise NotImplementedError

    def add(self, row: dict[str, Any]) -> None:
        raise NotImplementedError

    def end(self) -> dict[str, Any]:
        """Commit the shard: {"name", "images", "bytes"}."""
        raise NotImplementedError

    def finish(self, shards: list[dict[str, Any]]) -> list[str]:
        """After the last shard: any whole-export file; the paths a user points a trainer at."""
        return [s["name"] for s in shards]

    def cleanup(self) -> None:
        """After the export is recorded complete: remove what only a resumed export needed."""

