"""The runner on a real local Ray: bad inputs, exact resume, shards that `datasets` reads."""

import json

import pyarrow.parquet as pq
import pytest

from pipelines.config import Config
from pipelines.recipes import build_pipeline
from pipelines.runner import RunOptions, run
from pipelines.schema import ERROR_COL
from pipelines.shards import ResumeMismatch, read_shards
from sources.pdf import PdfSource

pytestmark = pytest.mark.usefixtures("ray_session")


def build(inputs, out, fresh=False, shard_rows=1000, pages_per_unit=8, ocr="none", ocr_policy="auto", **run_changes):
    cfg = Config().replace("run", inputs=tuple(str(i) for i in inputs), shard_rows=shard_rows, **run_changes)
    cfg = cfg.replace("pdf", pages_per_unit=pages_per_unit).replace("ocr", backend=ocr, policy=ocr_policy)
    opts = RunOptions.from_config(cfg, out=out, fresh=fresh, shard_rows=shard_rows)
    return run(build_pipeline(cfg), opts)


def expected_ids(inputs, **cfg):
    """Ids a direct, Ray-free expansion produces: what the run must deliver, kept or rejected."""
    src = PdfSource()
    return {r["id"] for u in src.plan([str(i) for i in inputs]) for r in _safe_expand(src, u) if not r.get(ERROR_COL)}


def _safe_expand(src, unit):
    try:
        return list(src.expand(unit))
    except Exception:
        return []


def output_ids(out):
    ids = read_shards(out).column("id").to_pylist() + read_shards(out, "rejects").column("id").to_pylist()
    assert len(ids) == len(set(ids)), "duplicate samples in the output"
    return set(ids)


def test_bad_inputs_are_recorded_and_every_good_sample_is_kept(tmp_path, corpus, bad_pdfs):
    inputs = [corpus, *bad_pdfs.values()]
    result = build(inputs, tmp_path / "out")
    errors = pq.read_table(tmp_path / "out" / "errors.parquet").to_pylist()
    by_type = {e["error_type"]: e for e in errors}
    assert set(by_type) == set(bad_pdfs), errors
    for kind, path in bad_pdfs.items():
        err = by_type[kind]
        assert err["uri"] == path.name and err["stage"] == f"pdf/{PdfSource.version}"
        assert path.name in err["message"]
    assert output_ids(tmp_path / "out") == expected_ids(inputs)
    assert result.stats["errors"] == len(errors) == 6
    assert result.stats["errors_by_type"]["EncryptedPDF"] == 1


def test_outputs_have_the_fixed_layout_and_a_manifest_that_checks_out(tmp_path, corpus):
    import hashlib

    result = build([corpus], tmp_path / "out")
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    stats = json.loads((out / "stats.json").read_text())
    assert manifest["complete"] is True and manifest["shards"]
    for shard in manifest["shards"]:
        data = (out / shard["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]
        assert pq.read_metadata(out / shard["path"]).num_rows == shard["rows"]
    # One unit per PDF: its pages and its one document section (a unit is cut only where a section starts).
    assert len(manifest["units_completed"]) == result.units_total == 3
    assert stats["kept"] == sum(s["rows"] for s in manifest["shards"]) == 18
    # The report's table and bar chart and the field notes' raster line chart are cropped as samples too,
    # and each PDF is one interleaved document.
    assert stats["items"] == 6 and stats["kept_by_kind"] == {"page": 6, "text": 6, "chart": 2, "figure": 1,
                                                             "document": 3}
    assert manifest["versions"]["source"] == f"pdf/{PdfSource.version}"


def test_hugging_face_datasets_reads_images_as_pil(tmp_path, corpus):
    datasets = pytest.importorskip("datasets")
    build([corpus], tmp_path / "out")
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "out" / "shards" / "*.parquet"), split="train")
    assert isinstance(ds.features["image"], datasets.Image)
    page = next(r for r in ds if r["kind"] == "page")
    assert page["image"].size == (page["width"], page["height"])
    assert page["text"] and json.loads(page["meta"])["versions"]["pipeline"].startswith("vlforge")
    # An interleaved document's images decode to a list of PIL images, one per <image> marker.
    assert isinstance(ds.features["images"].feature, datasets.Image)
    doc = next(r for r in ds if r["kind"] == "document" and r["images"])
    assert len(doc["images"]) == doc["text"].split("\n\n").count("<image>")
    assert all(im.size[0] > 0 for im in doc["images"])


def test_rerun_of_a_finished_run_does_no_work(tmp_path, corpus):
    build([corpus], tmp_path / "out")
    before = sorted(p.name for p in (tmp_path / "out" / "shards").iterdir())
    again = build([corpus], tmp_path / "out")
    assert again.units_run == 0 and again.stats["kept"] == 18
    assert sorted(p.name for p in (tmp_path / "out" / "shards").iterdir()) == before


def test_resume_after_a_crash_between_commits_is_exact(tmp_path, corpus):
    """Units split across small shards; a crash leaves later parts unrecorded and a unit half-committed."""
    full = build([corpus], tmp_path / "full", shard_rows=3, pages_per_unit=2)
    out = tmp_path / "crashed"
    build([corpus], out, shard_rows=3, pages_per_unit=2)
    journal = out / ".commits.jsonl"
    commits = [json.loads(line) for line in journal.read_text().splitlines()]
    # What the journal held when the driver died: the first commits, up to one that leaves a unit half done,
    # and half a line of the next one.
    cut = next(k for k in range(1, len(commits)) if any(n < total for n, total in _unit_rows(commits[:k]).values()))
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:cut]) + lines[cut][: len(lines[cut]) // 2])
    (out / ".tmp").mkdir(exist_ok=True)
    (out / ".tmp" / "half-written.parquet").write_bytes(b"PAR1 garbage")
    done = sum(n == total for n, total in _unit_rows(commits[:cut]).values())
    resumed = build([corpus], out, shard_rows=3, pages_per_unit=2)
    assert resumed.units_run == resumed.units_total - done
    assert output_ids(out) == output_ids(tmp_path / "full")
    assert resumed.stats["kept"] == full.stats["kept"] and resumed.stats["dropped"] == full.stats["dropped"]
    assert not (out / ".tmp").exists()


def _unit_rows(commits):
    seen = {}
    for c in commits:
        for u, (n, total) in c["units"].items():
            seen.setdefault(u, [0, total])[0] += n
    return seen


def test_resume_with_other_settings_is_refused_and_fresh_starts_over(tmp_path, corpus):
    build([corpus], tmp_path / "out")
    with pytest.raises(ResumeMismatch, match="--fresh"):
        build([corpus], tmp_path / "out", pages_per_unit=1)
    redone = build([corpus], tmp_path / "out", pages_per_unit=1, fresh=True)
    # pages_per_unit = 1 cannot split a PDF's one section: a unit per section, that is per PDF
    assert redone.units_run == redone.units_total == 3


def test_limit_stops_after_n_pages(tmp_path, corpus):
    result = build([corpus], tmp_path / "out", limit=4)
    assert result.items == 4 and result.stats["kept_by_kind"]["page"] == 4
