"""The images of a web document: what a fetch gave, whether the bytes are a usable image, and why not.

Pure functions over bytes, tested without a browser. An image a page shows is kept as the exact
file it loaded; these checks decide before anything is decoded whether that is safe: the pixel
count is read from the header (Pillow opens lazily) and checked against the limit before the
pixels are decoded, SVG markup is checked for `<use>` expansion bombs before Chromium sees it (one
of 10 nested groups of 10 hangs a Chromium renderer for good), and `data:` URIs are decoded only
when small and raster. Every refusal is an `ImageRejected` whose `reason` is the document's drop
reason (snake_case, e.g. `too_many_pixels`).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from PIL import Image

RASTER_MIMES = frozenset({"image/png", "image/jpeg", "image/jpg", "image/gif", "image/webp", "image/bmp",
                          "image/avif", "image/tiff", "image/x-icon", "image/vnd.microsoft.icon"})
SVG_MIMES = frozenset({"image/svg+xml"})
MAX_USE_INSTANCES = 5000  # elements an SVG may expand to through <use> before it counts as a bomb


class ImageRejected(Exception):
    """An image that is found but not kept; `reason` is its drop reason, the message says more."""

    def __init__(self, reason: str, message: str = ""):
        super().__init__(message or reason)
        self.reason = reason


@dataclass(frozen=True)
class ImageFetch:
    """What asking for one image gave: its bytes and content type, or why there are none
    (`reason`, a drop reason such as `http_404`, and a one-line `message`)."""

    url: str
    body: bytes | None
    ctype: str = ""
    reason: str = ""
    message: str = ""
    status: int = 0


@dataclass(frozen=True)
class ImageHeader:
    """Format and size of an image, read from its header and checked by decoding."""

    format: str
    width: int
    height: int


def snake(error_type: str) -> str:
    """A fetch error type as a drop reason: `Http404` -> `http_404`, `TooLarge` -> `too_large`."""
    s = re.sub(r"(?<=[a-z])(?=[A-Z0-9])|(?<=[0-9])(?=[A-Z])", "_", error_type)
    return s.lower()


def inspect(data: bytes, max_megapixels: float) -> ImageHeader:
    """Format and size of raster `data`, after checking the pixel count from the header (nothing is
    decoded for an image over `max_megapixels`) and then decoding it once to prove it is whole."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                fmt = (im.format or "").lower()
                if width * height > max_megapixels * 1_000_000:
                    raise ImageRejected("too_many_pixels", f"{width}x{height} pixels is over the "
                                        f"{max_megapixels:g}-megapixel limit")
                im.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageRejected("too_many_pixels", str(e)) from None
    except Exception as e:  # noqa: BLE001 - any decoder failure means the bytes are not a usable image
        raise ImageRejected("undecodable", f"not a decodable image: {type(e).__name__}: {e}"[:300]) from None
    if width < 1 or height < 1:
        raise ImageRejected("undecodable", "an image without pixels")
    return ImageHeader(fmt or "unknown", width, height)


def is_svg(ctype: str, data: bytes | None = None) -> bool:
    """An SVG file by its content type or, with none given, by its first bytes."""
    if ctype.split(";")[0].strip().lower() in SVG_MIMES:
        return True
    head = (data or b"")[:1024].lstrip().lower()
    return head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head)


def decode_data_uri(uri: str, max_bytes: int) -> tuple[bytes, str]:
    """Bytes and media type of a `data:` URI holding an image (raster or SVG), at most `max_bytes`."""
    header, sep, payload = uri.partition(",")
    if not sep:
        raise ImageRejected("bad_data_uri", "a data: URI without a comma")
    params = header[5:].split(";")
    mime = (params[0] or "text/plain").strip().lower()
    if mime not in RASTER_MIMES and mime not in SVG_MIMES:
        raise ImageRejected("data_uri_not_image", f"data: URI of type {mime}")
    if len(payload) > max_bytes * 4 // 3 + 4:
        raise ImageRejected("data_uri_too_large", f"data: URI over the {max_bytes:,}-byte limit")
    try:
        data = base64.b64decode(payload, validate=False) if "base64" in params[1:] else unquote_to_bytes(payload)
    except (binascii.Error, ValueError) as e:
        raise ImageRejected("bad_data_uri", f"undecodable data: URI ({e})") from None
    if len(data) > max_bytes:
        raise ImageRejected("data_uri_too_large",
                            f"data: URI of {len(data):,} bytes is over the {max_bytes:,}-byte limit")
    return data, mime


_TAG = re.compile(r"<(/?)([A-Za-z][\w:.-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*?)(/?)>")
_ID = re.compile(r"""\bid\s*=\s*["']([^"']+)["']""")
_HREF = re.compile(r"""\b(?:xlink:)?href\s*=\s*["']\s*#([^"']+)["']""")
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                   "wbr"})


class _Node:
    __slots__ = ("children", "ref")

    def __init__(self, ref: str | None = None):
        self.children: list[_Node] = []
        self.ref = ref


def use_instances(markup: str | bytes, limit: int = MAX_USE_INSTANCES, html: bool = False) -> int:
    """How many elements the markup's `<use>` references expand to (capped just above `limit`; a
    reference cycle counts as over it). A tolerant tag scan, so it reads SVG files and, with `html`,
    the inline SVG of an HTML page (only tags inside `<svg>` elements are read there, so unclosed
    HTML tags do not nest). Markup without `<use` costs one substring search."""
    text = markup.decode("utf-8", "replace") if isinstance(markup, bytes) else markup
    if "<use" not in text.lower():
        return 0
    root = _Node()
    stack = [(root, "")]
    ids: dict[str, _Node] = {}
    for m in _TAG.finditer(text):
        close, name, attrs, self_close = m.group(1), m.group(2).lower(), m.group(3), m.group(4)
        if close:
            for i in range(len(stack) - 1, 0, -1):
                if stack[i][1] == name:
                    del stack[i:]
                    break
            continue
        if html and len(stack) == 1 and name != "svg":
            continue  # HTML outside any SVG
        href = _HREF.search(attrs) if name == "use" else None
        node = _Node(href.group(1) if href else None)
        stack[-1][0].children.append(node)
        if (ident := _ID.search(attrs)) is not None:
            ids.setdefault(ident.group(1), node)
        if not self_close and name not in _VOID:
            stack.append((node, name))
    memo: dict[int, int] = {}
    active: set[int] = set()

    def count(node: _Node, depth: int) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active:
            return limit + 1  # a reference cycle expands without end
        if depth > 400:
            return 1  # nesting this deep is odd but no expansion: stop descending
        active.add(key)
        total = 1
        for child in node.children:
            total = min(limit + 1, total + count(child, depth + 1))
        if node.ref is not None and node.ref in ids:
            total = min(limit + 1, total + count(ids[node.ref], depth + 1))
        active.discard(key)
        memo[key] = total
        return total

    return count(root, 0)


def svg_bomb(markup: str | bytes, limit: int = MAX_USE_INSTANCES, html: bool = False) -> bool:
    """True when the markup's `<use>` references expand past `limit` elements (see `use_instances`)."""
    return use_instances(markup, limit, html) > limit
