"""A PDF as interleaved documents: sections of at most `pdf.document_pages` pages, text and figures in reading order.

DeepSeek-VL's largest slice is interleaved image-text data, PDF textbooks among it. The PDF source
already has what such a document needs: the text layer with its line boxes and the figure crops with
their captions (`sources.chart.extract`). This module cuts a PDF into sections and assembles each one
with `pipelines.documents.DocumentBuilder`:

* Sections: the outline (`get_toc()`) first. Its top-level entries cut the PDF; a section longer than
  `document_pages` is cut at its sub-entries (consecutive ones packed up to the limit), and one with no
  deeper entries at fixed page counts. A section may begin or end in the middle of a page: the cut is
  the heading line whose text is the entry's title; when no line on that page reads so, the whole page
  goes to the later section (both neighbours apply the same rule, so no text is lost or doubled).
  Without an outline the PDF is cut into windows of `document_pages` pages, and inside a window a new
  section starts at each page whose first line is a large-font heading.
* Units: page units are cut only where a section starts (`unit_ranges`), so each unit owns whole
  sections and assembles their documents from the pages its page samples have just read (`page_of`):
  a page's text and figures are read once. A unit holds about `pages_per_unit` pages, more when one
  section is longer (at most `document_pages`); the runner's manifest commits units whole, so a rerun
  after a kill redoes only unfinished units and a section is always in one row. A section ending on
  the page where the next unit starts reads that page, and the furniture context of a short section,
  itself. Planning reads only the outline, on the driver (octave's 1,158 pages: 0.17 s).
* Reading order: the page's text lines (figure inner text and captions left out) and one box per figure
  (with its caption) are ordered by the OCR stage's recursive XY-cut, so a two-column page reads left
  column, then right, with each figure where it stands. Lines of one layer block make one paragraph
  (joined with a space where a line runs to the block's edge, else a line break); headings (outline
  titles and large-font lines) are paragraphs of their own, recorded in `meta.headings`.
* Each figure is the crop the figure samples use (same bytes, PNG at `figure_dpi`), followed by its
  caption as the next paragraph; `meta.images[i]` holds `page` (1-based), `bbox` in PDF points of the
  unrotated page (`bbox_unit = "pt"`), caption, `caption_source = "pdf_caption"`, label, width,
  height, format.
* Running heads and feet: lines in the top or bottom margin repeated at the same height (digits
  ignored) on at least half the pages around them, and bare page numbers there, are dropped.
* Scanned pages: the text comes from the text layer only (OCR runs after the source, on page samples).
  A page with no usable layer (none, or garbled beyond `ocr.layer_max_garbled`) adds only its figures,
  and is listed in `meta.pages_without_text`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pymupdf

from annotators.ocr.backend import OcrLine, reading_order
from filters.text import garbled_frac
from filters.textkit import CJK_UNSPACED
from pipelines.documents import DocumentBuilder
from pipelines.schema import DOCUMENT_KIND, meta_json, sample_id
from sources.chart.extract import FigureRegion, crop, find_figures

HEADING_SCALE = 1.2  # a line this much larger than the body text is a heading
PAGE_HEADING_SCALE = 1.3  # without an outline, a page starting with a line this large starts a section
HEADING_MAX_WORDS = 20
MARGIN_SHARE = 0.1  # running heads and feet stand in the top or bottom tenth of the page
FURNITURE_SHARE = 0.5  # ... and repeat on at least half the pages around them
FURNITURE_MAX_WORDS = 12  # longer lines are prose, whatever they repeat
FURNITURE_CONTEXT = 2  # pages either side of a short section read for that count
_PAGE_NUMBER = re.compile(r"(?:page\s*)?(?:\d{1,4}|[ivxlc]{1,6})(?:\s*(?:/|of)\s*\d+)?|[-–—]\s*\d+\s*[-–—]",
                          re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_HYPHENATED = re.compile(r"[a-z]-$")
_CJK = re.compile(CJK_UNSPACED)


@dataclass(frozen=True)
class Section:
    """Pages `first`..`last` (0-based, inclusive) of a PDF; it begins at the heading `head` on `first`
    (at the page top when None) and ends before the heading `stop` on `last` (at its end when None)."""

    first: int
    last: int
    head: str | None = None
    stop: str | None = None
    cut: str = "toc"  # "toc" | "pages": how the section was found
    name: str | None = None  # the outline entry that names it
    titles: tuple[tuple[int, str], ...] = ()  # (page, title) of the outline entries on its pages: headings

    def params(self) -> dict[str, Any]:
        return {"first": self.first, "last": self.last, "head": self.head, "stop": self.stop, "cut": self.cut,
                "name": self.name, "titles": [list(t) for t in self.titles]}

    @staticmethod
    def from_params(p: dict[str, Any]) -> Section:
        return Section(p["first"], p["last"], p.get("head"), p.get("stop"), p.get("cut", "toc"), p.get("name"),
                       tuple((int(n), str(t)) for n, t in p.get("titles", ())))


# -- planning (driver) ------------------------------------------------------------------------------

Boundary = tuple[int, int, "str | None"]  # (page, outline index or -1 for the page top, title or None)


def plan_sections(toc: list[list[Any]], pages: int, limit: int) -> list[Section]:
    """Sections of at most `limit` pages over the first `pages` pages, cut at outline entries where it can."""
    entries = [(int(p) - 1, i, str(t).strip(), int(lvl)) for i, (lvl, t, p, *_) in enumerate(toc)
               if 1 <= int(p) <= pages and str(t).strip()]
    if not entries:
        return [Section(a, min(a + limit, pages) - 1, cut="pages") for a in range(0, pages, limit)]
    top = min(e[3] for e in entries)
    bounds: list[Boundary] = sorted([(0, -1, None)] + [(p, i, t) for p, i, t, lvl in entries if lvl == top])
    starts: list[Boundary] = []
    for k, a in enumerate(bounds):
        b = bounds[k + 1] if k + 1 < len(bounds) else (pages, -1, None)
        starts += _refine(a, b, [e for e in entries if a[:2] < e[:2] < b[:2] and e[3] > top], limit)
    # a page-top start followed by a heading on the same page is one start (at the top, named by the
    # heading): what stands above a chapter's heading is its page's running head, never a section
    names: dict[int, str] = {}
    merged: list[Boundary] = []
    for b in starts:
        if (merged and merged[-1][2] is None and len(merged) - 1 not in names and b[0] == merged[-1][0]
                and b[2] is not None):
            names[len(merged) - 1] = b[2]
            continue
        merged.append(b)
    sections = []
    for k, (page, _, head) in enumerate(merged):
        nxt = merged[k + 1] if k + 1 < len(merged) else (pages, -1, None)
        last = nxt[0] if nxt[2] is not None else nxt[0] - 1
        if last >= page:
            titles = tuple((p, t) for p, _, t, _ in entries if page <= p <= last)
            sections.append(Section(page, last, head, nxt[2], "toc" if head or nxt[2] or k in names else "pages",
                                    head or names.get(k), titles))
    return sections


def unit_ranges(sections: list[Section], pages: int, per: int) -> list[tuple[int, int, list[int]]]:
    """Page ranges `[start, end)` over the first `pages` pages, each with the indexes of the sections
    that start in it: cut only where a section starts, packing consecutive sections while the range
    stays within `per` pages (a longer section is a range of its own). No sections: ranges of `per`."""
    if not sections:
        return [(a, min(a + per, pages), []) for a in range(0, pages, per)]
    starts = sorted({0, *(s.first for s in sections if 0 < s.first < pages)})
    cuts = [0]
    for k, a in enumerate(starts[1:], start=1):
        after = starts[k + 1] if k + 1 < len(starts) else pages  # where the section starting at `a` ends
        if a > cuts[-1] and after - cuts[-1] > per:
            cuts.append(a)
    ranges = list(zip(cuts, [*cuts[1:], pages], strict=True))
    owned: list[list[int]] = [[] for _ in ranges]
    for i, s in enumerate(sections):
        owned[max(k for k, (a, _) in enumerate(ranges) if a <= min(max(s.first, 0), pages - 1))].append(i)
    return [(a, b, o) for (a, b), o in zip(ranges, owned, strict=True)]


def _span(a: Boundary, b: Boundary) -> int:
    """Pages a section from boundary `a` up to boundary `b` touches."""
    return b[0] - a[0] + (1 if b[2] is not None else 0)


def _refine(a: Boundary, b: Boundary, inner: list[tuple[int, int, str, int]], limit: int) -> list[Boundary]:
    """Start boundaries from `a` up to `b` so that no section spans more than `limit` pages: at the
    shallowest outline entries inside, consecutive ones packed while they fit, else every `limit` pages."""
    if _span(a, b) <= limit:
        return [a]
    if not inner:
        out, cur = [a], a
        while _span(cur, b) > limit:
            cur = (cur[0] + limit, -1, None)
            out.append(cur)
        return out
    level = min(e[3] for e in inner)
    cuts: list[Boundary] = [(p, i, t) for p, i, t, lvl in inner if lvl == level]
    starts = [a]
    for k, c in enumerate(cuts):
        end = cuts[k + 1] if k + 1 < len(cuts) else b
        if _span(starts[-1], end) > limit:
            starts.append(c)
    out: list[Boundary] = []
    for k, s in enumerate(starts):
        e = starts[k + 1] if k + 1 < len(starts) else b
        out += _refine(s, e, [d for d in inner if s[:2] < d[:2] < e[:2] and d[3] > level], limit)
    return out


# -- assembly (worker) ------------------------------------------------------------------------------

@dataclass
class _Line:
    page: int
    block: int
    rect: pymupdf.Rect
    text: str
    size: float
    heading: bool = False


# The figure samples' crops (PNG, width, height) at the documents' dpi, by region bbox: the documents reuse them.
Crops = dict[tuple[float, float, float, float], tuple[bytes, int, int]]


@dataclass
class _Page:
    number: int
    width: float
    height: float
    lines: list[_Line]
    figures: list[FigureRegion] = field(default_factory=list)
    usable: bool = True
    crops: Crops = field(default_factory=dict)


def read_page(page: pymupdf.Page, figures: bool, max_garbled: float) -> _Page:
    """The page's text lines (with font size and layer block) and its figures."""
    found = page.get_text("dict", flags=pymupdf.TEXTFLAGS_TEXT)  # = extract.TEXT_FLAGS: shared with find_figures
    return page_of(page, found, find_figures(page, text=found) if figures else [], max_garbled)


