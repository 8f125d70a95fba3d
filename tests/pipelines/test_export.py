"""`python -m pipelines.export`: each format read back by the library that consumes it, equal to the shards;
resumable after a kill, bounded memory on 10k rows, one-line errors."""

from __future__ import annotations

import glob
import hashlib
import io
import json
import random
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipelines.documents import IMAGE_MARKER, PARAGRAPH_SEP, plain_text
from pipelines.export import ExportError, export
from pipelines.export.__main__ import main as export_main
from pipelines.export.llava import ROLES
from pipelines.schema import image_value, sample_id, sample_schema, to_table
from pipelines.shards import read_shards

REPO = Path(__file__).resolve().parents[2]


def png(seed: int, side: int = 48, noise: bool = False) -> bytes:
    rnd = random.Random(seed)
    if noise:  # incompressible: the bytes on disk are what memory would hold
        im = Image.frombytes("RGB", (side, side), rnd.randbytes(side * side * 3))
    else:
        im = Image.new("RGB", (side, side), tuple(rnd.randrange(256) for _ in range(3)))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (seed % 256, 90, 200)).save(buf, "JPEG")
    return buf.getvalue()


def sample(i: int, kind: str, images: list[bytes] | None = None) -> dict:
    """A kept sample of each shape exports meet: an image with messages, text only, a document."""
    sid = sample_id("synthetic", f"doc{i}.pdf", f"row={i}")
    row = {"id": sid, "source": "synthetic", "kind": kind, "uri": f"doc{i}.pdf", "locator": f"row={i}",
           "lang": "en", "keep": True, "tags": ["recognition.ocr_transcription"], "meta": json.dumps({"n": i}),
           "quality": {"blur": float("nan") if i == 2 else i / 4}, "text": f"Sample {i} says hello."}
    if kind == "document":
        pics = images or []
        parts = [f"Paragraph {i}.0 of the document."]
        for k in range(len(pics)):  # an image, then the paragraph after it
            parts += [IMAGE_MARKER, f"Paragraph {i}.{k + 1} of the document."]
        row.update(text=PARAGRAPH_SEP.join(parts), images=[image_value(b) for b in pics],
                   meta=json.dumps({"images": [{"caption": f"figure {k}"} for k in range(len(pics))]}))
    elif images:
        row.update(image=image_value(images[0]), width=48, height=48, tags=["analysis.data_chart"],
                   messages=[{"role": "user", "content": f"{IMAGE_MARKER}\nWhat does it say?"},
                             {"role": "assistant", "content": f"Sample {i}."}])
    return row


def write_build(out: Path, rows: list[dict], rows_per_shard: int = 1000) -> Path:
    """A build's output as the shard sink writes it (sample schema, row groups of 256), without a run."""
    (out / "shards").mkdir(parents=True)
    for n, start in enumerate(range(0, len(rows), rows_per_shard)):
        table = to_table(rows[start:start + rows_per_shard], sample_schema())
        pq.write_table(table, out / "shards" / f"part-{n:05d}.parquet", row_group_size=256, use_dictionary=False)
    return out


@pytest.fixture(scope="module")
def small_build(tmp_path_factory) -> Path:
    rows = []
    for i in range(23):
        if i % 5 == 0:
            rows.append(sample(i, "document", [png(i), jpeg(i)] if i % 10 == 0 else [png(i)]))
        elif i % 5 == 1:
            rows.append(sample(i, "text"))
        else:
            rows.append(sample(i, "chart", [jpeg(i) if i % 2 else png(i)]))
    return write_build(tmp_path_factory.mktemp("small") / "out", rows, rows_per_shard=10)


def shard_rows(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in read_shards(out).to_pylist()}


def images_of(row: dict) -> list[bytes]:
    if row["kind"] == "document":
        return [im["bytes"] for im in row["images"] or []]
    return [row["image"]["bytes"]] if row["image"] else []


def tar_names(path: str | Path) -> list[str]:
    with tarfile.open(path) as tar:  # the standard library reads the shards too
        return tar.getnames()


def tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".export.json"}


# -- each format, read back -------------------------------------------------------------------------------
def check_llava(build: Path, dest: Path) -> int:
    rows = shard_rows(build)
    entries = json.loads((dest / "llava.json").read_text())
    assert len({e["id"] for e in entries}) == len(entries)
    want = {i for i, r in rows.items() if r["messages"] or (  # a document: images, and text after the last one
        r["kind"] == "document" and r["images"] and not r["text"].rstrip().endswith(IMAGE_MARKER))}
    assert {e["id"] for e in entries} == want
    for e in entries:
        row = rows[e["id"]]
        paths = e.get("image", [])
        paths = paths if isinstance(paths, list) else [paths]
        assert isinstance(e.get("image"), list) == (row["kind"] == "document")
        assert [(dest / p).read_bytes() for p in paths] == images_of(row)
        turns = e["conversations"]
        assert {t["from"] for t in turns} <= {"human", "gpt"}
        assert sum(t["value"].count(IMAGE_MARKER) for t in turns if t["from"] == "human") == len(paths)
        assert not any(IMAGE_MARKER in t["value"] for t in turns if t["from"] == "gpt")
        if row["messages"]:
            assert [t["from"] for t in turns] == [ROLES[m["role"]] for m in row["messages"]]
            assert [t["value"] for t in turns] == [m["content"] for m in row["messages"]]
        else:  # a document: its text, split after its last image
            assert PARAGRAPH_SEP.join(t["value"] for t in turns) == row["text"]
    return len(entries)


def strict(constant: str):
    raise AssertionError(f"{constant} is not JSON")


def check_webdataset(build: Path, dest: Path) -> int:
    import webdataset as wds

    rows = shard_rows(build)
    tars = sorted(glob.glob(str(dest / "shard-*.tar")))
    seen = {}
    for s in wds.WebDataset(tars, shardshuffle=False):  # no decoding: the bytes as stored
        seen[s["__key__"]] = s
    assert set(seen) == set(rows)
    for key, s in seen.items():
        row, fields = rows[key], json.loads(s["json"], parse_constant=strict)
        images = [s[f"{ext}"] for ext in fields.get("images", [])] if row["kind"] == "document" else (
            [s[fields["image"]]] if "image" in fields else [])
        assert images == images_of(row)
        for col in ("id", "source", "kind", "uri", "locator", "text", "tags", "messages", "width", "lang"):
            assert fields[col] == row[col], col
        assert fields["meta"] == json.loads(row["meta"])
        assert fields["quality"] == {k: None if v != v else v for k, v in row["quality"].items()}  # NaN: null
    members = [name for t in tars for name in tar_names(t)]
    assert len(members) == len(set(members)) == sum(1 + len(images_of(r)) for r in rows.values())
    return len(seen)


def check_obelics(build: Path, dest: Path) -> int:
    rows = shard_rows(build)
    docs = [json.loads(line) for f in sorted(dest.glob("part-*.jsonl")) for line in f.read_text().splitlines()]
    assert {d["id"] for d in docs} == {i for i, r in rows.items() if r["kind"] == "document"}
    for d in docs:
        row = rows[d["id"]]
        assert len(d["texts"]) == len(d["images"]) == len(json.loads(d["metadata"]))
        assert all((t is None) != (i is None) for t, i in zip(d["texts"], d["images"], strict=True))
        assert PARAGRAPH_SEP.join(IMAGE_MARKER if t is None else t for t in d["texts"]) == row["text"]
        assert [(dest / p).read_bytes() for p in d["images"] if p] == images_of(row)
        assert json.loads(d["general_metadata"])["source"] == row["source"]
    return len(docs)


def check_jsonl(build: Path, dest: Path) -> int:
    rows = shard_rows(build)
    lines = [json.loads(line) for f in sorted(dest.glob("part-*.jsonl")) for line in f.read_text().splitlines()]
    assert {r["id"] for r in lines} == {i for i, r in rows.items() if r["kind"] in ("text", "document")}
    for r in lines:
        row = rows[r["id"]]
        want = row["text"] if row["kind"] == "text" else plain_text(row["text"])  # the documents contract
        assert r["text"] == want and IMAGE_MARKER not in r["text"] and r["kind"] == row["kind"]
    return len(lines)


