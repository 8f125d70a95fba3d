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
