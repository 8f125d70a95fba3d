"""Local documents for the browser: HTML files and EPUB books, laid out with a page template.

DeepSeek-VL built its e-book OCR data by rendering text in a browser into page images paired with
their text. A document is served to Chromium under a reserved host (see `render.DOCUMENT_HOST`)
from its folder or from inside its EPUB zip, so relative images and stylesheets work and nothing
reaches the network. A template sets the page size, fonts and colours over the document's own style.
"""

from __future__ import annotations

import mimetypes
import posixpath
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

from pipelines.stage import InputError, InputFile, find_input_files

DOCUMENT_SUFFIXES = (".html", ".htm", ".xhtml", ".epub")


@dataclass(frozen=True)
class PageTemplate:
    """A page layout: page size in CSS px, and the look the text takes on it."""

    name: str
    width: int
    height: int
    font: str
    size_px: int
    line_height: float
    colour: str
    background: str
    margin_px: int

    @property
    def background_rgb(self) -> tuple[int, int, int]:
        h = self.background.lstrip("#")
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)

    def css(self) -> str:
        return f"""
html, body {{ background: {self.background} !important; color: {self.colour} !important; }}
body {{ font-family: {self.font} !important; font-size: {self.size_px}px !important;
       line-height: {self.line_height} !important; margin: 0 !important; padding: {self.margin_px}px !important;
       max-width: none !important; }}
body * {{ font-family: inherit !important; color: inherit !important; background-color: transparent !important;
         max-width: 100% !important; }}
img, svg, video {{ height: auto !important; }}
pre, code {{ white-space: pre-wrap !important; }}
"""


TEMPLATES: dict[str, PageTemplate] = {t.name: t for t in (
    PageTemplate("book", 768, 1024, '"DejaVu Serif", "Noto Serif CJK SC", "Noto Sans CJK SC", serif', 19, 1.55,
                 "#231f1a", "#fbf6ea", 64),
    PageTemplate("modern", 1024, 1024, '"DejaVu Sans", "Noto Sans CJK SC", sans-serif', 17, 1.6,
                 "#1b1f27", "#ffffff", 80),
    PageTemplate("dark", 1024, 1024, '"DejaVu Sans", "Noto Sans CJK SC", sans-serif', 17, 1.6,
                 "#e6e6e6", "#1e1f24", 80),
    PageTemplate("compact", 640, 960, '"DejaVu Sans Condensed", "DejaVu Sans", "Noto Sans CJK SC", sans-serif', 15,
                 1.4, "#111111", "#ffffff", 36),
)}


def find_documents(inputs: Sequence[str]) -> list[InputFile]:
    """HTML and EPUB files as given, and under folders (recursive), in a stable order."""
    return find_input_files(inputs, DOCUMENT_SUFFIXES)


class DocumentFiles:
    """The files of one document, by path under the document host: a folder, or an EPUB's zip."""

    def __init__(self, path: Path):
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        if path.suffix.lower() == ".epub":
            try:
                self.zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as e:
                raise InputError("BadEpub", f"{path.name} is not a readable EPUB (zip): {e}") from None

    def chapters(self) -> list[str]:
        """The paths to render, in reading order: the spine of an EPUB, or the HTML file itself."""
        if self.zip is None:
            return [self.path.name]
        try:
            container = ElementTree.fromstring(self.zip.read("META-INF/container.xml"))
            opf_path = next(e.get("full-path") for e in container.iter() if e.tag.endswith("rootfile"))
            opf = ElementTree.fromstring(self.zip.read(opf_path))
        except (KeyError, StopIteration, ElementTree.ParseError) as e:
            raise InputError("BadEpub", f"{self.path.name}: no readable META-INF/container.xml or package file ({e})") \
                from None
        base = posixpath.dirname(opf_path)
        items = {e.get("id"): e.get("href") for e in opf.iter() if e.tag.endswith("}item") or e.tag == "item"}
        spine = [e.get("idref") for e in opf.iter() if e.tag.endswith("itemref") or e.tag == "itemref"]
        paths = [posixpath.normpath(posixpath.join(base, items[i])) for i in spine if items.get(i)]
        if not paths:
            raise InputError("BadEpub", f"{self.path.name}: the package lists no chapters in its spine")
        return paths

    def read(self, url_path: str) -> tuple[bytes, str] | None:
        """Bytes and content type of a path under the document host, or None outside the document."""
        rel = PurePosixPath(url_path.lstrip("/"))
        if ".." in rel.parts:
            return None
        ctype = mimetypes.guess_type(rel.name)[0] or "application/octet-stream"
        if ctype == "application/xhtml+xml":
            ctype = "application/xhtml+xml; charset=utf-8"
        if self.zip is not None:
            try:
                return self.zip.read(str(rel)), ctype
            except KeyError:
                return None
        file = (self.path.parent / rel).resolve()
        if not file.is_file() or self.path.parent.resolve() not in file.parents:
            return None
        return file.read_bytes(), ctype

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()
