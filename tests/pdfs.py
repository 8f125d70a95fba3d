"""PDFs the tests make: good ones with known text, and one of every kind of bad input."""

from __future__ import annotations

import io
from pathlib import Path

import pymupdf
from PIL import Image


def text_pdf(path: Path, pages: list[str]) -> Path:
    """A PDF whose page i carries exactly the text pages[i] in its text layer."""
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page()
        page.insert_textbox(pymupdf.Rect(50, 50, 550, 800), text, fontsize=11)
    doc.save(path)
    return path


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buf, "PNG")
    return buf.getvalue()


def broken_page_pdf(path: Path) -> Path:
    """Three pages; the image on page 2 has a corrupt compressed stream, so that page cannot render right."""
    doc = pymupdf.open()
    for i in range(3):
        page = doc.new_page()
        page.insert_text((72, 72), f"Page {i + 1} of a document whose second page carries a broken image.")
        if i == 1:
            xref = page.insert_image(pymupdf.Rect(72, 100, 272, 300), stream=_png((200, 30, 30)))
    doc.update_stream(xref, b"this is not deflate data", compress=False)
    doc.xref_set_key(xref, "Filter", "/FlateDecode")  # claims to be compressed: decoding fails at render
    doc.save(path)
    return path


def bad_inputs(folder: Path) -> dict[str, Path]:
    """One file of each kind of bad PDF input, keyed by the error type the source must report."""
    folder.mkdir(parents=True, exist_ok=True)
    good = text_pdf(folder / "_good.tmp", ["A page of text that is long enough to be kept.\n" * 3] * 4).read_bytes()
    (folder / "_good.tmp").unlink()
    files = {
        "EmptyFile": folder / "zero-bytes.pdf",
        "NotAPDF": folder / "actually-html.pdf",
        "EncryptedPDF": folder / "encrypted.pdf",
        "NoPages": folder / "no-pages.pdf",
        "DamagedPDF": folder / "truncated.pdf",
    }
    files["EmptyFile"].write_bytes(b"")
    files["NotAPDF"].write_bytes(b"<!doctype html><html><body>not a pdf</body></html>\n" * 20)
    doc = pymupdf.open(stream=good, filetype="pdf")
    doc.save(files["EncryptedPDF"], encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="owner")
    files["NoPages"].write_bytes(
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n")
    files["DamagedPDF"].write_bytes(good[: len(good) // 2])
    files["PageRenderError"] = broken_page_pdf(folder / "broken-page.pdf")
    return files


LOREM = ("The survey measured water use across districts and seasons in every town of the region, "
         "and the results are summarised below for each group of customers.")


def _prose(k: int) -> str:
    """LOREM's words turned by `k` places, so no two paragraphs start alike (a running head repeats)."""
    words = LOREM.split()
    k = (5 * k) % len(words)
    return " ".join(words[k:] + words[:k])


def two_column_figures_pdf(path: Path, chapters: int = 3, pages_per_chapter: int = 3) -> Path:
    """A two-column article with an outline: each chapter starts a page with a large heading; every
    page has paragraphs "C<c>P<p> left <k>" in the left column and "... right <k>" in the right one,
    a raster figure (a 240x160 PNG) in the left column and a vector bar chart in the right one, each
    with a "Figure N." caption below it. Returns the path; `figure_boxes(path)` lists where they are."""
    doc = pymupdf.open()
    toc = []
    fig = 0
    for c in range(1, chapters + 1):
        for p in range(1, pages_per_chapter + 1):
            page = doc.new_page(width=595, height=842)
            page.insert_text((60, 40), "Water Report running head", fontsize=8)
            page.insert_text((290, 815), str(doc.page_count), fontsize=8)
            y = 70
            if p == 1:
                page.insert_text((60, 90), f"Chapter {c} Results", fontsize=20)
                toc.append([1, f"Chapter {c} Results", doc.page_count])
                y = 110
            for side, x0 in (("left", 60), ("right", 310)):
                box = pymupdf.Rect(x0, y, x0 + 225, y + 150)
                page.insert_textbox(box, f"C{c}P{p} {side} 1. " + _prose(fig), fontsize=9)
                fig += 1
                fy = y + 160
                if side == "left":  # raster figure
                    buf = io.BytesIO()
                    im = Image.new("RGB", (240, 160), (30, 90, 160))
                    for i in range(0, 240, 20):
                        im.paste((200, 60 + i // 2, 40), (i, 40, i + 10, 160))
                    im.save(buf, "PNG")
                    page.insert_image(pymupdf.Rect(x0, fy, x0 + 200, fy + 140), stream=buf.getvalue())
                else:  # vector bar chart with axes
                    shape = page.new_shape()
                    shape.draw_line((x0, fy + 140), (x0 + 200, fy + 140))
                    shape.draw_line((x0, fy), (x0, fy + 140))
                    for i, h in enumerate((60, 110, 80, 130)):
                        shape.draw_rect(pymupdf.Rect(x0 + 15 + i * 45, fy + 140 - h, x0 + 45 + i * 45, fy + 140))
                    shape.finish(color=(0, 0, 0), fill=(0.2, 0.5, 0.3))
                    shape.commit()
                page.insert_text((x0, fy + 158), f"Figure {fig}. Use by group, {side} panel.", fontsize=9)
                page.insert_textbox(pymupdf.Rect(x0, fy + 175, x0 + 225, fy + 330),
                                    f"C{c}P{p} {side} 2. " + _prose(fig + 7), fontsize=9)
    doc.set_toc(toc)
    doc.set_metadata({"title": "Water Report"})
    doc.save(path)
    return path
