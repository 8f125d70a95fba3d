"""Decode each image once per batch and share what stages derive from its pixels.

The image filter (a grey thumbnail), dedup's fingerprints (a pixel digest, a perceptual hash) and the
figure classifier (sampled colours) all read the pixels of the same encoded images, and decoding a
144-dpi page PNG costs about as much as rendering it. Stages exchange Arrow tables, so decoded pixels
cannot ride in the rows. Instead the runner opens a `scope` around one batch of a chain of stages:
inside it, the first stage that needs an image's pixels decodes it once and derives at the same
time every *product* the chain's stages declared (a stage's `image_products`), and only those small
products are kept (keyed by a digest of the encoded bytes), so later stages read them without a
decode and memory holds thumbnails, never full renders. Outside a scope (a stage's `process()`
called on its own) each view decodes for itself. A product is the same value whoever computes it.

Products: `grey:<side>` (uint8 grey image reduced to at most `side` pixels on its long side, as the
image filter analyses it), `digest` (exact pixel identity) and `phash` (256-bit perceptual hash).
"""

from __future__ import annotations

import functools
import io
import math
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import xxhash
from PIL import Image
from zlib_ng import zlib_ng

# Ray tells a worker its thread budget in OMP_NUM_THREADS (the task's CPUs, 1 by default); OpenCV ignores that
# and ran a thread per core, so two one-CPU workers on 2 cores each spun two threads: 26.6 against 23.2 ms of
# CPU a page for the source's images, 126 against 122 ms for the whole default chain, on two real manuals.
if os.environ.get("OMP_NUM_THREADS", "").isdigit():
    cv2.setNumThreads(max(1, int(os.environ["OMP_NUM_THREADS"])))

PHASH_SIZE = 16  # 16x16 = 256 bits: measured on rendered pages, re-renders differ by <=2 bits, distinct pages by >=86
# pHash reads a 64x64 area-averaged reduction of the full grey image. It is taken in two steps: by the largest whole
# factor that keeps the long side at least PHASH_BASE (OpenCV's fast path for whole factors), then by area averaging
# to 64x64. Measured on 42 pages of six real manuals rendered at 100, 144 and 200 dpi: 1.5 ms at 144 dpi where one
# area reduction of the full page took 6.4 (9.1 through the 1024-px grey copy, as before); re-renders differ by at
# most 8 bits (median 4; through the 1024-px copy: 6, median 2), distinct pages by at least 52 (54).
PHASH_BASE = 512
# The 16 lowest frequencies of an unnormalised DCT-II over 64 samples (scipy.fft.dct's default), as a matrix:
# the pHash needs only those, so two small products replace two full DCTs, and no worker imports scipy.fft
# (0.2 s of CPU per process). Same hash bits as scipy's on 408 real page and random images; on a flat image,
# whose other coefficients are zero but for rounding noise, the noise is rounded away (scipy's bits were noise).
_PHASH_SIDE = PHASH_SIZE * 4  # imagehash's highfreq_factor
_LOW_DCT = 2 * np.cos(np.pi * np.outer(np.arange(PHASH_SIZE), 2 * np.arange(_PHASH_SIDE) + 1) / (2 * _PHASH_SIDE))
# PNG's deflate for renders (`encode_png`): zlib-ng's (python-zlib-ng, a zlib stream any PNG reader takes) at its
# level 1. MuPDF's own writer (no row filter, zlib's default 6) spends ~48 ms on a 144-dpi page of R-intro
# (228 KiB); zlib level 1 ~18 ms (252 KiB); zlib-ng level 1 5.1 ms (327 KiB), level 2 7.2 ms (267 KiB).
# ISA-L's level 2 (3.6 ms, 293 KiB) was used before, but it is not deterministic: the same pixels came out as
# other bytes in another run (2 to 19 of the 753 pages of six real manuals, in half of the run pairs compared,
# none in three pairs with zlib-ng), and a page's id is a hash of its bytes, so ids and a resumed run's output
# changed. Row filters (Sub, Up) only made text pages larger.
PNG_LEVEL = 1
SCOPE_MAX_BYTES = 128 << 20  # products kept per scope; older images are forgotten (and decoded again if asked)


