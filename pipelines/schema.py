"""The one sample schema every stage reads and writes.

A sample is one row of an Arrow table. Every column exists from the first stage on; a column a
stage has not filled yet is null, never missing, so any stage can run on any batch and every shard
has the same schema. Columns whose names start with ``_`` are runner bookkeeping (which input unit a
row came from, errors in flight) and never reach a shard.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

SCHEMA_VERSION = "2"  # 2: `images` (interleaved documents)

# Sample kinds whose `text` is the text shown in their image (a page's text layer, a screenshot's DOM
# text), as opposed to text that describes the image (a figure's caption).
TRANSCRIBED_KINDS: tuple[str, ...] = ("page", "screenshot", "tile")
# The interleaved image-text kind: `images` holds its images in order, `text` one `<image>` marker per
# image where it stands (see pipelines/documents.py).
DOCUMENT_KIND = "document"

IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
OCR_LINE_TYPE = pa.struct([("text", pa.string()), ("score", pa.float32()), ("box", pa.list_(pa.float32()))])
MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])


def _fields(quality: pa.DataType) -> list[pa.Field]:
    return [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("uri", pa.string()),
        pa.field("locator", pa.string()),
        pa.field("image", IMAGE_TYPE),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("text", pa.string()),
        pa.field("ocr", pa.list_(OCR_LINE_TYPE)),
        pa.field("ocr_text", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("quality", quality),
        pa.field("keep", pa.bool_()),
        pa.field("drop_reason", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("tag_scores", pa.list_(pa.float32())),
        pa.field("table", pa.string()),
        pa.field("html", pa.string()),
        pa.field("code", pa.string()),
        pa.field("messages", pa.list_(MESSAGE_TYPE)),
        pa.field("meta", pa.string()),
        pa.field("images", pa.list_(IMAGE_TYPE)),
    ]

# Hugging Face `datasets` reads this to decode `image` as a PIL image and `images` as a list of them
# (`Sequence(Image())`, which datasets 4+ writes as `List`); every other column's feature is inferred
# from its Arrow type, so only the images need declaring.
HF_FEATURES = {"image": {"_type": "Image"}, "images": {"feature": {"_type": "Image"}, "_type": "List"}}

# Runner bookkeeping carried beside the sample columns while a batch is in flight.
UNIT_COL = "_unit"  # id of the input unit (e.g. a page range of one PDF) the row came from
UNIT_ROWS_COL = "_unit_rows"  # how many rows that unit produced in all, so completion can be counted
ERROR_COL = "_error"  # JSON {stage, error_type, message} when the row records a failure, else null
SIG_COL = "_sig"  # dedup fingerprints of a kept sample (filters.dedup.signatures), stored beside its shard
SIG_TYPE = pa.struct([
    ("area", pa.int64()),  # pixels of the image (the larger copy of a duplicate is kept)
    ("text_len", pa.int32()),  # characters of normalised text (the longer copy is kept)
    ("img_exact", pa.binary()),  # hash of the decoded pixels
    ("phash", pa.binary()),  # 256-bit perceptual hash
    ("crop_phash", pa.binary()),  # 11 pHashes (content box, whole, 9 windows): copies with a border cut off
    ("text_exact", pa.binary()),  # hash of the normalised text (a key for text samples, a check for images)
    ("minhash", pa.binary()),  # MinHash of word shingles, uint32 values
    # Interleaved documents: one entry per image (sha256 of its bytes, its pHash) and per text paragraph
    # (hash of its normalised text), so the global pass can find images and paragraphs shared by many
    # documents (logos, footers) and remove them; null for other kinds.
    ("image_shas", pa.list_(pa.binary())),
    ("image_phashes", pa.list_(pa.binary())),
    ("para_hashes", pa.list_(pa.binary())),
    ("lang", pa.string()),  # the language filter's code: near-copies of text must share it
    ("shingles", pa.binary()),  # sorted uint32 hashes of the text's word shingles (bottom-k): exact near-dup checks
    ("quality_prob", pa.float32()),  # the quality model's score, and the share of clean text (not boilerplate
    ("clean_frac", pa.float32()),  # lines, not garbled): which copy of a duplicate group stays (dedup.keep)
])
STATS_COL = "_stats"  # per-stage counts of the batch (pipelines.stats), on one row of each batch, else null
# What `.signatures/part-N.parquet` holds: one row per kept sample that has a signature.
SIG_SCHEMA = pa.schema([("id", pa.string()), ("source", pa.string()), ("kind", pa.string()),
                        *[(f.name, f.type) for f in SIG_TYPE]])

_pinned_scores: tuple[str, ...] | None = None
_cache: dict[tuple[Any, ...], Any] = {}


def pin_quality_scores(scores: tuple[str, ...] | None) -> None:
    """Fix the `quality` fields for this process (the runner pins its run's on every task), so every shard
    of a run has one schema whatever plugins a reused worker process imported before; None unpins."""
    global _pinned_scores
    _pinned_scores = None if scores is None else tuple(scores)


def quality_scores() -> tuple[str, ...]:
    """One field of the `quality` struct per score a registered stage declares (`register_stage(scores=...)`)."""
    if _pinned_scores is not None:
        return _pinned_scores
    from pipelines import registry

    return registry.quality_scores()


def sample_schema() -> pa.Schema:
    """The schema of a shard: the sample columns, `quality` with every registered score."""
    scores = quality_scores()
    key = ("sample", scores)
    if key not in _cache:
        quality = pa.struct([(name, pa.float32()) for name in scores])
        _cache[key] = pa.schema(_fields(quality), metadata={
            b"huggingface": json.dumps({"info": {"features": HF_FEATURES}}).encode(),
            b"vlforge_schema": SCHEMA_VERSION.encode(),
        })
    return _cache[key]


def work_schema() -> pa.Schema:
    """The schema of a batch in flight: the sample columns and the runner's bookkeeping columns."""
    base = sample_schema()
    key = ("work", base.field("quality").type)
    if key not in _cache:
        _cache[key] = base.append(pa.field(UNIT_COL, pa.string())).append(pa.field(UNIT_ROWS_COL, pa.int32())) \
            .append(pa.field(ERROR_COL, pa.string())).append(pa.field(SIG_COL, SIG_TYPE)) \
            .append(pa.field(STATS_COL, pa.string()))
    return _cache[key]


def __getattr__(name: str) -> Any:
    """The schema as module constants (`SAMPLE_SCHEMA`, `WORK_SCHEMA`, `COLUMNS`, `QUALITY_SCORES`) for
    scripts and tests; code that runs in a pipeline calls the functions, which follow the registry."""
    views = {"SAMPLE_SCHEMA": sample_schema, "WORK_SCHEMA": work_schema, "QUALITY_SCORES": quality_scores,
             "COLUMNS": lambda: tuple(sample_schema().names)}
    if name in views:
        return views[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


ERROR_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("uri", pa.string()),
    ("locator", pa.string()),
    ("source", pa.string()),
    ("stage", pa.string()),
    ("error_type", pa.string()),
    ("message", pa.string()),
])


