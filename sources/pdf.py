"""PDF source: each page rendered by PyMuPDF and paired with its text layer, plus text-only samples.

This is DeepSeek-VL's document-OCR recipe (rendered pages paired with their exact text). Work is
planned in page ranges, so a 1,000-page PDF streams through the cluster in small units and a
resumed run redoes at most the ranges that were in flight. With `documents` on, each section of the
PDF is a unit of its own as well, which assembles one interleaved `document` sample
(sources/pdf_document.py says why it is a separate unit). Every way a PDF can be bad (empty,
not a PDF, encrypted, damaged, no pages, a page that will not render) becomes an error row with a
reason a person understands; the good pages of the same file are kept.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pymupdf

from annotators.ocr.audit import Auditor, Box, Verdict
from annotators.ocr.backend import OcrConfig
from pipelines import images
from pipelines.registry import register_source
from pipelines.resources import package_path
from pipelines.schema import image_value, meta_json, sample_id
from pipelines.stage import ConfigError, InputError, InputFile, Source, Unit, failure, find_input_files
from sources.chart.classify import chart_kind, classify_figure
from sources.chart.extract import FigureRegion, crop, crop_clip, find_figures
from sources.pdf_content import PageContent
from sources.pdf_document import Crops, Section, document_rows, page_of, plan_sections, unit_ranges
from sources.pdf_layer import LayerLine, check_layer, ocr_rows, pixel_mapper, text_lines, to_pixels

PDF_MAGIC_WINDOW = 1024  # the spec lets junk precede %PDF- within the first 1 KiB
EMBEDDED_CORPUS = package_path("sources", "corpus")

pymupdf.TOOLS.mupdf_display_errors(False)  # warnings are collected per page instead of printed
pymupdf.TOOLS.mupdf_display_warnings(False)


@dataclass(frozen=True)
class PdfConfig:
    """Rendering settings. `max_pixels` caps a page's render (giant pages are scaled down to fit);
    `strict_render` treats MuPDF errors during a render (a corrupt image stream) as a failed page;
    `figures` crops the figures and charts found on each page at `figure_dpi` as samples of their own;
    `documents` also cuts each PDF into interleaved `document` samples of at most `document_pages` pages
    (sources/pdf_document.py); `scan_max_dpi`: a scanned page (no text layer, one image covering the
    page) is rendered at its scan's own resolution, up to this, when that is finer than `dpi`, so OCR
    reads the scan's pixels rather than a reduction (`dpi` or less: scans are rendered at `dpi` too)."""

    dpi: int = 144
    max_pixels: int = 16_000_000
    pages_per_unit: int = 8
    image_format: str = "png"
    text_samples: bool = True
    strict_render: bool = True
    figures: bool = True  # also emit each figure/chart found on a page, cropped, with its caption
    figure_dpi: int = 200
    documents: bool = True  # also emit interleaved documents: sections with their figures in reading order
    document_pages: int = 20  # the most pages one document section spans
    scan_max_dpi: int = 300  # scans render at their own resolution up to this (200-dpi R-data: CER 0.054 -> 0.0045)

    def validate(self) -> None:
        if self.image_format not in ("png", "jpeg"):
            raise ConfigError(f"image_format must be png or jpeg, got {self.image_format!r}", "image_format")
        for key in ("dpi", "figure_dpi", "scan_max_dpi"):
            if not 18 <= getattr(self, key) <= 1200:
                raise ConfigError(f"{key} must be between 18 and 1200, got {getattr(self, key)}", key)
        if self.pages_per_unit < 1 or self.max_pixels < 10_000:
            raise ConfigError("pages_per_unit must be at least 1 and max_pixels at least 10000", "pages_per_unit")
        if self.document_pages < 1:
            raise ConfigError(f"document_pages must be at least 1, got {self.document_pages}", "document_pages")


def find_pdfs(inputs: Sequence[str]) -> list[InputFile]:
    """Files as given, and *.pdf under folders (recursive), in a stable order."""
    return find_input_files(inputs, (".pdf",))


