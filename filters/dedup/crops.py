"""Crop-robust image fingerprints: pHashes of an image's content box and of windows inside it.

A pHash reads the whole picture, so a copy with a 5% border cut off (a screenshot trimmed by hand,
a figure cropped with another padding) moves 60-120 of its 256 bits: as far as two different pages.
Two things bring the copy back within reach:

- the *content box* (the picture without its margins): a border cut that only removes margin leaves
  it unchanged, so a page render cropped by 3-7% a side keeps its hash within ~12 bits;
- *windows*: the picture with 3, 5 or 7% cut off each side (9 windows). A copy whose border cut
  goes into the content (a tight figure, a block of text) is one of these windows give or take 1%
  of a side, which pHash tolerates (~26 bits at the median on real manual crops).

The fingerprint is 11 pHashes (352 bytes): the content box, the whole picture, the 9 windows,
all taken from the grey thumbnail the image filter analyses (no second decode), reduced to 256 px. Two images are
copies when their content boxes are close, or when one's whole picture is close to one of the
other's windows (`distance`). Window against window is not compared: it would only add chances
for two different pictures to meet.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from pipelines import images

SIDE = 1024  # the grey thumbnail read: the image filter's (`filters.image`'s analysis_side), shared in a scope
# ...reduced once to this before the 11 hashes (each reads 64 x 64): 11 ms an image instead of 42, and the
# same distances on 40 planted crops of real manuals (median 16, 80th percentile 30 bits). Area averaging for
# the 64 x 64 reductions looked as good on 58 whole pages (copies 28 bits apart at most), but wide, short
# pictures (a block of text, 900 x 180) are stretched there, and area averaging stretches them badly: on the
# peers bench's 70 cropped copies, 14 of them tiles, up to 84 bits apart, against 38 with Lanczos.
WORK_SIDE = 256
CUTS = (0.03, 0.05, 0.07)  # per side: the windows cover border cuts of 2-8% at <=1% misalignment
HASHES = 2 + len(CUTS) ** 2  # content box, whole, windows
BYTES = HASHES * 32
_INK = 40  # grey levels from the border's median that count as content


def crop_hashes(grey: np.ndarray) -> bytes:
    """The 11 packed 256-bit pHashes of a grey picture (uint8, H x W): content box, whole, windows.

    Each is imagehash's pHash (the 16 x 16 lowest DCT frequencies of a 64 x 64 reduction by Pillow's Lanczos
    filter, against their median), the 11 DCTs in one call: 1.75 ms an image. Area averaging for the 64 x 64
    reductions (0.8 ms) lost cropped copies: on the peers bench's 70 planted `crop5` copies of real manuals,
    14 fell past `max_crop_distance` (40; 84 bits at most), against none with Lanczos (38 at most)."""
    work = images.shrink(grey, WORK_SIDE)  # 11 hashes from 256 px: 4x cheaper
    h, w = work.shape
    boxes = [content_box(work), (0, 0, w, h)]
    for left in CUTS:
        for top in CUTS:
            right, bottom = CUTS[-1] + CUTS[0] - left, CUTS[-1] + CUTS[0] - top  # 3/7, 5/5, 7/3
            boxes.append((round(w * left), round(h * top), w - round(w * right), h - round(h * bottom)))
    return images.lanczos_phashes(Image.fromarray(work), [(x, t, max(r, x + 1), max(b, t + 1))
                                                          for x, t, r, b in boxes]).tobytes()


def content_box(grey: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the pixels that differ from the border's median colour; the whole
    picture when none does."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    ink = np.abs(grey.astype(np.int16) - int(np.median(border))) > _INK
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(rows) == 0 or rows[-1] - rows[0] < 8 or cols[-1] - cols[0] < 8:
        return 0, 0, grey.shape[1], grey.shape[0]
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits apart of each pair of fingerprints (rows of `a` and `b`, uint8 packed, n x BYTES): the least
    of content box vs content box, whole vs any window, and any window vs whole (every window at once)."""
    return pair_distance(a, b, np.arange(len(a)), np.arange(len(b)))


def pair_distance(a: np.ndarray, b: np.ndarray, ia: np.ndarray, ib: np.ndarray, block: int = 8192) -> np.ndarray:
    """`distance(a[ia], b[ib])` without copying whole fingerprints for every pair: each block of pairs gathers
    its rows as 64-bit words (the driver resolves hundreds of thousands of candidate pairs; 300,000 took
    0.9 s, and the gathered copies 200 MB)."""
    a64, b64 = _words(a), _words(b)
    out = np.empty(len(ia), np.int64)
    for i in range(0, len(ia), block):
        x, y = a64[ia[i:i + block]], b64[ib[i:i + block]]
        a_in_b = _popcount(x[:, 1:2] ^ y[:, 2:]).min(axis=1)
        b_in_a = _popcount(x[:, 2:] ^ y[:, 1:2]).min(axis=1)
        out[i:i + block] = np.minimum(_popcount(x[:, 0] ^ y[:, 0]), np.minimum(a_in_b, b_in_a))
    return out


def pairs_within(a: np.ndarray, ia: np.ndarray, ib: np.ndarray, limit: int, block: int = 8192) -> np.ndarray:
    """`pair_distance(a, a, ia, ib) <= limit`, pruned: Hamming distance is a metric, so a window of one
    picture is at least d(whole, whole) - d(other's whole, its window) from the other's whole. Pairs whose
    bound and content boxes are both over `limit` are decided without comparing their 20 windows (on 1,554
    pages of real manuals, 190,000 candidate pairs, nearly all of them text pages that share a band)."""
    a64 = _words(a)
    spread = _popcount(a64[:, 1:2] ^ a64[:, 2:]).max(axis=1)  # how far each picture's windows go from its whole
    out = np.zeros(len(ia), bool)
    for i in range(0, len(ia), block):
        x, y = ia[i:i + block], ib[i:i + block]
        whole = _popcount(a64[x, 1] ^ a64[y, 1])
        box = _popcount(a64[x, 0] ^ a64[y, 0])
        near = (box <= limit) | (whole - np.maximum(spread[x], spread[y]) <= limit)
        verdict = box <= limit
        check = np.flatnonzero(near & ~verdict)
        verdict[check] = pair_distance(a, a, x[check], y[check]) <= limit
        out[i:i + block] = verdict
    return out


def _words(x: np.ndarray) -> np.ndarray:
    """Fingerprints (n x BYTES uint8) as n x HASHES x 4 64-bit words."""
    return np.ascontiguousarray(x).view(np.uint64).reshape(len(x), HASHES, 4)


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits along the last axis of a 64-bit word array."""
    return bit_counts(np.ascontiguousarray(x).view(np.uint8))


def bit_counts(x: np.ndarray) -> np.ndarray:
    """Set bits along the last axis of a uint8 array: the Hamming distance of XORed fingerprints. numpy 2's
    popcount is ~8x faster than unpacking bits, and 2x faster again on 64-bit words; the driver resolves
    every candidate pair with it."""
    if not hasattr(np, "bitwise_count"):
        return np.unpackbits(x, axis=-1).sum(axis=-1, dtype=np.int64)
    if x.shape[-1] % 8 == 0:
        x = np.ascontiguousarray(x).view(np.uint64)
    return np.bitwise_count(x).sum(axis=-1, dtype=np.int64)
