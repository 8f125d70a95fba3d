import pyarrow as pa
import pytest

from pipelines.schema import COLUMNS, SAMPLE_SCHEMA, WORK_SCHEMA, conform, sample_id, to_table


def test_every_column_exists_and_unfilled_ones_are_null():
    table = to_table([{"id": "a", "source": "pdf", "kind": "page"}])
    assert table.schema == WORK_SCHEMA
    row = table.to_pylist()[0]
    assert row["text"] is None and row["ocr"] is None and row["messages"] is None and row["quality"] is None
    for name in ("id", "source", "kind", "uri", "locator", "image", "width", "height", "text", "ocr", "ocr_text",
                 "lang", "quality", "keep", "drop_reason", "tags", "tag_scores", "table", "html", "messages", "meta"):
        assert name in COLUMNS


def test_conform_restores_the_schema_from_a_partial_stage_output():
    partial = pa.table({"id": ["x"], "width": pa.array([640], pa.int64()), "extra": [1]})
    fixed = conform(partial, SAMPLE_SCHEMA)
    assert fixed.schema == SAMPLE_SCHEMA
    assert fixed.column("width").type == pa.int32() and fixed.column("width")[0].as_py() == 640
    assert "extra" not in fixed.column_names


def test_sample_id_is_stable_and_depends_on_every_part():
    base = sample_id("pdf", "file:///a.pdf", "page=1", b"png")
    assert base == sample_id("pdf", "file:///a.pdf", "page=1", b"png")
    assert len({base, sample_id("web", "file:///a.pdf", "page=1", b"png"),
                sample_id("pdf", "file:///b.pdf", "page=1", b"png"),
                sample_id("pdf", "file:///a.pdf", "page=2", b"png"),
                sample_id("pdf", "file:///a.pdf", "page=1", b"jpg")}) == 5


def test_schema_declares_the_image_feature_for_hugging_face():
    import json

    features = json.loads(SAMPLE_SCHEMA.metadata[b"huggingface"])["info"]["features"]
    assert features["image"] == {"_type": "Image"}


def test_image_struct_matches_datasets_image_storage():
    datasets = pytest.importorskip("datasets")
    assert datasets.Image().pa_type == SAMPLE_SCHEMA.field("image").type
