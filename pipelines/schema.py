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

SCHEMA_VERSION = "1"

# One field per quality score. A filter that adds a score adds its name here, so every shard of
# every run carries the same struct (null where a filter did not run).
QUALITY_SCORES: tuple[str, ...] = (
    # filters.image
    "megapixels",  # decoded size (the header's, read before any pixel is decoded)
    "aspect",  # long side / short side
    "pixel_std",  # grey-level standard deviation, 0 for a blank page
    "entropy",  # grey-level histogram entropy in bits (0-8)
    "blur",  # variance of the Laplacian over content areas (low = blurred)
    "content_frac",  # share of pixels that differ from the background
    # filters.text
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
    "pii_count",  # e-mail addresses, phone numbers and IP addresses replaced in text fields
    # filters.lang
    "lang_score",  # language-ID probability of `lang`
    # annotators.ocr and filters.agreement
    "ocr_conf",  # OCR stage: mean line confidence
    "ocr_cer",  # OCR stage: character error rate of OCR against the text layer (high = image-text mismatch)
    # filters.quality
    "quality_prob",  # fastText text-quality classifier: probability the text is well-formed prose
)

# Sample kinds whose `text` is the text shown in their image (a page's text layer, a screenshot's DOM
# text), as opposed to text that describes the image (a figure's caption).
TRANSCRIBED_KINDS: tuple[str, ...] = ("page", "screenshot", "tile")

IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
OCR_LINE_TYPE = pa.struct([("text", pa.string()), ("score", pa.float32()), ("box", pa.list_(pa.float32()))])
MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])
QUALITY_TYPE = pa.struct([(name, pa.float32()) for name in QUALITY_SCORES])

_FIELDS: list[pa.Field] = [
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
    pa.field("quality", QUALITY_TYPE),
    pa.field("keep", pa.bool_()),
    pa.field("drop_reason", pa.string()),
    pa.field("tags", pa.list_(pa.string())),
    pa.field("tag_scores", pa.list_(pa.float32())),
    pa.field("table", pa.string()),
    pa.field("html", pa.string()),
    pa.field("code", pa.string()),
    pa.field("messages", pa.list_(MESSAGE_TYPE)),
    pa.field("meta", pa.string()),
]

# Hugging Face `datasets` reads this to decode `image` as a PIL image; every other column's feature
# is inferred from its Arrow type, so only the image needs declaring.
HF_FEATURES = {"image": {"_type": "Image"}}
SAMPLE_SCHEMA = pa.schema(_FIELDS, metadata={
    b"huggingface": json.dumps({"info": {"features": HF_FEATURES}}).encode(),
    b"vlforge_schema": SCHEMA_VERSION.encode(),
})
COLUMNS: tuple[str, ...] = tuple(SAMPLE_SCHEMA.names)

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
    ("text_exact", pa.binary()),  # hash of the normalised text (a key for text samples, a check for images)
    ("minhash", pa.binary()),  # MinHash of word shingles, uint32 values
])
WORK_SCHEMA = SAMPLE_SCHEMA.append(pa.field(UNIT_COL, pa.string())).append(
    pa.field(UNIT_ROWS_COL, pa.int32())).append(pa.field(ERROR_COL, pa.string())).append(pa.field(SIG_COL, SIG_TYPE))
# What `.signatures/part-N.parquet` holds: one row per kept sample that has a signature.
SIG_SCHEMA = pa.schema([("id", pa.string()), ("source", pa.string()), ("kind", pa.string()),
                        *[(f.name, f.type) for f in SIG_TYPE]])

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


def to_table(rows: Iterable[Mapping[str, Any]], schema: pa.Schema = WORK_SCHEMA) -> pa.Table:
    """Build a table of `schema` from row dicts; keys a row leaves out become nulls."""
    rows = list(rows)
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)


def conform(table: pa.Table, schema: pa.Schema = WORK_SCHEMA) -> pa.Table:
    """Give `table` exactly `schema`: add missing columns as nulls, drop extras, cast, reorder.

    Stages may return only the columns they touched or a slightly different type (an int64 width);
    this restores the one schema so blocks concatenate and shards agree.
    """
    arrays = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            arrays.append(col if col.type == field.type else col.cast(field.type))
        else:
            arrays.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def set_columns(table: pa.Table, **values: list[Any]) -> pa.Table:
    """Replace whole columns with Python values, typed by the work schema (the way stages write)."""
    for name, column in values.items():
        field = WORK_SCHEMA.field(name)
        table = table.set_column(table.schema.get_field_index(name), field, pa.array(column, field.type))
    return table


def meta_json(meta: Mapping[str, Any]) -> str:
    """Serialise provenance with sorted keys so equal provenance gives equal bytes (and equal ids)."""
    return json.dumps(meta, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
