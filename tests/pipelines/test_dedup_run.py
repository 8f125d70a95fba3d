"""Dedup across a whole run on Ray: the same PDF twice, a page re-rendered as a scan, an edited paragraph."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pymupdf
import pytest

from pipelines.config import Config
from pipelines.recipes import build_pipeline
from pipelines.runner import RunOptions, run
from pipelines.shards import read_shards
from tests.filters.test_dedup import PARAGRAPH
from tests.pdfs import text_pdf

pytestmark = pytest.mark.usefixtures("ray_session")


def build(inputs, out, **run_changes):
    cfg = Config().replace("run", inputs=tuple(str(i) for i in inputs), **run_changes).replace("ocr", backend="none")
    opts = RunOptions.from_config(cfg, out=out)
    return run(build_pipeline(cfg), opts)


def scan_of(src, page: int, dpi: int, dest):
    """A one-page PDF holding only a raster of another PDF's page: the same page, re-rendered, no text."""
    pix = pymupdf.open(src)[page].get_pixmap(dpi=dpi)
    doc = pymupdf.open()
    p = doc.new_page(width=pix.width * 72 / dpi, height=pix.height * 72 / dpi)
    p.insert_image(p.rect, pixmap=pix)
    doc.save(dest)
    return dest


@pytest.fixture(scope="module")
def dup_corpus(tmp_path_factory, corpus):
    d = tmp_path_factory.mktemp("dups")
    shutil.copy(corpus / "annual_report.pdf", d / "a_report.pdf")
    shutil.copy(corpus / "annual_report.pdf", d / "b_report_copy.pdf")  # the same PDF again
    scan_of(corpus / "field_notes.pdf", 0, 100, d / "c_scan.pdf")  # page 1 of field_notes, re-rendered
    shutil.copy(corpus / "field_notes.pdf", d / "d_notes.pdf")
    text_pdf(d / "e_para.pdf", [PARAGRAPH])
    # Two words added near the start: word 5-gram Jaccard 0.83 (over dedup's 0.8), and every line reflows.
    text_pdf(d / "f_para_edited.pdf", [PARAGRAPH.replace("wet Tuesday", "rainy and windy Tuesday")])
    return d


def test_duplicates_move_to_rejects_with_the_id_of_the_copy_kept(tmp_path, dup_corpus):
    result = build([dup_corpus], tmp_path / "out")
    out = tmp_path / "out"
    kept, rejects = read_shards(out), read_shards(out, "rejects")
    kept_ids = set(kept.column("id").to_pylist())
    dups = {r["id"]: r for r in rejects.to_pylist() if (r["drop_reason"] or "").startswith("duplicate_of:")}
    by_uri = {}
    for r in dups.values():
        by_uri.setdefault(r["uri"].rsplit("/", 1)[-1], []).append(r)
        assert r["drop_reason"].split(":", 1)[1] in kept_ids  # the copy it repeats is in the shards
        assert json.loads(r["meta"])["dedup"]["method"] in {"exact_image", "exact_text", "near_image", "near_text"}
    # The copy of the report: all 3 pages, 3 texts, 2 figures (table, chart) and its document, exactly;
    # which file's copy is kept is decided by the ids (same pixels and text) and must not change between runs.
    assert len(by_uri.pop("b_report_copy.pdf", [])) + len(by_uri.pop("a_report.pdf", [])) == 9
    # The scan re-rendered at 100 dpi is a near duplicate of the 144-dpi render of the same page.
    notes_or_scan = by_uri.pop("c_scan.pdf", []) + by_uri.pop("d_notes.pdf", [])
    assert [r["kind"] for r in notes_or_scan] == ["page"]
    assert json.loads(notes_or_scan[0]["meta"])["dedup"]["method"] == "near_image"
    # The edited paragraph: its text sample repeats the original's. Its page is kept: the edit reflows
    # the lines, and the renders differ visibly (24 of 256 pHash bits), which is a different picture.
    para = by_uri.pop("e_para.pdf", []) + by_uri.pop("f_para_edited.pdf", [])
    assert sorted(r["kind"] for r in para) == ["document", "text"]  # a document is compared with documents only
    assert {json.loads(r["meta"])["dedup"]["method"] for r in para} == {"near_text"}
    assert not by_uri, f"unexpected duplicates: {by_uri}"
    # Nothing is lost: every sample is in the shards or the rejects, once.
    assert len(kept_ids) + rejects.num_rows == len(kept_ids | set(rejects.column("id").to_pylist()))
    # Stats: counts agree with the files, and the funnel shows the duplicates per source.
    stats = json.loads((out / "stats.json").read_text())
    assert stats["kept"] == kept.num_rows and stats["dedup"]["duplicates"] == len(dups) == 12
    assert stats["funnel"]["pdf"]["out"] == kept.num_rows
    assert sum(n for k, n in stats["funnel"]["pdf"]["dropped"].items() if k.startswith("duplicate")) == 12
    assert result.stats["dedup"]["by_method"]["exact_image"] == 5
    manifest = json.loads((out / "manifest.json").read_text())
    assert sum(s["rows"] for s in manifest["shards"]) == kept.num_rows
    decisions = pq.read_table(out / "duplicates.parquet")
    assert set(decisions.column("id").to_pylist()) == set(dups)


def test_the_global_pass_is_idempotent_and_the_kept_copy_never_changes(tmp_path, dup_corpus):
    out = tmp_path / "out"
    build([dup_corpus], out, shard_rows=4)  # several shards, so several rewrites
    first = pq.read_table(out / "duplicates.parquet").to_pylist()
    kept = sorted(read_shards(out).column("id").to_pylist())
    # Forget that the pass ran (as if killed after rewriting shards): rerunning reaches the same result.
    (out / ".global" / "state.json").unlink()
    build([dup_corpus], out, shard_rows=4)
    assert pq.read_table(out / "duplicates.parquet").to_pylist() == first
    assert sorted(read_shards(out).column("id").to_pylist()) == kept
    rejects = read_shards(out, "rejects").column("id").to_pylist()
    assert len(rejects) == len(set(rejects))
    # A fresh run into another folder keeps the very same copies.
    build([dup_corpus], tmp_path / "again", shard_rows=4)
    assert pq.read_table(tmp_path / "again" / "duplicates.parquet").to_pylist() == first


def test_dedup_can_be_turned_off(tmp_path, dup_corpus):
    cfg = Config().replace("run", inputs=(str(dup_corpus),)).replace("ocr", backend="none")
    cfg = cfg.replace("dedup", enabled=False)
    opts = RunOptions.from_config(cfg, out=tmp_path / "o")
    result = run(build_pipeline(cfg), opts)
    assert "dedup" not in result.stats and not (tmp_path / "o" / "duplicates.parquet").exists()