def grey_product(side: int) -> str:
    """The name of the grey thumbnail product at `side` pixels (what a stage lists in `image_products`)."""
    return f"grey:{side}"


def encode_png(samples: Any, width: int, height: int, stride: int, channels: int,
               dpi: tuple[float, float] | None = None, level: int = PNG_LEVEL) -> bytes:
    """An 8-bit grey (1 channel) or RGB (3) raster, rows `stride` bytes apart in `samples` (a buffer: a
    PyMuPDF pixmap's `samples_mv`), as a PNG with no row filter, deflated by zlib-ng at `level` (0-9); `dpi` is
    written as its pHYs chunk, as MuPDF does. Decodes to exactly the given pixels; the same pixels always give the
    same bytes."""
    if channels not in (1, 3):
        raise ValueError(f"encode_png takes 1 or 3 channels, got {channels}")
    rows = np.frombuffer(samples, dtype=np.uint8, count=stride * height).reshape(height, stride)
    raw = np.empty((height, width * channels + 1), dtype=np.uint8)
    raw[:, 0] = 0  # filter type None on every row
    raw[:, 1:] = rows[:, : width * channels]
    out = [b"\x89PNG\r\n\x1a\n",
           _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2 if channels == 3 else 0, 0, 0, 0))]
    if dpi is not None:
        x, y = (int(v * 10000 + 127) // 254 for v in dpi)  # pixels per metre, rounded as MuPDF does
        out.append(_chunk(b"pHYs", struct.pack(">IIB", x, y, 1)))
    out += [_chunk(b"IDAT", zlib_ng.compress(raw, level)), _chunk(b"IEND", b"")]
    return b"".join(out)


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(tag)))


def pixmap_png(pix: Any, level: int = PNG_LEVEL) -> bytes:
    """A PyMuPDF pixmap (grey or RGB, no alpha) as PNG (`encode_png`), the rows read in place; any other
    pixmap (alpha, CMYK) is left to MuPDF's writer."""
    if pix.alpha or pix.n not in (1, 3):
        return pix.tobytes("png")
    return encode_png(pix.samples_mv, pix.width, pix.height, pix.stride, pix.n, (pix.xres, pix.yres), level)


def pixmap_array(pix: Any) -> np.ndarray:
    """A PyMuPDF pixmap (grey or RGB, no alpha) as a uint8 array (H x W, or H x W x 3) sharing its memory:
    it must not outlive the pixmap."""
    rows = np.frombuffer(pix.samples_mv, dtype=np.uint8).reshape(pix.height, pix.stride)[:, : pix.width * pix.n]
    return rows.reshape(pix.height, pix.width, 3) if pix.n == 3 else rows


def remember_pixmap(data: bytes, pix: Any) -> bool:
    """`remember` for a PNG just encoded from a pixmap (grey or RGB, no alpha): the chain's stages then
    derive their products from the pixmap's memory, never decoding `data` nor copying the pixmap into Pillow
    (the default build's three products of a 144-dpi page: 5 ms, where a copy into Pillow, its "L" conversion
    and an area reduction by a fractional factor took 17)."""
    if _scope.get() is None or pix.alpha or pix.n not in (1, 3):
        return False
    pixels = pixmap_array(pix)
    rgb = (lambda: np.ascontiguousarray(pixels)) if pix.n == 3 else lambda: np.repeat(pixels[:, :, None], 3, axis=2)
    ImageView(data)._derive_from(
        None, grey=lambda: pixels.copy() if pix.n == 1 else rgb_grey(pixels),  # products outlive the pixmap
        digest=lambda: _rgb_digest(pix.width, pix.height, rgb()))
    return True


def open_image(data: bytes) -> Image.Image:
    """The encoded image opened lazily: its header is read (size, format), no pixel is decoded."""
    return Image.open(io.BytesIO(data))


def reduce_grey(im: Image.Image, side: int) -> np.ndarray:
    """`im` as grey levels (`grey_levels`), shrunk (`shrink`) to at most `side` pixels on its long side."""
    return shrink(grey_levels(im), side)