def sample_id(source: str, uri: str, locator: str, content: bytes | str = b"") -> str:
    """A stable id from (source, uri, locator, content): the same input gives the same id on every run."""
    h = hashlib.blake2b(digest_size=16)
    for part in (source, uri, locator):
        h.update(part.encode())
        h.update(b"\x00")
    h.update(content.encode() if isinstance(content, str) else content)
    return h.hexdigest()


def image_value(data: bytes | None, path: str | None = None) -> dict[str, Any] | None:
    """The `image` column value in the layout `datasets.Image` decodes."""
    return None if data is None else {"bytes": data, "path": path}


def to_table(rows: Iterable[Mapping[str, Any]], schema: pa.Schema | None = None) -> pa.Table:
    """Build a table of `schema` (the work schema by default) from row dicts; keys a row leaves out become nulls."""
    schema = schema or work_schema()
    rows = list(rows)
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)


def conform(table: pa.Table, schema: pa.Schema | None = None) -> pa.Table:
    """Give `table` exactly `schema`: add missing columns as nulls, drop extras, cast, reorder.

    Stages may return only the columns they touched or a slightly different type (an int64 width);
    this restores the one schema so blocks concatenate and shards agree.
    """
    schema = schema or work_schema()
    if table.schema.equals(schema, check_metadata=True):
        return table
    arrays = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            arrays.append(col if col.type == field.type else col.cast(field.type))
        else:
            arrays.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def set_columns(table: pa.Table, /, **values: list[Any]) -> pa.Table:
    """Replace whole columns with Python values, typed by the work schema (the way stages write)."""
    schema = work_schema()
    for name, column in values.items():
        field = schema.field(name)
        table = table.set_column(table.schema.get_field_index(name), field, pa.array(column, field.type))
    return table


def meta_json(meta: Mapping[str, Any]) -> str:
    """Serialise provenance with sorted keys so equal provenance gives equal bytes (and equal ids)."""
    return json.dumps(meta, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