def page_of(page: pymupdf.Page, found: dict[str, Any], regions: list[FigureRegion], max_garbled: float) -> _Page:
    """A page as the assembly reads it, from its `get_text("dict")` (TEXTFLAGS_TEXT) and figures already
    found: the page samples of the same unit hand theirs over, so a page is read once."""
    lines: list[_Line] = []
    for k, block in enumerate(found["blocks"]):
        for line in block.get("lines", ()):
            spans = [s for s in line["spans"] if s["text"].strip()]
            text = "".join(s["text"] for s in line["spans"]).strip()
            if text and spans:
                size = max(s["size"] for s in spans)
                lines.append(_Line(page.number, k, pymupdf.Rect(line["bbox"]), text, size))
    all_text = "\n".join(ln.text for ln in lines)
    usable = bool(all_text.strip()) and garbled_frac(all_text) <= max_garbled
    rect = page.rect * page.derotation_matrix
    return _Page(page.number, rect.width, rect.height, lines if usable else [], regions, usable)


def furniture(pages: list[_Page], body: float) -> set[tuple[int, int]]:
    """(page, line index) of running heads, feet and page numbers: short margin lines no larger than the
    body text (`body`, a font size) repeated at the same height (digits ignored) on at least half of
    `pages`, or of its odd or even pages, and bare page numbers in the margins."""
    keys: dict[tuple[int, int], tuple[str, int]] = {}
    counts: Counter[tuple[str, int]] = Counter()
    parity: Counter[tuple[str, int, int]] = Counter()  # books alternate heads on left and right pages
    out = set()
    for p in pages:
        seen = set()
        for i, ln in enumerate(p.lines):
            if (MARGIN_SHARE * p.height < ln.rect.y0 and ln.rect.y1 < (1 - MARGIN_SHARE) * p.height
                    or len(ln.text.split()) > FURNITURE_MAX_WORDS or (body and ln.size >= HEADING_SCALE * body)):
                continue
            if _PAGE_NUMBER.fullmatch(ln.text.strip()):
                out.add((p.number, i))
                continue
            key = (re.sub(r"\d+", "#", _norm(ln.text)), round(ln.rect.y0 / 4))
            keys[(p.number, i)] = key
            seen.add(key)
        counts.update(seen)
        parity.update((*key, p.number % 2) for key in seen)
    need = max(2, FURNITURE_SHARE * len(pages))
    sides = Counter(p.number % 2 for p in pages)
    out |= {where for where, key in keys.items()
            if counts[key] >= need or parity[(*key, where[0] % 2)] >= max(2, FURNITURE_SHARE * sides[where[0] % 2])}
    return out


