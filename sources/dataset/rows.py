"""One row of someone else's dataset into one of our samples, by the column map.

Everything that can be wrong with a row raises `InputError` with a short type and a message that
names the row's problem (a mapped column it lacks, an image file that is not there, bytes that are
not an image, a row with no text at all); the source turns it into an error row and goes on.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from PIL import Image

from pipelines.schema import image_value, meta_json, sample_id
from pipelines.stage import InputError
from sources.dataset.config import ColumnMap, DatasetConfig

IMAGE_TOKEN = "<image>"  # where the trainer puts the image; taxonomy.instructions starts image turns with it
ROLES = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant", "bot": "assistant",
         "model": "assistant", "system": "system"}
AUTO_NAMES = {"messages": ("messages", "conversations")}  # fields whose column may go by another common name
TEXT_FIELDS = ("text", "table", "code", "html")


@dataclass(frozen=True)
class Fields:
    """Which column feeds each sample field for one input. `columns`: field -> column, fixed for the
    input; `per_row`: unset fields looked up in each row by their auto names (JSON rows have no schema);
    `required`: the columns the user named, which every row must have."""

    columns: dict[str, str]
    per_row: tuple[str, ...]
    required: tuple[str, ...]

    @staticmethod
    def resolve(cmap: ColumnMap, available: Sequence[str] | None) -> Fields:
        """Map fields to columns. With a known schema (`available`), an unset field takes a column of its
        auto names when there is one; without one (None) it is looked up row by row."""
        columns, per_row, required = {}, [], []
        for f in fields(cmap):
            name = getattr(cmap, f.name)
            if name:
                columns[f.name] = name
                required.append(name)
            elif name is None and available is None:
                per_row.append(f.name)
            elif name is None:
                hit = next((a for a in AUTO_NAMES.get(f.name, (f.name,)) if a in available), None)
                if hit is not None:
                    columns[f.name] = hit
        return Fields(columns, tuple(per_row), tuple(required))

    def missing(self, available: Sequence[str]) -> list[str]:
        return [c for c in self.required if c not in available]

    def column(self, field: str, row: Mapping[str, Any]) -> str | None:
        """The column that feeds `field` in this row, if any."""
        if field in self.columns:
            return self.columns[field]
        if field in self.per_row:
            return next((a for a in AUTO_NAMES.get(field, (field,)) if a in row), None)
        return None

    def read_columns(self, meta_columns: Sequence[str], available: Sequence[str]) -> list[str]:
        """The columns worth reading from a file with a schema (never the ones nothing maps)."""
        wanted = set(self.columns.values()) | set(meta_columns)
        return [c for c in available if c in wanted]


def to_sample(raw: Mapping[str, Any], *, fields_: Fields, cfg: DatasetConfig, uri: str, locator: str,
              base: Path, fmt: str, stage: str) -> dict[str, Any]:
    """Our sample for one dataset row, or an InputError saying what is wrong with the row."""
    lacking = [c for c in fields_.required if c not in raw]
    if lacking:
        raise InputError("MissingColumn", f"the row has no column {', '.join(repr(c) for c in lacking)} "
                                          f"(its columns: {', '.join(sorted(raw)) or 'none'})")

    def value(field: str) -> Any:
        col = fields_.column(field, raw)
        return raw.get(col) if col else None

    data, image_path, width, height = None, None, None, None
    image_col = fields_.column("image", raw)
    if image_col and (cfg.columns.image or raw.get(image_col) not in (None, "")):
        data, image_path = load_image(raw.get(image_col), image_col, base, cfg.image_root)
        width, height = image_size(data)
    text = first_text(value("text"))
    turns = to_messages(value("messages")) or qa_turns(value("question"), value("answer"))
    if turns and data is not None and not any(IMAGE_TOKEN in t["content"] for t in turns if t["role"] == "user"):
        first = next((i for i, t in enumerate(turns) if t["role"] == "user"), None)
        if first is not None:
            turns[first] = {"role": "user", "content": f"{IMAGE_TOKEN}\n{turns[first]['content']}"}
    extra = {f: to_text(value(f)) for f in ("table", "code", "html")}
    if not (text or turns or any(extra.values())):
        named = [c for f in (*TEXT_FIELDS, "messages", "question", "answer") if (c := fields_.column(f, raw))]
        raise InputError("NoText", "the row has no text: " + (f"{', '.join(repr(c) for c in named)} empty"
                                                              if named else "no column maps to text, messages, "
                                                              "question/answer, table, code or html"))
    source_id = value("id")
    meta: dict[str, Any] = {"dataset": cfg.name, "format": fmt, "stage": stage}
    if source_id is not None:
        meta["source_id"] = str(source_id)
    if image_path:
        meta["image_path"] = image_path
    if cfg.license:
        meta["license"] = cfg.license
    if cfg.meta_columns:
        meta["columns"] = {c: _jsonable(raw.get(c)) for c in cfg.meta_columns}
    content = hashlib.blake2b(data or b"", digest_size=16).digest() + json.dumps(
        [text, turns, extra], ensure_ascii=False, sort_keys=True).encode()
    return {
        "id": sample_id(cfg.name, uri, locator, b"row:" + content),
        "source": cfg.name, "kind": cfg.kind if data is not None else "text", "uri": uri, "locator": locator,
        "image": image_value(data), "width": width, "height": height,
        "text": text, "messages": turns or None, **extra, "meta": meta_json(meta),
    }


# -- images --------------------------------------------------------------------------------------------
def load_image(value: Any, column: str, base: Path, image_root: str = "") -> tuple[bytes, str | None]:
    """Image bytes from what a dataset holds: bytes, a `{bytes, path}` struct (Hugging Face `Image`),
    a `data:` URI, or a file path (relative to `image_root`, else to the data file's folder)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value), None
    if isinstance(value, Mapping):
        if value.get("bytes"):
            return bytes(value["bytes"]), value.get("path")
        value = value.get("path")
    if value is None or value == "":
        raise InputError("MissingImage", f"the image column '{column}' is empty in this row")
    if not isinstance(value, str):
        raise InputError("BadImageValue", f"column '{column}' holds a {type(value).__name__}, not image bytes, "
                                          f"a {{bytes, path}} struct or a path")
    if value.startswith("data:"):
        try:
            return base64.b64decode(value.partition(",")[2], validate=True), None
        except (binascii.Error, ValueError) as e:
            raise InputError("UndecodableImage", f"the data: URI in '{column}' is not valid base64: {e}") from None
    parsed = urlparse(value)
    if parsed.scheme in ("http", "https", "s3", "gs", "ftp"):
        raise InputError("RemoteImage", f"{value} is a URL; this source reads local files only (download the "
                                        f"images first, e.g. with img2dataset, and map the paths)")
    path = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(value)
    candidates = [path] if path.is_absolute() else [Path(image_root) / path] if image_root else [base / path]
    for c in candidates:
        if c.is_file():
            return c.read_bytes(), value
    raise InputError("MissingImageFile", f"image file {value} not found (looked for {candidates[0]})")


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from the header, after checking the file's structure (cheap: no pixel decoding;
    the image filter decodes every image later and records any that fails)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            size = im.size
            im.verify()
        return size
    except Image.DecompressionBombError as e:
        raise InputError("ImageTooLarge", str(e)) from None
    except Exception as e:
        raise InputError("UndecodableImage", f"the image bytes are not an image Pillow reads: {e}") from None