@register_source(section="pdf", config=PdfConfig)
class PdfSource(Source):
    """Renders PDF pages and reads their text layer."""

    name = "pdf"
    version = "9"  # 2: figure samples; 3: text-layer lines as `ocr`, layer checks and audits; 4: documents;
    # 5: PNGs deflated at level 1 by images.pixmap_png (same pixels, other bytes, so other ids);
    # 6: documents assembled inside the page units that own their sections (same rows, other units);
    # 7: PNGs deflated by ISA-L at level 2 (same pixels, other bytes, so other ids); 8: audits read sampled lines;
    # 9: PNGs deflated by zlib-ng at level 1 (ISA-L's bytes for the same pixels varied between runs)
    item_name = "pages"

    def __init__(self, config: PdfConfig = PdfConfig(), ocr: OcrConfig | None = None):
        super().__init__(config)
        self.ocr = ocr or OcrConfig(policy="none")  # the run's [ocr]: whether text layers are audited
        self.auditor: Auditor | None = None

    @classmethod
    def from_config(cls, settings: PdfConfig | None, config: Any) -> PdfSource:
        return cls(settings or PdfConfig(), getattr(config, "ocr", None))

    def setup_key(self) -> str:
        return f"{super().setup_key()}:{self.ocr!r}"

    def setup(self) -> None:
        if self.ocr.audits:
            self.auditor = Auditor(self.ocr)
            self.auditor.setup()

    def preflight(self) -> None:
        """Load the audit backend once on the driver, so a missing one stops the run before any work."""
        if self.ocr.audits:
            Auditor(self.ocr).setup(every_pack=True)

    # -- driver side -------------------------------------------------------------------------
    def plan(self, inputs: Sequence[str], limit: int | None = None) -> list[Unit]:
        """Units of about `pages_per_unit` pages per PDF, in file order; when text layers are audited, the files'
        units are dealt round-robin, so workers start on different documents: each document's audit verdict
        is computed by the first worker that needs it while the others wait, and two workers starting on one
        long manual left one idle for the whole audit (~0.5 s a page read, several pages)."""
        per_file: list[list[Unit]] = []
        budget = math.inf if limit is None else limit
        per = max(1, self.config.pages_per_unit)
        files = find_pdfs(inputs or [str(EMBEDDED_CORPUS)])
        self.input_roots = tuple(dict.fromkeys(str(f.root) for f in files))
        for file in files:
            if budget <= 0:
                break
            path, uri = file.path, file.uri
            pages, toc = _outline(path, self.config.documents)
            if pages is None:  # cannot be opened: one unit, whose expand records why
                per_file.append([Unit(f"{uri}#document", uri, 0, {"path": str(path), "start": 0, "end": 0})])
                continue
            end_all = int(min(pages, budget))
            budget -= end_all
            state = None if self.state_dir is None else str(self.state_dir)  # where audit verdicts are kept
            sections = plan_sections(toc, end_all, self.config.document_pages) if self.config.documents else []
            units: list[Unit] = []
            per_file.append(units)
            for start, end, owned in unit_ranges(sections, end_all, per):
                params = {"path": str(path), "start": start, "end": end, "state": state}
                if owned:
                    params["sections"] = [{"document": i, **sections[i].params()} for i in owned]
                units.append(Unit(f"{uri}#pages={start}-{end}", uri, end - start, params))
        if self.ocr.audits:
            return [u for dealt in itertools.zip_longest(*per_file) for u in dealt if u is not None]
        return [u for units in per_file for u in units]

    # -- worker side -------------------------------------------------------------------------
    def expand(self, unit: Unit) -> Iterator[dict[str, Any]]:
        path, start, end = Path(unit.params["path"]), unit.params.get("start", 0), unit.params.get("end", 0)
        try:
            yield from self._expand(unit, path, start, end)
        finally:
            # MuPDF caches decoded fonts and images process-wide up to 256 MB, which a long-lived worker
            # fills and keeps (measured: RSS 104 -> 376 MB over 1,200 pages; flat at 105 MB with this).
            pymupdf.TOOLS.store_shrink(100)

    def _expand(self, unit: Unit, path: Path, start: int, end: int) -> Iterator[dict[str, Any]]:
        doc = open_pdf(path)
        with doc:
            if start == 0 and doc.is_repaired:
                yield failure(source=self.name, uri=unit.uri, locator="document", stage=self.qualified_name,
                              error_type="DamagedPDF",
                              message=f"{path.name} is damaged or truncated; MuPDF repaired it and "
                                      f"{doc.page_count} page(s) were recovered and kept for filtering")
            info = _doc_info(doc)
            verdict = self._verdict(doc, unit) if self.auditor is not None and start < end else None
            sections = unit.params.get("sections", [])
            known: dict[int, Any] | None = {} if sections else None  # pages as the documents read them
            for number in range(start, min(end, doc.page_count)):
                locator = f"page={number + 1}"
                try:
                    yield from self._page_samples(doc, number, unit.uri, locator, info, verdict, known)
                except Exception as e:  # one page failing never costs the other pages
                    yield failure(source=self.name, uri=unit.uri, locator=locator, stage=self.qualified_name,
                                  error=e, error_type=getattr(e, "error_type", "PageRenderError"),
                                  message=f"page {number + 1} of {path.name} failed to render: {e}")
            for p in sections:
                yield from self._documents(doc, p, unit.uri, path, info, known)

    def _documents(self, doc: pymupdf.Document, p: dict[str, Any], uri: str, path: Path, info: dict[str, Any],
                   known: dict[int, Any] | None) -> Iterator[dict[str, Any]]:
        """The interleaved document rows of one section the unit owns (sources/pdf_document.py), from the
        pages its page samples read; a failure is one error row for the section, never costing a page."""
        try:
            yield from document_rows(doc, Section.from_params(p), p["document"], uri, info, self.name,
                                     self.qualified_name, self.config.figures, self.config.figure_dpi,
                                     self.ocr.layer_max_garbled, known)
        except Exception as e:
            yield failure(source=self.name, uri=uri, locator=f"document={p['document'] + 1}",
                          stage=self.qualified_name, error=e, error_type=getattr(e, "error_type", "DocumentError"),
                          message=f"section {p['document'] + 1} (pages {p['first'] + 1}-{p['last'] + 1}) "
                                  f"of {path.name} could not be assembled: {e}")

    def _verdict(self, doc: pymupdf.Document, unit: Unit) -> Verdict:
        """The audit verdict of the unit's document (computed once per run, by whichever worker asks first)."""

        def has_text(n: int) -> bool:
            return bool(doc.load_page(n).get_text("text").strip())

        def read_page(n: int) -> tuple[str, np.ndarray, list[tuple[str, Box]]]:
            page = doc.load_page(n)
            content = _interpret(page)
            pix, zoom, _ = self._render(page, content)
            to_px = pixel_mapper(page, zoom)
            textpage = content.textpage()  # one extraction for the text and its lines
            lines = [(line.text, to_px(line.rect)) for line in text_lines(page, textpage)]
            return page.get_text("text", textpage=textpage), _rgb(pix), lines

        return self.auditor.verdict(unit.uri, doc.page_count, has_text, read_page, unit.params.get("state"))

    def _render(self, page: pymupdf.Page, content: PageContent,
                dpi: float | None = None) -> tuple[pymupdf.Pixmap, float, bool]:
        """The page rendered from `content` (`_interpret`'s) at `dpi` (default: the config's; scaled down to
        `max_pixels`), its zoom, and whether it was scaled down. MuPDF's warnings since `_interpret` (a broken
        content stream while interpreting, a broken image while rendering) fail a strict render."""
        rect = page.rect
        if rect.width < 1 or rect.height < 1:
            raise InputError("PageRenderError", f"page has no area ({rect.width}x{rect.height} pt)")
        zoom = (dpi or self.config.dpi) / 72
        pixels = rect.width * zoom * rect.height * zoom
        downscaled = pixels > self.config.max_pixels
        if downscaled:  # giant pages are rendered smaller, never refused nor allowed to exhaust memory
            zoom *= math.sqrt(self.config.max_pixels / pixels)
        pix = content.pixmap(zoom)
        problems = pymupdf.TOOLS.mupdf_warnings(reset=True)
        if self.config.strict_render and "error" in problems.lower():
            raise InputError("PageRenderError", "; ".join(dict.fromkeys(problems.splitlines())))
        return pix, zoom, downscaled

    def _page_samples(self, doc: pymupdf.Document, number: int, uri: str, locator: str, info: dict[str, Any],
                      verdict: Verdict | None = None, known: dict[int, Any] | None = None) -> Iterable[dict[str, Any]]:
        page = doc.load_page(number)
        content = _interpret(page)  # the page's content interpreted once: render, text layer, image boxes
        textpage = content.textpage()
        text = page.get_text("text", textpage=textpage)
        scan = None if text.strip() else scan_dpi(page, content.images)
        finer = scan is not None and scan > self.config.dpi and self.config.scan_max_dpi > self.config.dpi
        pix, zoom, downscaled = self._render(page, content, min(scan, self.config.scan_max_dpi) if finer else None)
        data = _encode(pix, self.config.image_format)
        found = page.get_text("dict", textpage=textpage)  # one extraction: the layer's lines and the figures'
        lines = text_lines(page, textpage, found)
        regions = find_figures(page, text=found, placed=content.images) if self.config.figures else []
        if known is not None:  # the unit's documents read this page from here
            known[number] = page_of(page, found, regions, self.ocr.layer_max_garbled)
        figures = [_figure_meta(r, page, zoom) for r in regions]
        boxes = list(map(pixel_mapper(page, zoom), (line.rect for line in lines)))
        check = check_layer(text, pix, boxes, [f["bbox"] for f in figures],
                            self.ocr.layer_max_garbled, self.ocr.layer_min_text_ink)
        meta = {**info, "page": number + 1, "dpi": round(zoom * 72, 2), "text_layer": bool(text.strip()),
                "downscaled": downscaled, "layer_check": check.as_meta(), "stage": self.qualified_name}
        if scan is not None:
            meta["scan_dpi"] = round(scan, 1)  # the scan's own resolution (rendered at it, capped, when finer)
        if figures:
            meta["figures"] = figures
        need = check.issue or (None if verdict is None or verdict.trusted else "audit_failed")
        ocr = None
        if need:  # OCR must read this page (under policy none, nothing will)
            meta["ocr_needed"] = need
        else:  # the layer stands in for OCR: exact lines, free
            ocr = ocr_rows(lines, page, zoom, pix.width, pix.height)
            meta["ocr_source"] = "text_layer"
        if verdict is not None and number in verdict.pages:
            meta["ocr_audit"] = {"backend": verdict.backend, "cer": verdict.pages[number]}
        yield {
            "id": sample_id(self.name, uri, locator, b"page:" + data),
            "source": self.name, "kind": "page", "uri": uri, "locator": locator,
            "image": image_value(data), "width": pix.width, "height": pix.height,
            "text": text, "ocr": ocr, "ocr_text": None if ocr is None else "\n".join(r["text"] for r in ocr),
            "meta": meta_json(meta),
        }
        if self.config.text_samples and text.strip():
            yield {
                "id": sample_id(self.name, uri, locator, "text:" + text),
                "source": self.name, "kind": "text", "uri": uri, "locator": locator,
                "text": text, "meta": meta_json({**info, "page": number + 1, "stage": self.qualified_name}),
            }
        crops = None if known is None else known[number].crops  # the unit's documents reuse the crops
        for i, region in enumerate(regions, start=1):
            yield self._figure_sample(content, region, i, lines if need is None else [], number, uri, locator, info,
                                      crops)

    def _figure_sample(self, content: PageContent, region: FigureRegion, i: int, lines: list[LayerLine], number: int,
                       uri: str, locator: str, info: dict[str, Any],
                       crops: Crops | None = None) -> dict[str, Any]:
        """A figure or chart on the page: the region cropped at `figure_dpi`, its caption as `text`, the
        words inside it (tick labels, legend) and its class in `meta`; the text-layer lines inside it as
        `ocr` when it has any (a raster figure has none, and goes to OCR). The crop is kept in `crops`, by
        bbox, when given (the same image in the unit's interleaved documents)."""
        page = content.page
        png, width, height = crop(page, region.bbox, dpi=self.config.figure_dpi, content=content)
        if crops is not None:
            crops[region.bbox] = (png, width, height)
        label, scores = classify_figure(png, region, page, content.images)
        where = f"{locator}/figure={i}"
        meta = {**info, "page": number + 1, "bbox": [round(v, 2) for v in region.bbox], "origin": region.origin,
                "figure_class": label, "class_scores": {k: round(float(v), 4) for k, v in scores.items()},
                "caption_label": region.label, "inner_text": region.inner_text, "dpi": self.config.figure_dpi,
                "stage": self.qualified_name}
        if region.caption:
            meta["caption_source"] = "pdf_caption"
        inside = [line for line in lines if _centre_in(line.rect, region.bbox)]
        ocr = None
        if inside:
            ocr = ocr_rows(inside, page, self.config.figure_dpi / 72, width, height,
                           origin=crop_clip(page, region.bbox).tl)
            meta["ocr_source"] = "text_layer"
        return {
            "id": sample_id(self.name, uri, where, b"figure:" + png),
            "source": self.name, "kind": chart_kind(label), "uri": uri, "locator": where,
            "image": image_value(png), "width": width, "height": height,
            "text": region.caption, "ocr": ocr or None,
            "ocr_text": "\n".join(r["text"] for r in ocr) if ocr else None, "meta": meta_json(meta),
        }


