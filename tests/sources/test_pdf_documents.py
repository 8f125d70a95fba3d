"""PDF interleaved documents: sections cut at the outline, two-column reading order, figure crops with
their captions where they stand, running heads dropped, stable ids, and document rows from a Ray run."""

import io
import json
import shutil

import pymupdf
import pytest
from PIL import Image

from pipelines.config import Config
from pipelines.documents import IMAGE_MARKER, check, paragraphs
from pipelines.recipes import build_pipeline
from pipelines.runner import RunOptions, run
from pipelines.shards import read_shards
from pipelines.stage import ConfigError
from sources.pdf import PdfConfig, PdfSource
from sources.pdf_document import Section, plan_sections
from tests.pdfs import two_column_figures_pdf


def rows_of(src, inputs):
    return [r for u in src.plan([str(p) for p in inputs]) for r in src.expand(u)]


def documents(rows):
    return [r for r in rows if r["kind"] == "document"]


@pytest.fixture(scope="module")
def article(tmp_path_factory):
    return two_column_figures_pdf(tmp_path_factory.mktemp("article") / "report.pdf")


@pytest.fixture(scope="module")
def article_rows(article):
    return rows_of(PdfSource(PdfConfig(document_pages=3)), [article])


def test_sections_are_cut_at_outline_headings_within_document_pages(article_rows):
    docs = documents(article_rows)
    metas = [json.loads(d["meta"]) for d in docs]
    assert [m["pages"] for m in metas] == [[1, 3], [4, 6], [7, 9]]
    assert [m["headings"] for m in metas] == [[f"Chapter {c} Results"] for c in (1, 2, 3)]
    assert all(paragraphs(d["text"])[0] == f"Chapter {c} Results" for c, d in enumerate(docs, start=1))
    assert all(m["title"] == "Water Report" and m["section_title"] == f"Chapter {c} Results"
               for c, m in enumerate(metas, start=1))
    assert all(d["uri"] == "report.pdf" and d["source"] == "pdf" for d in docs)


def test_two_columns_read_left_then_right_with_each_figure_and_caption_where_it_stands(article_rows):
    doc = documents(article_rows)[0]
    paras = paragraphs(doc["text"])
    check(doc["text"], doc["images"], json.loads(doc["meta"])["images"])
    expected = ["Chapter 1 Results"]
    fig = 0
    for p in (1, 2, 3):
        for side in ("left", "right"):
            fig += 1
            expected += [f"C1P{p} {side} 1.", IMAGE_MARKER, f"Figure {fig}. Use by group, {side} panel.",
                         f"C1P{p} {side} 2."]
    assert [x if x == IMAGE_MARKER or x.startswith(("Chapter", "Figure")) else " ".join(x.split()[:3])
            for x in paras] == expected
    assert doc["text"].count("Figure 1.") == 1  # the caption follows its image and is not repeated
    assert "running head" not in doc["text"] and "\n\n2\n\n" not in doc["text"]  # heads and page numbers dropped


def test_images_are_the_figure_crops_with_their_page_and_bbox(article_rows):
    figures = {(json.loads(r["meta"])["page"], r["text"]): r for r in article_rows if r["kind"] in ("figure", "chart")}
    assert len(figures) == 18
    seen = 0
    for doc in documents(article_rows):
        infos = json.loads(doc["meta"])["images"]
        for image, info in zip(doc["images"], infos, strict=True):
            fig = figures[(info["page"], info["caption"])]
            assert image["bytes"] == fig["image"]["bytes"]  # the very crop the figure sample carries
            assert Image.open(io.BytesIO(image["bytes"])).size == (info["width"], info["height"])
            assert (info["width"], info["height"]) == (fig["width"], fig["height"])
            assert info["bbox"] == json.loads(fig["meta"])["bbox"] and info["bbox_unit"] == "pt"
            assert info["caption_source"] == "pdf_caption" and info["label"].startswith("Figure")
            assert info["format"] == "png"
            seen += 1
        # the raster figure is 200 x 133 pt in the left column, the vector chart in the right one
        assert infos[0]["bbox"][0] == 60.0 and round(infos[0]["bbox"][2] - infos[0]["bbox"][0]) == 200
        assert infos[1]["bbox"][0] >= 300
    assert seen == 18