# -- text and conversations ----------------------------------------------------------------------------
def first_text(value: Any) -> str | None:
    """A caption: the string itself, or the first non-empty one of a list (COCO has five per image)."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return next((v.strip() for v in value if isinstance(v, str) and v.strip()), None)
    return None if value is None else str(value)


def to_messages(value: Any) -> list[dict[str, str]] | None:
    """Turns from `{role, content}` or `{from, value}` dicts (LLaVA), roles normalised to user/assistant/system."""
    if value is None:
        return None
    if isinstance(value, str):  # some datasets keep the conversation as a JSON string
        try:
            value = json.loads(value)
        except ValueError:
            raise InputError("BadMessages", "the messages column holds a string that is not a JSON list") from None
    if not isinstance(value, Sequence):
        raise InputError("BadMessages", f"messages must be a list of turns, got {type(value).__name__}")
    turns = []
    for t in value:
        if not isinstance(t, Mapping):
            raise InputError("BadMessages", f"a turn must be an object, got {type(t).__name__}")
        role = ROLES.get(str(t.get("role", t.get("from", ""))).lower())
        content = t.get("content", t.get("value"))
        if role is None or not isinstance(content, str):
            raise InputError("BadMessages", f"a turn needs a role (user/assistant/system, human/gpt) and text "
                                            f"content; got {dict(t)!r:.120}")
        turns.append({"role": role, "content": content})
    return turns or None


def qa_turns(question: Any, answer: Any) -> list[dict[str, str]] | None:
    """One user/assistant pair; a list of answers (VQA's annotators) gives its first."""
    q, a = first_text(question), first_text(answer)
    return [{"role": "user", "content": q}, {"role": "assistant", "content": a}] if q and a else None


def to_text(value: Any) -> str | None:
    """A table, code or HTML column as text: strings as they are, a list of rows as CSV, else JSON."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, Sequence) and value and all(isinstance(r, Sequence) and not isinstance(r, str)
                                                     for r in value):
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(value)
        return buf.getvalue()
    return json.dumps(_jsonable(value), ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)