SCAN_COVER = 0.9  # an image over at least this share of the page makes it a scan


def _interpret(page: pymupdf.Page) -> PageContent:
    """The page's content interpreted, with MuPDF's warnings reset first, so that `_render`'s strict check
    sees exactly what this page raised."""
    pymupdf.TOOLS.mupdf_warnings(reset=True)
    return PageContent(page)


def scan_dpi(page: pymupdf.Page, placed: list[dict[str, Any]] | None = None) -> float | None:
    """The resolution (pixels per inch on the page, the coarser axis) of the one image that covers the
    page, when one does (a scanned page); None otherwise. `placed`: the page's `get_image_info()`, if known."""
    area = abs(page.rect)
    placed = page.get_image_info() if placed is None else placed
    found = [i for i in placed if abs(pymupdf.Rect(i["bbox"]) & page.rect) >= SCAN_COVER * area]
    if len(found) != 1 or not found[0].get("width") or not found[0].get("height"):
        return None
    a, b, c, d = found[0]["transform"][:4]  # the image's unit square on the page: its axes' lengths in points
    across, down = math.hypot(a, b), math.hypot(c, d)
    if across < 1 or down < 1:
        return None
    return min(found[0]["width"] / across, found[0]["height"] / down) * 72


def _encode(pix: pymupdf.Pixmap, image_format: str) -> bytes:
    """A render as the sample's image bytes; a PNG is written by `images.pixmap_png` (15x faster than
    MuPDF's writer, same pixels) and its pixels handed to the chain's stages, which then never decode it."""
    if image_format != "png":
        return pix.tobytes(image_format)
    data = images.pixmap_png(pix)
    images.remember_pixmap(data, pix)
    return data