def test_figure_samples_name_their_caption_source(article_rows):
    figs = [json.loads(r["meta"]) for r in article_rows if r["kind"] in ("figure", "chart")]
    assert figs and all(m["caption_source"] == "pdf_caption" for m in figs)


def test_shorter_limits_cut_more_sections_and_lose_or_repeat_nothing(article):
    rows = rows_of(PdfSource(PdfConfig(document_pages=2, figures=True)), [article])
    docs = documents(rows)
    pages = [json.loads(d["meta"])["pages"] for d in docs]
    assert all(b - a + 1 <= 2 for a, b in pages)
    text = "\n\n".join(d["text"] for d in docs)
    for c in (1, 2, 3):
        for p in (1, 2, 3):
            for side in ("left", "right"):
                for k in (1, 2):
                    assert text.count(f"C{c}P{p} {side} {k}. ") == 1, (c, p, side, k)
    assert text.count(IMAGE_MARKER) == sum(len(d["images"]) for d in docs) == 18


def test_a_section_starting_mid_page_is_cut_at_its_heading_line(tmp_path):
    doc = pymupdf.open()
    for n in range(4):
        page = doc.new_page()
        page.insert_text((72, 100), f"Body text of page {n + 1} before any new heading starts here.", fontsize=11)
        if n == 1:
            page.insert_text((72, 300), "Section B", fontsize=16)
        page.insert_text((72, 400), f"Closing text of page {n + 1} sits lower on the page.", fontsize=11)
    doc.set_toc([[1, "Part", 1], [2, "Section A", 1], [2, "Section B", 2], [2, "Section C", 4]])
    doc.save(tmp_path / "mid.pdf")
    docs = documents(rows_of(PdfSource(PdfConfig(document_pages=2, figures=False)), [tmp_path / "mid.pdf"]))
    texts = [d["text"] for d in docs]
    assert "Closing text of page 1" in texts[0] and "Body text of page 2" in texts[0]
    assert paragraphs(texts[1])[0] == "Section B" and "Closing text of page 2" in texts[1]
    assert "Closing text of page 2" not in texts[0] and "Body text of page 2" not in texts[1]
    joined = "\n".join(texts)
    assert all(joined.count(f"text of page {n}") == 2 for n in (1, 2, 3, 4))


def test_plan_sections_packs_sub_entries_and_splits_long_runs():
    toc = [[1, "One", 1], [2, "a", 1], [2, "b", 5], [2, "c", 9], [1, "Two", 30]]
    sections = plan_sections(toc, 60, 10)
    assert all(s.last - s.first + 1 <= 10 for s in sections)
    # "a" and "b" packed up to the page "c" starts on; above the first heading is that section's page top
    assert sections[0] == Section(0, 8, None, "c", "toc", "One", ((0, "One"), (0, "a"), (4, "b"), (8, "c")))
    assert sections[1] == Section(8, 17, "c", None, "toc", "c", ((8, "c"),))
    assert Section.from_params(sections[0].params()) == sections[0]  # what a unit carries to the worker
    assert [s.head for s in sections].count("Two") == 1
    assert plan_sections([], 45, 20) == [Section(0, 19, cut="pages"), Section(20, 39, cut="pages"),
                                         Section(40, 44, cut="pages")]


def test_ids_are_stable_whatever_folder_the_file_sits_in(tmp_path, article, article_rows):
    for folder in (tmp_path / "a", tmp_path / "b" / "deeper"):
        folder.mkdir(parents=True)
        shutil.copy(article, folder / "report.pdf")
    a = [d["id"] for d in documents(rows_of(PdfSource(PdfConfig(document_pages=3)), [tmp_path / "a"]))]
    b = [d["id"] for d in documents(rows_of(PdfSource(PdfConfig(document_pages=3)), [tmp_path / "b" / "deeper"]))]
    assert a == b == [d["id"] for d in documents(article_rows)] and len(set(a)) == 3