CHECKS = {"llava": check_llava, "webdataset": check_webdataset, "obelics": check_obelics, "jsonl": check_jsonl}


@pytest.mark.parametrize("fmt", list(CHECKS))
def test_each_format_reads_back_equal_to_the_shards(small_build, tmp_path, fmt):
    result = export(small_build, fmt, tmp_path / fmt, shard_size=4)
    assert CHECKS[fmt](small_build, tmp_path / fmt) == result.rows > 0
    assert result.shards == -(-result.rows // 4)


@pytest.mark.parametrize("fmt", ["llava", "webdataset"])
def test_a_real_build_exports_exactly(demo_output, tmp_path, fmt):
    result = export(demo_output, fmt, tmp_path / fmt, shard_size=5)
    assert CHECKS[fmt](demo_output, tmp_path / fmt) == result.rows
    if fmt == "webdataset":  # every kept sample, decoded by webdataset's own image handler
        import webdataset as wds

        decoded = list(wds.WebDataset(sorted(glob.glob(str(tmp_path / fmt / "*.tar"))), shardshuffle=False)
                       .decode("pil"))
        assert len(decoded) == len(shard_rows(demo_output))
        assert any(isinstance(v, Image.Image) for s in decoded for v in s.values())


def test_documents_of_a_real_build_export_as_obelics_and_text(demo_output, tmp_path):
    docs = export(demo_output, "obelics", tmp_path / "o")
    assert check_obelics(demo_output, tmp_path / "o") == docs.rows > 0
    texts = export(demo_output, "jsonl", tmp_path / "j")
    assert check_jsonl(demo_output, tmp_path / "j") == texts.rows > docs.rows


def test_kinds_and_tags_select_what_is_exported(small_build, tmp_path):
    result = export(small_build, "webdataset", tmp_path / "a", kinds=("chart",), tags=("analysis",))
    charts = {i for i, r in shard_rows(small_build).items() if r["kind"] == "chart"}
    ids = {name.split(".")[0] for t in (tmp_path / "a").glob("*.tar") for name in tar_names(t)}
    assert ids == charts and result.rows == len(charts)


# -- resume ----------------------------------------------------------------------------------------------
class Killed(BaseException):
    """Stands for a kill: raised mid-shard, nothing of the export's own code runs after it."""


@pytest.mark.parametrize("fmt", ["llava", "webdataset", "obelics"])
def test_a_killed_export_resumes_to_exactly_the_uninterrupted_output(small_build, tmp_path, monkeypatch, fmt):
    from pipelines.export.run import FORMATS

    clean = export(small_build, fmt, tmp_path / "clean", shard_size=3, kinds=("document", "chart"))
    cls = FORMATS[fmt]
    original, calls = cls.add, []

    def dying(self, row):
        calls.append(row["id"])
        original(self, row)
        if len(calls) == 7:  # two shards of 3 done, one row of the third written
            raise Killed

    monkeypatch.setattr(cls, "add", dying)
    with pytest.raises(Killed):
        export(small_build, fmt, tmp_path / "killed", shard_size=3, kinds=("document", "chart"))
    state = json.loads((tmp_path / "killed" / ".export.json").read_text())
    assert len(state["shards"]) == 2 and not state["complete"]
    monkeypatch.setattr(cls, "add", original)
    resumed = export(small_build, fmt, tmp_path / "killed", shard_size=3, kinds=("document", "chart"))
    assert resumed.this_run_rows == clean.rows - 6
    assert tree(tmp_path / "killed") == tree(tmp_path / "clean")
    again = export(small_build, fmt, tmp_path / "killed", shard_size=3, kinds=("document", "chart"))
    assert again.this_run_rows == 0 and again.rows == clean.rows


def test_other_settings_on_an_export_folder_are_refused_and_fresh_starts_over(small_build, tmp_path):
    export(small_build, "jsonl", tmp_path / "x", shard_size=4)
    with pytest.raises(ExportError, match="other settings"):
        export(small_build, "jsonl", tmp_path / "x", shard_size=5)
    assert export(small_build, "jsonl", tmp_path / "x", shard_size=5, fresh=True).shards == 2
    build = tmp_path / "build"
    shutil.copytree(small_build, build)
    export(build, "jsonl", tmp_path / "y")
    write_build(tmp_path / "more", [sample(99, "text")])  # the build resumed and grew a shard
    shutil.copy(tmp_path / "more" / "shards" / "part-00000.parquet", build / "shards" / "part-00099.parquet")
    with pytest.raises(ExportError, match="build that has changed since"):
        export(build, "jsonl", tmp_path / "y")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        export(small_build, "jsonl", tmp_path / "mine")


# -- the command line ------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--format", "coco"], "unknown format 'coco': choose one of llava, webdataset, obelics, jsonl"),
    (["--format", "llava", "--kinds", "screenshot"], "no samples of kind screenshot in"),
    (["--format", "jsonl", "--tags", "grounding.nothing"], "no samples of kind text, document and tag"),
    (["--format", "webdataset", "--shard-size", "0"], "--shard-size must be at least 1"),
])
def test_bad_requests_are_one_line_errors_with_exit_2(small_build, tmp_path, capsys, args, message):
    code = export_main([str(small_build), "--out", str(tmp_path / "e"), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "e").exists()


def test_the_cli_exports_and_says_where(small_build, tmp_path, capsys):
    assert export_main([str(small_build), "--format", "llava", "--out", str(tmp_path / "l"), "--kinds",
                        "chart,document"]) == 0
    out = capsys.readouterr().out
    n = sum(r["kind"] in ("chart", "document") for r in shard_rows(small_build).values())
    assert f"exported {n} samples" in out and str(tmp_path / "l" / "llava.json") in out


# -- memory ----------------------------------------------------------------------------------------------
# Peak memory of the export alone: the process's high-water mark (VmHWM; ru_maxrss would carry the pytest
# parent's over the exec) minus its resident size once Python, pyarrow and a Parquet read are warm.
MEASURE = """
import json, sys
import pyarrow.parquet as pq
from pathlib import Path
from pipelines.export import export
def kb(key):
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(key))
pq.ParquetFile(sorted(Path(sys.argv[1], "shards").glob("*.parquet"))[0]).read_row_group(0)
base = kb("VmRSS")
r = export(sys.argv[1], sys.argv[2], sys.argv[3], shard_size=1000)
print(json.dumps({"rows": r.rows, "bytes": r.bytes, "growth": kb("VmHWM") - base, "seconds": r.seconds,
                  "cpu": r.cpu_seconds}))
"""


@pytest.fixture(scope="module")
def big_build(tmp_path_factory) -> tuple[Path, int]:
    """10,000 samples with 12 KB incompressible images (125 MB of images), and their image bytes."""
    pics = [png(i, side=64, noise=True) for i in range(100)]
    out = write_build(tmp_path_factory.mktemp("big") / "out", [sample(i, "chart", [pics[i % 100]])
                                                               for i in range(10_000)], rows_per_shard=2500)
    return out, sum(len(pics[i % 100]) for i in range(10_000))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["webdataset", "llava"])
def test_a_10k_row_export_holds_a_row_group_in_memory_not_the_build(big_build, tmp_path, fmt):
    build, images = big_build
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(build), fmt, str(tmp_path / fmt)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{fmt}: 10k rows, {images / 1e6:.0f} MB of images: RSS growth {m['growth'] / 1e6:.0f} MB, "
          f"{m['rows'] / m['seconds']:.0f} rows/s, {m['bytes'] / 1e6 / m['seconds']:.1f} MB/s, {m['cpu']:.1f} CPU s")
    assert m["rows"] == 10_000 and m["bytes"] > images
    assert m["growth"] < 0.75 * images  # measured: 55-60 MB for 124 MB of images, 51 MB for 2,500 rows