def _figure_meta(region: FigureRegion, page: pymupdf.Page, zoom: float) -> dict[str, Any]:
    """Where a figure and its caption stand on the page image (pixels), for grounding and the ink check."""
    cap = region.caption_bbox
    return {"bbox": [round(v, 1) for v in to_pixels(pymupdf.Rect(region.bbox), page, zoom)],
            "caption": region.caption, "label": region.label,
            "caption_bbox": None if cap is None else [round(v, 1) for v in to_pixels(pymupdf.Rect(cap), page, zoom)]}


def _centre_in(rect: pymupdf.Rect, bbox: tuple[float, float, float, float]) -> bool:
    x, y = (rect.x0 + rect.x1) / 2, (rect.y0 + rect.y1) / 2
    return bbox[0] <= x <= bbox[2] and bbox[1] <= y <= bbox[3]


def _rgb(pix: pymupdf.Pixmap) -> np.ndarray:
    """A render (RGB, no alpha) as an H x W x 3 array of its own (not a view of the pixmap's memory,
    which is freed with the pixmap), without encoding it."""
    a = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.width, pix.n)
    return np.ascontiguousarray(a[:, :, :3])


def open_pdf(path: Path) -> pymupdf.Document:
    """Open a PDF or raise an InputError that says in plain words what is wrong with the file."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise InputError("UnreadableFile", f"cannot read {path}: {e.strerror}") from None
    if size == 0:
        raise InputError("EmptyFile", f"{path.name} is empty (0 bytes)")
    with path.open("rb") as f:
        head = f.read(PDF_MAGIC_WINDOW)
    if b"%PDF-" not in head:
        raise InputError("NotAPDF", f"{path.name} is not a PDF: it does not start with %PDF- "
                                    f"(first bytes: {head[:16]!r})")
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as e:
        raise InputError("DamagedPDF", f"{path.name} cannot be opened as a PDF: {e}") from None
    if doc.needs_pass:
        doc.close()
        raise InputError("EncryptedPDF", f"{path.name} is password-protected and cannot be read without "
                                         f"its password")
    if doc.page_count == 0:
        doc.close()
        raise InputError("NoPages", f"{path.name} has no pages")
    return doc


def _outline(path: Path, toc: bool) -> tuple[int | None, list[list[Any]]]:
    """The page count (None when the file cannot be opened) and, when asked, the outline (cheap: no page is read)."""
    try:
        with open_pdf(path) as doc:
            try:
                return doc.page_count, (doc.get_toc() if toc else [])
            except Exception:  # a broken outline costs only the cuts at headings
                return doc.page_count, []
    except Exception:
        return None, []


def _doc_info(doc: pymupdf.Document) -> dict[str, Any]:
    md = {k: v for k, v in (doc.metadata or {}).items() if v and k in ("title", "author", "producer", "creator")}
    return {"page_count": doc.page_count, "pdf": md}
