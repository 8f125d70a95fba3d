"""Web source: crawled pages and local documents rendered by Chromium into screenshot samples.

DeepSeek-VL trains on web screenshots paired with their text and on screenshot-to-HTML pairs, and
built e-book OCR data by rendering text into page images. For a crawled page this source emits
the viewport screenshot (`screenshot`, with the cleaned page HTML in `html`), tiles of the rest of
a long page (`tile`), each with the DOM text it shows in reading order and element boxes in
`meta.boxes` (ground truth for OCR lines and layout) and the elements a user points at (buttons,
links, fields, headings, tables, images: role, label, box) in `meta.targets`, the page's main text
(`text`), and each inline SVG or canvas chart cropped with its caption (`chart`/`figure`, the SVG
markup in `code`). For a
local HTML or EPUB document (`--input`) it emits book pages (`page`) laid out with a template.

Every page and every local chapter also becomes one interleaved `document` sample (`documents`,
see `interleaved.py`): its main text in reading order with each content image, the real file the
page loaded, where it stands; and each captioned `<img>` becomes an image-caption sample
(`figure`/`chart`, the image's own bytes, the caption in `text`, `meta.caption_source`).

The crawl (HTTP only, polite, see `crawl.py`) runs on the driver when the run is planned: each
fetched page becomes a unit carrying its HTML, which the worker's browser renders without fetching
the page again; each crawl failure becomes a unit that records it in errors.parquet. Under the
runner the crawl is journaled in the output folder (`crawl_state.py`), so a rerun continues it and
plans the same units from the stored pages instead of crawling again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from pipelines.documents import DocumentBuilder
from pipelines.registry import register_source
from pipelines.schema import DOCUMENT_KIND, image_value, meta_json, sample_id
from pipelines.stage import ConfigError, InputError, Source, StageUnavailable, Unit, failure
from sources.chart.classify import chart_kind, classify_raster
from sources.web.browser import BrowserNotFound, find_browser
from sources.web.crawl import CrawlConfig, CrawlError, Page, crawl
from sources.web.crawl_state import CrawlJournal
from sources.web.documents import DOCUMENT_SUFFIXES, TEMPLATES, DocumentFiles, find_documents
from sources.web.dom_lines import check_lines, ocr_rows
from sources.web.interleaved import Captioned, ImageLimits, build_document
from sources.web.layout import Tile, cut, fixed_cuts, main_text, page_cuts
from sources.web.render import DOCUMENT_HOST, LoadedPage, RenderSettings, renderer_for
from sources.web.serve import sample_site
from sources.web.urls import normalize_url


@dataclass(frozen=True)
class WebConfig:
    """[web]: what to crawl and how pages become samples; [web.crawl] holds the crawler's limits.

    `max_tiles` bounds the images cut from one page (the viewport screenshot counts as the first);
    `screenshots` false leaves out the page images (screenshots and tiles of crawled pages, book pages
    of local documents) when only documents, text or figures are wanted; `templates` are the page
    layouts local documents are rendered with (each document gets one, chosen by a stable hash of its
    path, so a folder of books covers all of them). `documents` adds
    one interleaved document per page or chapter, its images limited per image (`max_image_bytes`,
    `max_image_megapixels`, read from the header before decoding) and per document
    (`max_document_images`: the first ones are kept, the rest recorded as dropped). `dom_lines` fills a
    screenshot's, tile's or book page's `ocr` with its visual text lines from the DOM (`meta.ocr_source = "dom"`), so
    policy auto does not OCR it, unless less than `dom_min_text_ink` of the ink it shows outside pictures
    lies in those lines (text drawn in a background, canvas or small SVG: `meta.ocr_needed`)."""

    seeds: tuple[str, ...] = ()
    browser: str = ""
    viewport_width: int = 1024
    viewport_height: int = 1024
    max_tiles: int = 4
    screenshots: bool = True
    page_timeout: float = 20.0
    max_blocks: int = 5000
    html_samples: bool = True
    max_html_chars: int = 300_000
    text_samples: bool = True
    min_text_chars: int = 200
    figures: bool = True
    templates: tuple[str, ...] = ("book", "modern", "dark", "compact")
    max_document_pages: int = 60
    documents: bool = True
    max_image_bytes: int = 10_000_000
    max_image_megapixels: float = 25.0
    max_document_images: int = 100
    dom_lines: bool = True
    dom_min_text_ink: float = 0.6
    crawl: CrawlConfig = field(default_factory=CrawlConfig)

    def validate(self) -> None:
        unknown = [t for t in self.templates if t not in TEMPLATES]
        if unknown or not self.templates:
            raise ConfigError(f"templates must name templates from {', '.join(TEMPLATES)}, got {list(self.templates)}",
                              "templates")
        if self.max_tiles < 1 or self.viewport_width < 64 or self.viewport_height < 64:
            raise ConfigError("max_tiles must be at least 1 and the viewport at least 64x64", "max_tiles")
        for name in ("max_image_bytes", "max_document_images"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}", name)
        if self.max_image_megapixels <= 0:
            raise ConfigError(f"max_image_megapixels must be positive, got {self.max_image_megapixels}",
                              "max_image_megapixels")
        bad = [s for s in self.seeds if normalize_url(s) is None]
        if bad:
            raise ConfigError(f"seeds: {bad[0]} is not an http(s) URL (absolute http:// or https:// URLs)", "seeds")


@register_source(section="web", config=WebConfig)
class WebSource(Source):
    """Crawls sites (or reads local HTML/EPUB) and renders each page in a per-worker Chromium."""

    name = "web"
    version = "4"  # 2: meta.targets (elements by role and label, for grounding); 3: documents, captioned images;
    # 4: screenshots' and tiles' `ocr` lines from the DOM (meta.ocr_source "dom", meta.dom_check)
    item_name = "pages"

    def __init__(self, config: WebConfig = WebConfig()):
        super().__init__(config)

    def render_settings(self, allow_private: bool | None = None, delay: float | None = None) -> RenderSettings:
        """The browser settings; `allow_private` follows the crawl that admitted the page (the
        embedded site is crawled on loopback, so its stylesheet must load from there too)."""
        c = self.config
        return RenderSettings(browser=c.browser, width=c.viewport_width, height=c.viewport_height,
                              page_timeout=c.page_timeout,
                              max_blocks=c.max_blocks,
                              allow_private=c.crawl.allow_private if allow_private is None else allow_private,
                              user_agent=c.crawl.user_agent, capture_images=c.documents,
                              max_image_bytes=c.max_image_bytes, image_timeout=c.crawl.timeout,
                              image_delay=c.crawl.delay if delay is None else delay,
                              max_kept_images=c.max_document_images + 32)

    def image_limits(self) -> ImageLimits:
        c = self.config
        return ImageLimits(max_images=c.max_document_images, max_bytes=c.max_image_bytes,
                           max_megapixels=c.max_image_megapixels)

    # -- driver side -------------------------------------------------------------------------------
    def plan(self, inputs: Sequence[str], limit: int | None = None) -> list[Unit]:
        try:  # before any crawling: without a browser no unit could be rendered
            find_browser(self.config.browser or None)
        except BrowserNotFound as e:
            raise StageUnavailable(str(e)) from None
        if inputs:
            return self._plan_documents(inputs, limit)
        crawl_cfg = self.config.crawl
        seeds = list(self.config.seeds)
        if not seeds:  # the bundled sample site, served on loopback by this process
            seeds = [sample_site().url + "index.html"]
            from dataclasses import replace

            crawl_cfg = replace(crawl_cfg, allow_private=True, delay=0.0)
        if limit is not None:
            from dataclasses import replace

            crawl_cfg = replace(crawl_cfg, max_pages=min(crawl_cfg.max_pages, limit))
        units: list[Unit] = []
        pages = 0
        # Under the runner the crawl is journaled in the output folder: a rerun replays what was
        # fetched (units and sample ids from the stored HTML) and crawls on only where it was cut off.
        journal = CrawlJournal.open(self.state_dir, seeds, crawl_cfg, limit) if self.state_dir is not None else None
        try:  # the crawl's threads are stopped (the generator closed) before its journal is closed
            with closing(crawl(seeds, crawl_cfg, journal)) as crawled:
                for found in crawled:
                    if isinstance(found, CrawlError):
                        units.append(Unit(f"{found.url}#error={found.error_type}", found.url, 0,
                                          {"error": {"type": found.error_type, "message": found.message,
                                                     "depth": found.depth, "seed": found.seed}}))
                    elif limit is None or pages < limit:
                        pages += 1
                        units.append(_page_unit(found, crawl_cfg.allow_private, crawl_cfg.delay))
        finally:
            if journal is not None:
                journal.close()
        # Two redirects to one failing URL give the same error twice; a unit id must be unique (resume).
        unique: dict[str, Unit] = {}
        for unit in units:
            unique.setdefault(unit.id, unit)
        return list(unique.values())

    def _plan_documents(self, inputs: Sequence[str], limit: int | None) -> list[Unit]:
        units: list[Unit] = []
        found = find_documents(inputs)
        self.input_roots = tuple(dict.fromkeys(str(f.root) for f in found))
        for file in found:
            path, uri = file.path, file.uri  # ids and uris from the path under its input root
            if path.suffix.lower() not in DOCUMENT_SUFFIXES:
                units.append(Unit(f"{uri}#error=unsupported", uri, 0, {"error": {
                    "type": "UnsupportedDocument",
                    "message": f"{path.name}: not HTML or EPUB (expected {', '.join(DOCUMENT_SUFFIXES)})"}}))
                continue
            template = self.config.templates[_stable_hash(uri) % len(self.config.templates)]
            try:
                files = DocumentFiles(path)
                chapters = files.chapters()
                files.close()
            except InputError as e:
                units.append(Unit(f"{uri}#error={e.error_type}", uri, 0,
                                  {"error": {"type": e.error_type, "message": str(e)}}))
                continue
            for i, chapter in enumerate(chapters):
                if limit is not None and sum(u.size for u in units) >= limit:
                    return units
                units.append(Unit(f"{uri}#chapter={i}", uri, 1,
                                  {"document": True, "path": str(path), "chapter": chapter, "template": template}))
        return units

    # -- worker side -------------------------------------------------------------------------------
    def expand(self, unit: Unit) -> Iterable[dict[str, Any]]:
        err = unit.params.get("error")
        if err:
            return [failure(source=self.name, uri=unit.uri, locator=unit.locator, stage="web/crawl",
                            error_type=err["type"], message=err["message"])]
        try:
            if unit.params.get("document"):
                return list(self._document_samples(unit))
            return list(self._page_samples(unit))
        except Exception as e:
            # Playwright's errors are all called `Error`: name the failure for errors.parquet instead.
            if type(e).__module__.startswith("playwright") and not isinstance(e, InputError):
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise InputError("RenderFailed", f"{unit.uri}: the browser could not render it: {first}") from None
            raise

    def _page_samples(self, unit: Unit) -> Iterator[dict[str, Any]]:
        c, p = self.config, unit.params
        url = unit.uri
        renderer = renderer_for(self.render_settings(p.get("allow_private"), p.get("delay")))
        with renderer.visit(url, p["html"]) as page:
            dom = page.dom(lines=c.screenshots and c.dom_lines)
            html = page.html() if c.html_samples else ""
            height = int(min(max(dom["height"], 1), c.viewport_height * c.max_tiles))
            cuts = fixed_cuts(height, c.viewport_height, c.max_tiles, min_last=c.viewport_height // 4)
            pictures = list(dom.get("images", [])) + [f["box"] for f in dom["figures"]]
            tiles = cut(page.capture, dom["blocks"], cuts, c.viewport_width, targets=dom.get("targets", []),
                        images=pictures) if c.screenshots else []
            figures = []
            for fig in dom["figures"] if c.figures else []:
                x0, y0, x1, y1 = (round(v) for v in fig["box"])
                if 0 <= x0 < x1 <= c.viewport_width and 0 <= y0 < y1 <= height:  # inside the captured part
                    figures.append((fig, (x0, y0, x1, y1), page.capture_box(x0, y0, x1, y1)))
            # Last: the walk tags image elements and screenshots scroll the page.
            walked = self._walked(page, url, "document") if c.documents else None
            timed_out, blocked = page.timed_out, len(page.blocked)
        page_meta = {"url": url, "title": dom["title"], "depth": p["depth"], "seed": p["seed"],
                     "redirects": p.get("redirects", []), "page_height": dom["height"],
                     "dom_elements": dom["elements"], "dom_truncated": dom["truncated"], "html_lang": dom["lang"],
                     "load_timed_out": timed_out, "requests_blocked": blocked}
        html = html if len(html) <= c.max_html_chars else ""
        content = p["html"].encode()
        lines_cut = bool(dom.get("linesTruncated", dom["truncated"]))
        for tile in tiles:
            kind = "screenshot" if tile.index == 0 else "tile"
            row = self._tile_row(tile, kind, url, f"tile={tile.index}", content, {**page_meta, "tile": tile.index},
                                 (html or None) if tile.index == 0 else None)
            yield self._with_dom_lines(row, tile, lines_cut) if c.dom_lines else row
        if c.text_samples:
            text = main_text(dom["blocks"])
            if len(text) >= c.min_text_chars:
                yield {"id": sample_id(self.name, url, "text", content), "source": self.name, "kind": "text",
                       "uri": url, "locator": "text", "text": text, "meta": meta_json({**page_meta, "text_of": "main"})}
        for i, (fig, box, png) in enumerate(figures, start=1):
            label, scores = classify_raster(png)
            where = f"figure={i}"
            meta = {**page_meta, "figure_class": label, "origin": fig["origin"], "box": list(box),
                    "class_scores": {k: round(float(v), 4) for k, v in scores.items()}}
            if fig["caption"]:
                meta["caption_source"] = fig.get("captionSource") or "title"
            yield {"id": sample_id(self.name, url, where, content), "source": self.name, "kind": chart_kind(label),
                   "uri": url, "locator": where, "image": image_value(png), "width": box[2] - box[0],
                   "height": box[3] - box[1], "text": fig["caption"] or None, "code": fig["code"] or None,
                   "meta": meta_json(meta)}
        if isinstance(walked, dict):
            yield walked
        elif walked is not None:
            yield from self._document_rows(*walked, url, "", content, page_meta)

    def _walked(self, page: LoadedPage, uri: str, locator: str) -> tuple[DocumentBuilder, list[Captioned], bool] \
            | dict[str, Any]:
        """The open page as a document, its captioned images, and whether the walk was cut short; or,
        when that fails, an error row (the page's other samples are kept)."""
        try:
            walk = page.walk()
            doc, captioned = build_document(page, walk, self.image_limits())
        except Exception as e:  # noqa: BLE001 - recorded in errors.parquet, never costing the page's samples
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            return failure(source=self.name, uri=uri, locator=locator, stage="web/document",
                           error_type="DocumentFailed", message=f"{uri}: the document could not be read: {first}")
        return doc, captioned, bool(walk["truncated"])

    def _document_rows(self, doc: DocumentBuilder, captioned: list[Captioned], walk_truncated: bool, uri: str,
                       prefix: str, content: bytes, meta: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The page's `document` row and, when `figures` is on, one image-caption row per captioned <img>.
        A page with neither text nor images gives no document."""
        if doc.empty and not doc.dropped:
            return
        fields = doc.fields()
        where = f"{prefix}document"
        yield {"id": sample_id(self.name, uri, where, content), "source": self.name, "kind": DOCUMENT_KIND,
               "uri": uri, "locator": where, "text": fields["text"], "images": fields["images"],
               "meta": meta_json({**meta, **fields["meta"], "document_truncated": walk_truncated})}
        if not self.config.figures:
            return
        for cap in captioned:
            label, scores = classify_raster(cap.data)
            where = f"{prefix}image={cap.index}"
            info = cap.info
            yield {"id": sample_id(self.name, uri, where, content), "source": self.name, "kind": chart_kind(label),
                   "uri": uri, "locator": where, "image": image_value(cap.data), "width": info["width"],
                   "height": info["height"], "text": info["caption"],
                   "meta": meta_json({**meta, "figure_class": label, "origin": "img", "image_url": info["url"],
                                      "alt": info["alt"], "caption_source": info["caption_source"],
                                      "format": info["format"], "sha256": info["sha256"],
                                      "class_scores": {k: round(float(v), 4) for k, v in scores.items()}})}

    def _tile_row(self, tile: Tile, kind: str, uri: str, locator: str, content: bytes, meta: dict[str, Any],
                  html: str | None) -> dict[str, Any]:
        return {"id": sample_id(self.name, uri, locator, content), "source": self.name, "kind": kind, "uri": uri,
                "locator": locator, "image": image_value(tile.png), "width": tile.width, "height": tile.height,
                "text": tile.text, "html": html,
                "meta": meta_json({**meta, "top": tile.top, "boxes": tile.blocks, "targets": tile.targets})}

    def _with_dom_lines(self, row: dict[str, Any], tile: Tile, truncated: bool) -> dict[str, Any]:
        """The tile's row with its DOM lines as `ocr` when they pass the check, else `meta.ocr_needed`."""
        check = check_lines(tile.png, tile.lines, tile.images, truncated, self.config.dom_min_text_ink)
        meta = {**json.loads(row["meta"]), "dom_check": check.as_meta()}
        if check.issue:  # OCR must read this tile (under policy none, nothing will)
            meta["ocr_needed"] = check.issue
        else:
            row["ocr"] = ocr_rows(tile.lines)
            row["ocr_text"] = "\n".join(line["text"] for line in tile.lines)
            meta["ocr_source"] = "dom"
        row["meta"] = meta_json(meta)
        return row

    def _document_samples(self, unit: Unit) -> Iterator[dict[str, Any]]:
        from pathlib import Path

        c, p = self.config, unit.params
        tpl = TEMPLATES[p["template"]]
        files = DocumentFiles(Path(p["path"]))
        try:
            url = f"http://{DOCUMENT_HOST}/{p['chapter']}"
            with renderer_for(self.render_settings()).visit(url, resolver=files.read, style=tpl.css(),
                                                          width=tpl.width, height=tpl.height) as page:
                dom = page.dom()
                total = min(int(dom["height"]), tpl.height * c.max_document_pages)
                # Every page gets the template's margin above and below its text, the first one included
                # (the body's own top padding is skipped, so all pages look alike).
                content = tpl.height - 2 * tpl.margin_px
                cuts = page_cuts(dom["blocks"], total, content, c.max_document_pages, start=tpl.margin_px)

                pictures = list(dom.get("images", [])) + [f["box"] for f in dom["figures"]]
                tiles = cut(page.capture, dom["blocks"], cuts, tpl.width, pad_to=tpl.height,
                            background=tpl.background_rgb, margin=tpl.margin_px, targets=dom.get("targets", []),
                            images=pictures) if c.screenshots else []
                walked = self._walked(page, unit.uri, f"{unit.locator}/document") if c.documents else None
        finally:
            files.close()
        content = f"{p['chapter']}:{p['template']}".encode()
        meta = {"document": Path(p["path"]).name, "chapter": p["chapter"], "template": p["template"],
                "title": dom["title"], "dom_truncated": dom["truncated"], "pages": len(tiles)}
        for tile in tiles:
            if not tile.blocks:
                continue  # a blank page (the end of a chapter padded out) teaches nothing
            locator = f"{unit.locator}/page={tile.index + 1}"
            row = self._tile_row(tile, "page", unit.uri, locator, content, {**meta, "page": tile.index + 1}, None)
            yield self._with_dom_lines(row, tile, bool(dom.get("linesTruncated", dom["truncated"]))) \
                if c.dom_lines else row
        if isinstance(walked, dict):
            yield walked
        elif walked is not None:
            doc_meta = {"document": meta["document"], "chapter": p["chapter"], "title": dom["title"],
                        "html_lang": dom["lang"]}
            yield from self._document_rows(*walked, unit.uri, f"{unit.locator}/", content, doc_meta)


def _page_unit(page: Page, allow_private: bool, delay: float) -> Unit:
    return Unit(page.url, page.url, 1, {"html": page.html, "depth": page.depth, "seed": page.seed,
                                        "redirects": list(page.redirects), "allow_private": allow_private,
                                        "delay": delay})


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")
