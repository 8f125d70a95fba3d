"""`--source dataset`: Parquet, JSON Lines and `save_to_disk` data mapped into samples; bad rows become errors."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw

from pipelines.config import Config
from pipelines.recipes import build_pipeline
from pipelines.runner import RunOptions, StageFailed, run
from pipelines.shards import read_shards
from sources.dataset.config import ColumnMap, DatasetConfig
from sources.dataset.source import DatasetSource


def png(seed: int, size: tuple[int, int] = (160, 120)) -> bytes:
    """A small picture with shapes and a word on it (not blank, so filters would keep it)."""
    rnd = random.Random(seed)
    im = Image.new("RGB", size, (250, 250, 245))
    d = ImageDraw.Draw(im)
    for _ in range(6):
        x, y = rnd.randrange(size[0] - 30), rnd.randrange(size[1] - 30)
        d.rectangle([x, y, x + rnd.randrange(10, 30), y + rnd.randrange(10, 30)],
                    fill=tuple(rnd.randrange(256) for _ in range(3)))
    d.text((8, 8), f"sample {seed}", fill=(0, 0, 0))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def expand_all(source: DatasetSource, inputs: list[str], limit: int | None = None) -> list[dict]:
    return [row for unit in source.plan(inputs, limit) for row in source.expand(unit)]


def errors_of(rows: list[dict]) -> dict[str, dict]:
    return {r["locator"]: json.loads(r["_error"]) for r in rows if r.get("_error")}


@pytest.fixture
def jsonl(tmp_path):
    """Captions with image paths relative to the file, LLaVA conversations, and five kinds of bad row."""
    (tmp_path / "img").mkdir()
    for i in range(3):
        (tmp_path / "img" / f"{i}.png").write_bytes(png(i))
    (tmp_path / "img" / "broken.png").write_bytes(b"this is not a picture")
    lines = [
        json.dumps({"image": "img/0.png", "text": "A few coloured boxes on a light background.", "id": 7}),
        json.dumps({"image": "img/missing.png", "text": "Nobody saved this picture."}),
        "{not json",
        json.dumps({"image": "img/broken.png", "text": "Bytes that are not an image."}),
        json.dumps({"image": "img/1.png", "text": "   "}),
        json.dumps({"image": "img/2.png", "conversations": [{"from": "human", "value": "What is written?"},
                                                            {"from": "gpt", "value": "sample 2"}]}),
        json.dumps([1, 2]),
        "",
        json.dumps({"image": "img/1.png", "text": "Boxes again, second caption."}),
    ]
    path = tmp_path / "captions.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_jsonl_rows_map_to_samples_and_each_bad_row_is_one_clear_error(jsonl):
    rows = expand_all(DatasetSource(DatasetConfig(name="caps", rows_per_unit=3)), [str(jsonl)])
    good = [r for r in rows if not r.get("_error")]
    assert [r["locator"] for r in good] == ["line=1", "line=6", "line=9"]
    first = good[0]
    assert first["source"] == "caps" and first["kind"] == "caption" and (first["width"], first["height"]) == (160, 120)
    assert first["image"]["bytes"] == (jsonl.parent / "img" / "0.png").read_bytes()
    assert first["text"] == "A few coloured boxes on a light background."
    assert json.loads(first["meta"])["source_id"] == "7"
    assert good[1]["messages"] == [{"role": "user", "content": "<image>\nWhat is written?"},
                                   {"role": "assistant", "content": "sample 2"}]
    errors = errors_of(rows)
    assert {k: v["error_type"] for k, v in errors.items()} == {
        "line=2": "MissingImageFile", "line=3": "InvalidJSON", "line=4": "UndecodableImage",
        "line=5": "NoText", "line=7": "NotAnObject"}
    assert "img/missing.png not found" in errors["line=2"]["message"]
    assert errors["line=3"]["message"].startswith("line 3 of captions.jsonl is not valid JSON")
    assert errors["line=5"]["message"] == "captions.jsonl line=5: the row has no text: 'text' empty"
    # Stable: the same input gives the same ids; a limit cuts rows, not lines.
    again = expand_all(DatasetSource(DatasetConfig(name="caps", rows_per_unit=3)), [str(jsonl)])
    assert [r["id"] for r in again] == [r["id"] for r in rows]
    assert len(expand_all(DatasetSource(DatasetConfig(name="caps", rows_per_unit=3)), [str(jsonl)], limit=4)) == 4


@pytest.fixture
def vqa_parquet(tmp_path):
    """A chart-QA style Parquet file: image bytes in a struct, question/answer, the set's own ids."""
    images = [{"bytes": png(10 + i), "path": f"chart{i}.png"} for i in range(4)]
    images[2] = {"bytes": None, "path": None}
    table = pa.table({"img": images, "question": ["Highest bar?", "Lowest bar?", "Empty?", "Title?"],
                      "answer": [["B", "b"], ["A"], ["-"], ["Sales"]], "qid": [1, 2, 3, 4],
                      "split": ["val"] * 4})
    path = tmp_path / "vqa.parquet"
    pq.write_table(table, path, row_group_size=3)
    return path