def test_a_page_without_a_text_layer_is_noted_and_keeps_its_neighbours(tmp_path):
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 100), "A born-digital first page with a text layer.", fontsize=11)
    scan = doc.new_page()
    buf = io.BytesIO()
    Image.new("L", (600, 800), 255).save(buf, "PNG")
    scan.insert_image(scan.rect, stream=buf.getvalue())  # a scan: a page-sized image, no text
    doc.new_page().insert_text((72, 100), "A third page with text again.", fontsize=11)
    doc.save(tmp_path / "scan.pdf")
    (d,) = documents(rows_of(PdfSource(), [tmp_path / "scan.pdf"]))
    meta = json.loads(d["meta"])
    assert meta["pages_without_text"] == [2] and meta["pages"] == [1, 3]
    assert "first page" in d["text"] and "third page" in d["text"] and d["images"] == []
    assert d.get("keep", True) is True
    only = pymupdf.open()
    only.insert_pdf(pymupdf.open(tmp_path / "scan.pdf"), from_page=1, to_page=1)
    only.save(tmp_path / "only-scan.pdf")
    (empty,) = documents(rows_of(PdfSource(), [tmp_path / "only-scan.pdf"]))  # a drop with its reason, no error
    assert empty["keep"] is False and empty["drop_reason"] == "pdf:empty_document" and empty["text"] == ""
    assert json.loads(empty["meta"])["pages_without_text"] == [1]


def test_documents_can_be_turned_off_and_document_pages_is_checked(article):
    src = PdfSource(PdfConfig(documents=False))
    assert not any("document" in u.params for u in src.plan([str(article)]))
    with pytest.raises(ConfigError, match="document_pages"):
        PdfConfig(document_pages=0).validate()


@pytest.mark.usefixtures("ray_session")
def test_a_ray_run_writes_document_rows_into_the_shards(tmp_path, article):
    cfg = Config().replace("run", inputs=(str(article),)).replace("pdf", document_pages=3)
    cfg = cfg.replace("ocr", backend="none", policy="none")
    result = run(build_pipeline(cfg), RunOptions.from_config(cfg, out=tmp_path / "out"))
    table = read_shards(tmp_path / "out").to_pylist() + read_shards(tmp_path / "out", "rejects").to_pylist()
    docs = [r for r in table if r["kind"] == "document"]
    assert len(docs) == 3 and result.stats["errors"] == 0
    for d in docs:
        check(d["text"], d["images"], json.loads(d["meta"])["images"])
        assert len(d["images"]) == 6 and all(Image.open(io.BytesIO(i["bytes"])).format == "PNG" for i in d["images"])
    direct = {d["id"] for d in documents(rows_of(PdfSource(PdfConfig(document_pages=3)), [article]))}
    assert {d["id"] for d in docs} == direct


@pytest.mark.usefixtures("ray_session")
def test_a_run_cut_off_between_commits_resumes_to_the_same_documents(tmp_path, article):
    cfg = Config().replace("run", inputs=(str(article),), shard_rows=4).replace("pdf", document_pages=3,
                                                                                 pages_per_unit=3)
    # no global pass: a driver dying halfway through the unit commits has not run it yet
    cfg = cfg.replace("ocr", backend="none", policy="none").replace("dedup", enabled=False)

    def build(out):
        result = run(build_pipeline(cfg), RunOptions.from_config(cfg, out=out, shard_rows=4))
        rows = read_shards(out).to_pylist() + read_shards(out, "rejects").to_pylist()
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)), "duplicate samples"
        return result, set(ids), {r["id"] for r in rows if r["kind"] == "document"}

    _, full, full_docs = build(tmp_path / "full")
    out = tmp_path / "cut"
    build(out)
    journal = out / ".commits.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[: len(lines) // 2]))  # the driver died halfway through the commits
    resumed, ids, docs = build(out)
    assert 0 < resumed.units_run < resumed.units_total
    assert ids == full and docs == full_docs and len(docs) == 3