def grey_levels(im: Image.Image) -> np.ndarray:
    """`im`'s grey levels as a uint8 array at full size: RGB by `rgb_grey`, other modes by Pillow's "L"."""
    if im.mode == "RGB":
        return rgb_grey(np.asarray(im))
    return np.asarray(im if im.mode == "L" else im.convert("L"))


def rgb_grey(rgb: np.ndarray) -> np.ndarray:
    """Grey levels (ITU-R 601 luma, OpenCV's fixed point) of an RGB uint8 array: 0.9 ms for a 144-dpi page where
    Pillow's "L" conversion took 2.0 (its rounding differs by one level on about 0.1% of random colours)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def shrink(grey: np.ndarray, side: int) -> np.ndarray:
    """A grey array reduced to at most `side` pixels on its long side, aspect kept; as it is when already
    that small. Area averaging by the largest whole factor first (OpenCV's fast path: the last rows and
    columns that do not fill a block are dropped, fewer than the factor), then bilinear interpolation for
    the rest of the way (less than 2x).

    A 144-dpi page (1224 x 1584) to 1024 px: 1.2 ms on one thread, where area averaging by the fractional
    factor 1.55 took 9.1 (the largest single cost of a page's image products). Measured on 20 pages of four
    real manuals, sharp and Gaussian-blurred: the image filter's blur score (Laplacian variance) of blurred
    pages barely moves (r=2: 1.00-1.05x the area-averaged value, r=1: 1.12-1.21x), sharp pages score
    1.40-1.57x higher, entropy within 0.21 bits, content share within 13%."""
    h, w = grey.shape
    if max(w, h) <= side:
        return grey
    grey = whole_factor_area(grey, side)
    h, w = grey.shape
    if max(w, h) <= side:
        return grey
    scale = side / max(w, h)
    return cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_LINEAR)


def whole_factor_area(grey: np.ndarray, least: int) -> np.ndarray:
    """`grey` area-averaged by the largest whole factor that keeps its long side at least `least` (as it is
    when that factor is 1); rows and columns past the last whole block are dropped."""
    h, w = grey.shape
    k = max(h, w) // least
    if k < 2:
        return grey
    return cv2.resize(grey[: h - h % k, : w - w % k], (w // k, h // k), interpolation=cv2.INTER_AREA)


def pixel_digest(im: Image.Image) -> bytes:
    """128 bits that are equal exactly when two images have the same size and the same RGB pixels.

    XXH3-128, not a cryptographic hash: nobody forges a collision between two training images, and on a
    144-dpi page (5.8 MB of RGB) it takes 0.2 ms where SHA-256 took 4.1."""
    rgb = im if im.mode == "RGB" else im.convert("RGB")
    return _rgb_digest(rgb.width, rgb.height, rgb.tobytes())


def _rgb_digest(width: int, height: int, rgb: Any) -> bytes:
    """`pixel_digest` of `width` x `height` packed RGB bytes (a buffer)."""
    h = xxhash.xxh3_128(f"{width}x{height}".encode())
    h.update(rgb)
    return h.digest()


def perceptual_hash(grey: np.ndarray) -> bytes:
    """The 256-bit pHash of a grey image (full size), packed into 32 bytes."""
    return phashes([whole_factor_area(grey, PHASH_BASE)])[0].tobytes()


def phashes(greys: Iterable[np.ndarray]) -> np.ndarray:
    """imagehash's pHash of each grey array (the 16 x 16 lowest frequencies of the DCT of a 64 x 64 area-
    averaged reduction, against their median), packed: one row of 32 bytes per image, one matrix product for all."""
    side = _PHASH_SIDE
    return phash_bits([cv2.resize(g, (side, side), interpolation=cv2.INTER_AREA) for g in greys])


def lanczos_phashes(im: Image.Image, boxes: Iterable[tuple[int, int, int, int]]) -> np.ndarray:
    """`phashes` of regions (left, top, right, bottom) of a grey Pillow image, each reduced to 64 x 64 by Pillow's
    Lanczos filter as imagehash does. Area averaging (`phashes`) stretches a region shorter than 64 px by repeating
    rows (OpenCV enlarges like nearest neighbour there), so a wide, short picture (a block of text) cut a little
    differently hashed far apart; the crop hashes (`filters.dedup.crops`) compare exactly such windows.

    Pillow's two passes are made apart: across once per distinct column range (the crop hashes' 11 windows
    share 5), then down per region: 1.75 ms for the 11 where one resize per region took 2.4 (the same hashes
    on 298 of 300 real images; the other two differ in the last rounding)."""
    side = _PHASH_SIDE
    lanczos = Image.Resampling.LANCZOS
    across: dict[tuple[int, int], Image.Image] = {}
    squares = []
    for left, top, right, bottom in boxes:
        if (left, right) not in across:
            across[left, right] = im.resize((side, im.height), lanczos, box=(left, 0, right, im.height))
        squares.append(np.asarray(across[left, right].resize((side, side), lanczos, box=(0, top, side, bottom))))
    return phash_bits(squares)


def phash_bits(squares: list[np.ndarray]) -> np.ndarray:
    """The packed pHash bits of grey 64 x 64 arrays: their 16 x 16 lowest DCT frequencies against their median."""
    stack = np.stack(squares).astype(np.float64)
    low = np.round(_LOW_DCT @ stack @ _LOW_DCT.T, 6).reshape(len(stack), -1)
    return np.packbits(low > np.median(low, axis=1, keepdims=True), axis=1)


@dataclass
class _Scope:
    wanted: set[str]
    products: dict[bytes, dict[str, Any]] = field(default_factory=dict)
    held: int = 0

    def entry(self, data: bytes) -> dict[str, Any]:
        key = xxhash.xxh3_128_digest(data)  # equal bytes, equal products; no reference to the bytes is kept
        found = self.products.get(key)
        if found is None:
            found = self.products[key] = {}
        return found

    def account(self, value: Any) -> None:
        """Count a kept product; past the budget, forget the oldest images' arrays (thumbnails). Their
        hashes stay: a few bytes each, and what a later stage (dedup) most often comes back for."""
        if not isinstance(value, np.ndarray):
            return
        self.held += value.nbytes
        for entry in self.products.values():
            if self.held <= SCOPE_MAX_BYTES:
                break
            for name in [n for n, v in entry.items() if isinstance(v, np.ndarray) and v is not value]:
                self.held -= entry.pop(name).nbytes


_scope: ContextVar[_Scope | None] = ContextVar("vlforge_image_scope", default=None)


@contextmanager
def scope(wanted: Iterable[str] = ()) -> Iterator[None]:
    """Share image products among everything run inside (the runner: one batch of a chain of stages).

    `wanted` are the products computed whenever an image is decoded; a scope opened inside another
    adds its products to the outer one and shares its images."""
    outer = _scope.get()
    if outer is not None:
        outer.wanted.update(wanted)
        yield
        return
    token = _scope.set(_Scope(set(wanted)))
    try:
        yield
    finally:
        _scope.reset(token)


def products_of(stages: Iterable[Any]) -> set[str]:
    """The image products a chain of stages declared (`image_products`, empty when a stage has none)."""
    return {p for s in stages for p in getattr(s, "image_products", ())}


class ImageView:
    """One encoded image and what stages derive from its pixels, each computed at most once per scope.

    Decoding errors propagate as Pillow raises them (OSError, SyntaxError, ValueError, the bomb
    guard's errors), so each stage keeps its own way of reporting a bad image.
    """

    def __init__(self, data: bytes, wants: Iterable[str] = ()):
        self.data = data
        current = _scope.get()
        self._shared = current
        self._products = current.entry(data) if current is not None else {}
        self._wants = set(wants)  # what this caller will ask for: derived at the same decode, scope or not

    def grey(self, side: int) -> np.ndarray:
        """The grey levels (uint8) reduced to at most `side` pixels on the long side.

        A JPEG gets its own decode, reduced in scale and grey from the start (Pillow's draft mode), as
        the image filter has always judged JPEGs; other formats share the one full decode."""
        name = grey_product(side)
        if name not in self._products:
            with open_image(self.data) as im:
                drafted = im.draft("L", (side, side)) is not None
                if drafted:
                    self._keep(name, reduce_grey(im, side))
            if not drafted:
                self._decode(name)
        return self._products[name]

    def digest(self) -> bytes:
        """Exact pixel identity (size and RGB pixels), see `pixel_digest`."""
        return self._get("digest")

    def phash(self) -> bytes:
        """The 256-bit perceptual hash, see `perceptual_hash`."""
        return self._get("phash")

    def size(self) -> tuple[int, int]:
        """Width and height from the header (nothing decoded)."""
        with open_image(self.data) as im:
            return im.size

    def sampled_rgb(self, max_side: int) -> np.ndarray:
        """RGB (int16, H x W x 3) keeping every `step`-th pixel, `step` the least that brings the long
        side to at most `max_side` (for pixel statistics). Not kept: one caller reads it once."""
        out: dict[str, np.ndarray] = {}

        def sample(im: Image.Image) -> np.ndarray:
            step = max(1, math.ceil(max(im.size) / max_side))
            return np.asarray(im.convert("RGB"), dtype=np.int16)[::step, ::step]

        self._decode(None, extra=lambda im: out.setdefault("rgb", sample(im)))
        return out["rgb"]

    # -- decoding once ------------------------------------------------------------------------------
    def _get(self, name: str) -> Any:
        if name not in self._products:
            self._decode(name)
        return self._products[name]

    def _decode(self, name: str | None, extra: Callable[[Image.Image], Any] | None = None) -> None:
        """Decode the full image once and derive `name`, `extra` and every product the scope wants
        that is not known yet."""
        with open_image(self.data) as im:
            drafts = type(im).draft is not Image.Image.draft  # a JPEG: its grey comes from a reduced decode
            im.load()
            self._derive(im, name, drafts)
            if extra is not None:
                extra(im)

    def _derive(self, im: Image.Image, name: str | None, drafts: bool = False) -> None:
        """Derive from a decoded (or remembered) Pillow image; `drafts`: a JPEG, whose grey copies other than
        `name` come from a reduced decode of their own."""
        rgb = functools.cache(lambda: im if im.mode == "RGB" else im.convert("RGB"))
        own = im.mode in ("RGB", "L")  # imagehash's grey is converted from RGB: the own grey for these two
        self._derive_from(name, drafts, grey=lambda: grey_levels(im), digest=lambda: pixel_digest(rgb()),
                          hash_grey=None if own else lambda: grey_levels(rgb()))

    def _derive_from(self, name: str | None, drafts: bool = False, *, grey: Callable[[], np.ndarray],
                     digest: Callable[[], bytes], hash_grey: Callable[[], np.ndarray] | None = None) -> None:
        """Derive `name` and every product wanted and not known yet, from the image's full-size grey levels
        (`grey`, called at most once), its pixel digest and the grey its pHash reads (`hash_grey`, else `grey`)."""
        wanted = self._wants | (self._shared.wanted if self._shared is not None else set())
        todo = sorted(n for n in {*wanted, *([name] if name else [])} if n not in self._products)
        full = functools.cache(grey)
        for n in todo:
            if n.startswith("grey:") and (n == name or not drafts):
                self._keep(n, shrink(full(), int(n.partition(":")[2])))
            elif n == "digest":
                self._keep(n, digest())
            elif n == "phash":
                self._keep(n, perceptual_hash(full() if hash_grey is None else hash_grey()))

    def _keep(self, name: str, value: Any) -> None:
        self._products[name] = value
        if self._shared is not None:
            self._shared.account(value)


def view(data: bytes, wants: Iterable[str] = ()) -> ImageView:
    """The view of an encoded image: shares products with every other view of the same bytes in the scope;
    `wants` are the products the caller will read (all derived at one decode, even outside a scope)."""
    return ImageView(data, wants)


def remember(data: bytes, pixels: Image.Image) -> bool:
    """Derive the scope's products of `data`, a PNG just encoded from `pixels`, from those pixels: the
    chain's stages then never decode it. PNG is lossless, so the products are the ones a decode would
    give; any other format, or pixels that do not match the header (size, mode), are left to a decode.
    Returns whether the pixels were used (False outside a scope)."""
    if _scope.get() is None:
        return False
    with open_image(data) as im:
        if im.format != "PNG" or im.size != pixels.size or im.mode != pixels.mode:
            return False
    ImageView(data)._derive(pixels, None)
    return True