def test_parquet_question_answer_pairs_and_a_missing_column_fails_the_file_only(vqa_parquet):
    cfg = DatasetConfig(name="chartqa", kind="chart", rows_per_unit=2, license="CC-BY-4.0", meta_columns=("split",),
                        columns=ColumnMap(image="img", question="question", answer="answer", id="qid"))
    rows = expand_all(DatasetSource(cfg), [str(vqa_parquet)])
    assert [r["locator"] for r in rows] == ["row=0", "row=1", "row=2", "row=3"]
    assert errors_of(rows) == {"row=2": {"stage": "dataset/1", "error_type": "MissingImage",
                                         "message": "vqa.parquet row=2: the image column 'img' is empty in this row"}}
    r0 = rows[0]
    assert r0["kind"] == "chart" and r0["messages"][1] == {"role": "assistant", "content": "B"}
    meta = json.loads(r0["meta"])
    assert meta["license"] == "CC-BY-4.0" and meta["columns"] == {"split": "val"} and meta["image_path"] == "chart0.png"
    bad = DatasetSource(DatasetConfig(columns=ColumnMap(image="img", text="caption")))
    [err] = expand_all(bad, [str(vqa_parquet)])
    assert json.loads(err["_error"])["error_type"] == "MissingColumn" and "'caption'" in json.loads(err["_error"])[
        "message"]


def test_save_to_disk_splits_decode_their_image_feature(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"image": datasets.Image(), "caption": datasets.Value("string")})

    def split(seeds):
        return datasets.Dataset.from_dict({"image": [Image.open(io.BytesIO(png(s))) for s in seeds],
                                           "caption": [f"Picture number {s} with boxes." for s in seeds]},
                                          features=features)

    folder = tmp_path / "saved"
    datasets.DatasetDict({"train": split([20, 21, 22]), "test": split([23])}).save_to_disk(str(folder))
    cfg = DatasetConfig(name="pics", columns=ColumnMap(text="caption"))
    rows = expand_all(DatasetSource(cfg), [str(folder)])
    assert sorted(r["locator"] for r in rows) == ["test/row=0", "train/row=0", "train/row=1", "train/row=2"]
    assert not errors_of(rows)
    by = {r["locator"]: r for r in rows}
    with Image.open(io.BytesIO(by["train/row=1"]["image"]["bytes"])) as im:
        assert im.size == (160, 120)
    assert by["test/row=0"]["text"] == "Picture number 23 with boxes."
    only_test = expand_all(DatasetSource(DatasetConfig(split="test", columns=ColumnMap(text="caption"))), [str(folder)])
    assert [r["locator"] for r in only_test] == ["test/row=0"]


@pytest.mark.usefixtures("ray_session")
def test_a_dataset_build_keeps_every_good_row_and_records_every_bad_one(tmp_path, jsonl, vqa_parquet):
    cfg = (Config().replace("run", source="dataset", inputs=(str(jsonl), str(vqa_parquet)), filters=False)
           .replace("dataset", name="mixed", kind="chart", rows_per_unit=2).replace("ocr", backend="none")
           .replace("dedup", enabled=False))
    cfg = cfg.replace("dataset", columns=ColumnMap(image="img", question="question", answer="answer"))
    # Two inputs, one map: the JSONL rows have no 'img' column, so each is an error naming it.
    out = tmp_path / "out"
    result = run(build_pipeline(cfg), RunOptions.from_config(cfg, out=out))
    shards = read_shards(out).to_pylist()
    assert sorted(r["locator"] for r in shards) == ["row=0", "row=1", "row=3"]
    assert all("analysis.data_chart" in r["tags"] and r["messages"][0]["content"].startswith("<image>") for r in shards)
    errors = pq.read_table(out / "errors.parquet").to_pylist()
    assert len(errors) == 9 and result.stats["errors"] == 9
    assert {e["error_type"] for e in errors} == {"MissingColumn", "MissingImage", "InvalidJSON", "NotAnObject"}
    assert all(e["source"] == "mixed" and e["message"] for e in errors)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["kept_by_source"] == {"mixed": 3} and stats["funnel"]["mixed"]["errors"] == 9


def _prose(n: int) -> list[str]:
    """Real documentation passages (tests/filters/data/README.md)."""
    path = Path(__file__).parents[1] / "filters" / "data" / "python_doc_passages.jsonl"
    return [json.loads(line)["text"] for line in path.read_text().splitlines()[:n]]


def test_text_only_rows_are_text_samples_not_missing_image_errors(tmp_path):
    data = tmp_path / "prose.jsonl"
    lines = [json.dumps({"text": t}) for t in _prose(4)]
    lines.append(json.dumps({"image": "", "text": "A row whose image cell is empty is text too."}))
    data.write_text("\n".join(lines) + "\n")
    rows = expand_all(DatasetSource(DatasetConfig()), [str(data)])
    assert errors_of(rows) == {}
    assert [r["kind"] for r in rows] == ["text"] * 5 and all(r["image"] is None for r in rows)
    assert rows[0]["text"] == _prose(1)[0]
    # An image column the user named stays required.
    named = expand_all(DatasetSource(DatasetConfig(columns=ColumnMap(image="image"))), [str(data)])
    assert {e["error_type"] for e in errors_of(named).values()} == {"MissingColumn", "MissingImage"}


@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")
def test_a_text_only_dataset_builds_and_a_run_where_every_row_fails_does_not_pass(tmp_path):
    data = tmp_path / "prose.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in _prose(6)))
    cfg = (Config().replace("run", source="dataset", inputs=(str(data),), filters=False)
           .replace("ocr", backend="none").replace("dedup", enabled=False))
    result = run(build_pipeline(cfg), RunOptions.from_config(cfg, out=tmp_path / "ok"))
    shards = read_shards(tmp_path / "ok").to_pylist()
    assert len(shards) == 6 and {r["kind"] for r in shards} == {"text"} and result.stats["errors"] == 0
    wrong = cfg.replace("dataset", columns=ColumnMap(image="img"))  # a column this data does not have
    with pytest.raises(StageFailed, match="source failed on every one of its 6 rows"):
        run(build_pipeline(wrong), RunOptions.from_config(wrong, out=tmp_path / "bad"))
    assert pq.read_table(tmp_path / "bad" / "errors.parquet").num_rows == 6  # the errors are still written