def body_size(pages: list[_Page]) -> float:
    """The most common font size, weighted by characters: the body text's."""
    sizes: Counter[float] = Counter()
    for p in pages:
        for ln in p.lines:
            sizes[round(ln.size, 1)] += len(ln.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def is_heading(line: _Line, body: float, scale: float = HEADING_SCALE) -> bool:
    return body > 0 and line.size >= scale * body and len(line.text.split()) <= HEADING_MAX_WORDS


@dataclass
class _Item:
    """A thing to place in reading order: a text line, or a figure with its caption."""

    rect: pymupdf.Rect
    line: _Line | None = None
    figure: FigureRegion | None = None


def page_items(p: _Page, drop: set[tuple[int, int]]) -> list[_Item]:
    """The page's lines (less furniture, figure inner text and captions) and figures, in reading order."""
    boxes = [pymupdf.Rect(f.bbox) for f in p.figures]
    caps = [pymupdf.Rect(f.caption_bbox) for f in p.figures if f.caption_bbox]
    items = [_Item(b | pymupdf.Rect(f.caption_bbox) if f.caption_bbox else b, figure=f)
             for f, b in zip(p.figures, boxes, strict=True)]
    for i, ln in enumerate(p.lines):
        if (p.number, i) in drop or any(_centre_in(ln.rect, r) for r in boxes + caps):
            continue
        items.append(_Item(ln.rect, line=ln))
    proxies = [OcrLine(it.line.text if it.line else "figure", 1.0,
                       (it.rect.x0, it.rect.y0, it.rect.x1, it.rect.y0, it.rect.x1, it.rect.y1, it.rect.x0, it.rect.y1))
               for it in items]
    where = {id(px): it for px, it in zip(proxies, items, strict=True)}
    return [where[id(px)] for px in reading_order(proxies)]


def _continues(prev: _Line, line: _Line) -> bool:
    """Whether `line`, first on its page (or column), goes on with the paragraph `prev` ended: the sentence
    was left open, and the same type goes on in lower case."""
    return (line.page != prev.page and abs(line.size - prev.size) < 0.5 and line.text[:1].islower()
            and prev.text.rstrip()[-1:] not in ".:;!?")


def _centre_in(r: pymupdf.Rect, box: pymupdf.Rect) -> bool:
    x, y = (r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2
    return box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def _matches(line: str, title: str) -> bool:
    """Whether a line is the heading `title` (normalised), possibly after a number ("1.4 R and ...")."""
    t, n = _norm(line), _norm(title)
    return bool(n) and (t == n or t.endswith(" " + n) or t.endswith(n) and len(t) - len(n) <= 12)


def cut_index(items: list[_Item], title: str | None) -> int | None:
    """Where the heading `title` stands among a page's ordered items (None: not found on the page)."""
    if title is None:
        return 0
    for k, it in enumerate(items):
        if it.line is not None and _matches(it.line.text, title):
            return k
    return None


class Assembler:
    """Builds the document rows of one section window: reads its pages once, then cuts and assembles."""

    def __init__(self, doc: pymupdf.Document, section: Section, figures: bool, figure_dpi: int,
                 max_garbled: float, titles: dict[int, list[str]], known: dict[int, _Page] | None = None):
        self.doc, self.section, self.figure_dpi = doc, section, figure_dpi
        lo = max(0, section.first - FURNITURE_CONTEXT)
        hi = min(doc.page_count - 1, section.last + FURNITURE_CONTEXT)
        short = section.last - section.first + 1 < 2 * FURNITURE_CONTEXT + 1
        numbers = range(lo, hi + 1) if short else range(section.first, section.last + 1)
        known = known or {}  # pages read already (with figures when `figures`); figures on context pages go unused
        self.pages = {n: known[n] if n in known else
                      read_page(doc.load_page(n), figures and section.first <= n <= section.last, max_garbled)
                      for n in numbers}
        inside = [self.pages[n] for n in range(section.first, section.last + 1)]
        self.body = body_size(inside)
        self.drop = furniture(list(self.pages.values()), self.body)
        for p in inside:  # outline titles set no smaller than the body are headings too
            named = titles.get(p.number, [])
            for ln in p.lines:
                ln.heading = is_heading(ln, self.body) or (
                    ln.size >= self.body and len(ln.text.split()) <= HEADING_MAX_WORDS
                    and any(_matches(ln.text, t) for t in named))
        self.ordered = {p.number: page_items(p, self.drop) for p in inside}

    def parts(self) -> list[tuple[list[tuple[int, list[_Item]]], str]]:
        """The section's items page by page, cut at large-font page starts when it has no outline."""
        self.cuts = list(self._parts())
        return self.cuts

    def _parts(self) -> Iterator[tuple[list[tuple[int, list[_Item]]], str]]:
        s = self.section
        pages: list[tuple[int, list[_Item]]] = []
        how = s.cut  # how the part being gathered began
        for n in range(s.first, s.last + 1):
            items = self.ordered[n]
            if n == s.first and s.head is not None:
                k = cut_index(items, s.head)
                items = items[k:] if k is not None else items
            if n == s.last and s.stop is not None:
                k = cut_index(items, s.stop)
                items = items[:k] if k is not None else []
            if (s.cut == "pages" and pages and items and items[0].line is not None
                    and is_heading(items[0].line, self.body, PAGE_HEADING_SCALE)):
                yield pages, how
                pages, how = [], "font"
            pages.append((n, items))
        if pages:
            yield pages, how

    def build(self, pages: list[tuple[int, list[_Item]]]) -> tuple[DocumentBuilder, list[int]]:
        """One document from ordered items: paragraphs by layer block, headings apart, figures with captions."""
        b = DocumentBuilder()
        without = [n + 1 for n, _ in pages if not self.pages[n].usable]
        para: list[_Line] = []
        for n, items in pages:
            page = self.doc.load_page(n)
            for it in items:
                if it.figure is not None:
                    self._flush(b, para)
                    self._figure(b, page, it.figure, self.pages[n].crops.get(it.figure.bbox))
                elif para and (it.line.heading != para[-1].heading or (
                        (it.line.block, it.line.page) != (para[-1].block, para[-1].page)
                        and not _continues(para[-1], it.line))):
                    self._flush(b, para)
                    para.append(it.line)
                else:
                    para.append(it.line)
        self._flush(b, para)
        return b, without

    def _flush(self, b: DocumentBuilder, para: list[_Line]) -> None:
        if not para:
            return
        edge = max(ln.rect.x1 for ln in para)
        width = edge - min(ln.rect.x0 for ln in para)
        text = para[0].text
        for prev, ln in zip(para, para[1:], strict=False):
            same_row = abs(ln.rect.y0 - prev.rect.y0) < 0.5 * max(1.0, prev.rect.height)  # justified words
            wrapped = same_row or para[0].heading or prev.page != ln.page or prev.rect.x1 >= edge - 0.1 * width
            if wrapped and _HYPHENATED.search(text) and ln.text[:1].islower():
                text = text[:-1] + ln.text  # a word the line end split: "pack-" + "ages"
            elif wrapped and _CJK.match(text[-1]) and _CJK.match(ln.text[0]):
                text += ln.text  # Chinese and Japanese run on without a space
            else:
                text += (" " if wrapped else "\n") + ln.text
        b.text(text, heading=para[0].heading)
        para.clear()

    def _figure(self, b: DocumentBuilder, page: pymupdf.Page, f: FigureRegion,
                made: tuple[bytes, int, int] | None = None) -> None:
        """The figure's crop (`made` by its figure sample, or cut here) and its caption, in the document."""
        png, width, height = made or crop(page, f.bbox, dpi=self.figure_dpi)
        b.image(png, {"page": page.number + 1, "bbox": [round(v, 2) for v in f.bbox], "bbox_unit": "pt",
                      "caption": f.caption or None, "caption_source": "pdf_caption" if f.caption else None,
                      "label": f.label or None, "width": width, "height": height, "format": "png"})
        if f.caption:
            b.text(f.caption)




def document_rows(doc: pymupdf.Document, section: Section, index: int, uri: str, info: dict[str, Any],
                  source: str, stage: str, figures: bool, figure_dpi: int,
                  max_garbled: float, known: dict[int, _Page] | None = None) -> Iterator[dict[str, Any]]:
    """The `document` rows of one planned section (several when a window without an outline is cut
    at large-font page starts); a part with neither text nor figures gives no row. `known`: pages
    already read by the unit's page samples (`page_of`), by page number."""
    titles: dict[int, list[str]] = {}
    for page, title in section.titles:
        titles.setdefault(page, []).append(title)
    asm = Assembler(doc, section, figures, figure_dpi, max_garbled, titles, known)
    made = 0
    for part, (pages, cut) in enumerate(asm.parts()):
        builder, without = asm.build(pages)
        if builder.empty and (made or part < len(asm.cuts) - 1):
            continue
        fields = builder.fields()
        used = [n for n, items in pages if items] or [pages[0][0]]
        first, last = used[0] + 1, used[-1] + 1
        locator = f"document={index + 1}" + (f".{part + 1}" if part else "") + f"/pages={first}-{last}"
        headings = fields["meta"]["headings"]
        first_heading = headings[0] if headings else None
        meta = {**info, **fields["meta"], "title": info.get("pdf", {}).get("title") or first_heading,
                "section_title": section.name if part == 0 and section.name else first_heading,
                "pages": [first, last], "cut": cut, "stage": stage}
        if without:
            meta["pages_without_text"] = without
        content = fields["text"].encode() + b"".join(i["sha256"].encode() for i in fields["meta"]["images"])
        row = {"id": sample_id(source, uri, locator, b"document:" + content), "source": source,
               "kind": DOCUMENT_KIND, "uri": uri, "locator": locator, "text": fields["text"],
               "images": fields["images"], "meta": meta_json(meta)}
        if builder.empty:  # a section of scans or blank pages: recorded as a drop, its pages go to OCR
            row.update(keep=False, drop_reason=f"{source}:empty_document")
        made += 1
        yield row
