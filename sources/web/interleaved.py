"""A web page (or an HTML/EPUB chapter) as an interleaved image-text document.

doc.js walks the rendered page in document order; this turns that walk into a `document` sample
with `pipelines.documents.DocumentBuilder`: text paragraphs as they stand, and each content image
at its place with its real bytes (the file the page loaded, kept by the renderer's request guard;
a lazy image the page never loaded is fetched under the same robots/address/size rules; SVG and
canvas are rasterised by Chromium with a time limit; small raster `data:` URIs are decoded). An
image that cannot be kept (a 404, over a limit, undecodable, past `max_images`) is recorded with its
drop reason in `meta.dropped_images`, and the document keeps everything else. The caption chosen
for an image (`captions.choose`) follows its marker as a paragraph; a captioned `<img>` is also
returned as a `Captioned` for the source's image-caption (`figure`/`chart`) sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.documents import DocumentBuilder
from sources.web.captions import choose
from sources.web.images import ImageRejected, decode_data_uri, inspect, is_svg
from sources.web.render import LoadedPage

# Inline SVG/canvas smaller than this (CSS px) on a side is an icon: not worth an element screenshot
# each (pages draw dozens), and the document filter's smallest side (64 px) would drop it anyway.
INLINE_ICON_PX = 32


@dataclass(frozen=True)
class ImageLimits:
    """The per-image and per-document limits a document is built under (from `WebConfig`)."""

    max_images: int = 100
    max_bytes: int = 10_000_000
    max_megapixels: float = 25.0
    raster_timeout: float = 5.0  # seconds for Chromium to draw one SVG or canvas


@dataclass(frozen=True)
class Captioned:
    """A kept <img> with a caption: its bytes and its record in `meta.images` (1-based `index`)."""

    index: int
    data: bytes
    info: dict[str, Any]


def build_document(page: LoadedPage, walk: dict[str, Any], limits: ImageLimits) -> tuple[DocumentBuilder,
                                                                                       list[Captioned]]:
    """The document of one walked page, and its captioned <img> images."""
    doc = DocumentBuilder()
    captioned: list[Captioned] = []
    for item in walk["items"]:
        kind = item["t"]
        if kind != "img":
            doc.text(item["text"], heading=kind == "h")
            continue
        dom_source = item.get("captionSource", "")
        caption, source = choose(figcaption=item.get("caption", "") if dom_source == "figcaption" else "",
                                 title_element=item.get("caption", "") if dom_source == "title" else "",
                                 alt=item.get("alt", ""), title_attr=item.get("title", ""),
                                 src="" if (item.get("src") or "").startswith("data:") else item.get("src") or "")
        info: dict[str, Any] = {"url": item.get("src") or None, "origin": item["origin"], "alt": item.get("alt", ""),
                                "caption": caption, "caption_source": source, "lazy": bool(item.get("lazy")),
                                "display": item.get("box")}
        if len(doc.images) >= limits.max_images:
            doc.drop(info, "too_many_images")
            continue
        try:
            data, found = _image(page, item, limits)
        except ImageRejected as e:
            doc.drop({**info, "detail": str(e)}, e.reason)
            continue
        except Exception as e:  # noqa: BLE001 - a browser failure on one image must not cost the document
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            doc.drop({**info, "detail": first}, "render_failed")
            continue
        info.update(found)
        doc.image(data, info)
        if caption and not dom_source:
            doc.text(caption)  # an alt/title caption is not in the page's text: it follows its image here
        if caption and item["origin"] == "img":
            captioned.append(Captioned(len(doc.images), data, doc.infos[-1]))
    return doc, captioned


def _image(page: LoadedPage, item: dict[str, Any], limits: ImageLimits) -> tuple[bytes, dict[str, Any]]:
    """The bytes to keep for one walked image and what was learnt of them (format, size, bytes)."""
    k, origin, src = item["k"], item["origin"], item.get("src") or ""
    if origin in ("svg", "canvas"):
        if min(item.get("box") or (0, 0)) < INLINE_ICON_PX:
            raise ImageRejected("too_small", f"an inline {origin} icon ({item.get('box')}) is not rasterised")
        return _raster(page, k, item, limits, origin)
    if item.get("dataTooLarge"):
        raise ImageRejected("data_uri_too_large", "a data: URI image larger than the page may hand over")
    if not src:
        raise ImageRejected("no_source", "an <img> without a source")
    if src.startswith("data:"):
        data, mime = decode_data_uri(src, limits.max_bytes)
        if is_svg(mime):
            return _raster(page, k, item, limits, "svg")
        return data, {**_checked(data, limits), "url": src[:64]}
    if not src.startswith(("http://", "https://")):
        raise ImageRejected("unsupported_scheme", f"{src.split(':', 1)[0]}: images are read over http(s) only")
    got = page.image(src)
    if got.body is None:
        raise ImageRejected(got.reason or "fetch_failed", got.message)
    if len(got.body) > limits.max_bytes:
        raise ImageRejected("too_large", f"{len(got.body):,} bytes is over the {limits.max_bytes:,}-byte limit")
    if is_svg(got.ctype, got.body):
        return _raster(page, k, item, limits, "svg", load=src if not item.get("loaded") else None)
    return got.body, _checked(got.body, limits)


def _checked(data: bytes, limits: ImageLimits) -> dict[str, Any]:
    head = inspect(data, limits.max_megapixels)
    return {"format": head.format, "width": head.width, "height": head.height, "bytes": len(data)}


def _raster(page: LoadedPage, k: int, item: dict[str, Any], limits: ImageLimits, what: str,
            load: str | None = None) -> tuple[bytes, dict[str, Any]]:
    """An SVG or canvas as Chromium draws it at its displayed size (there is no raster file)."""
    w, h = item.get("box") or (0, 0)
    if not load and (w < 1 or h < 1):
        raise ImageRejected("not_rendered", f"the {what} is not drawn (displayed at {w}x{h})")
    if w * h > limits.max_megapixels * 1_000_000:
        raise ImageRejected("too_many_pixels", f"the {what} is displayed at {w}x{h}, over the "
                            f"{limits.max_megapixels:g}-megapixel limit")
    try:
        png = page.rasterise(k, limits.raster_timeout, load=load)
    except Exception as e:  # noqa: BLE001 - Playwright's timeout and errors: the drawing did not finish
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ImageRejected("render_failed", f"{what} not drawn within {limits.raster_timeout:g} s: {first}") from None
    return png, {**_checked(png, limits), "source_format": what}

