"""Dedup fingerprints, computed per sample as batches stream past.

Each kept sample gets a compact signature in the `_sig` work column: a hash of its decoded pixels
and its 256-bit perceptual hash (images), a hash of its normalised text and its MinHash (texts), and
what decides which copy is kept (pixel area, text length). The shard writer stores signatures in
`.signatures/` beside each part, so the global pass after the run reads a few hundred bytes per
sample instead of re-decoding images. Both image hashes are products of the chain's shared decode
(`pipelines.images`): the image filter's thumbnail comes from the same one.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

import numpy as np
from datasketch import MinHash

from filters.dedup.config import DedupConfig
from filters.textkit import CJK_LETTER, collapse_whitespace
from pipelines import images

IMAGE_PRODUCTS = ("digest", "phash")  # what a signature reads of the pixels (see pipelines.images)
_TOKEN = re.compile(rf"{CJK_LETTER}|[^\W_]+")  # each CJK letter is a word


def normalise_text(text: str) -> str:
    """The text that exact dedup compares: NFKC, case-folded, whitespace collapsed."""
    return collapse_whitespace(unicodedata.normalize("NFKC", text).casefold())


def shingles(text: str, size: int) -> set[bytes]:
    """Word `size`-grams (each CJK character counts as a word) of the normalised text."""
    tokens = _TOKEN.findall(normalise_text(text))
    if len(tokens) <= size:
        return {" ".join(tokens).encode()} if tokens else set()
    return {" ".join(tokens[i:i + size]).encode() for i in range(len(tokens) - size + 1)}


class Signer:
    """Computes one sample's fingerprints; holds the MinHash permutations so they are drawn once."""

    def __init__(self, config: DedupConfig):
        self.config = config
        self._perm = MinHash(num_perm=config.num_perm, seed=1, scheme="affine32")

    def signature(self, row: dict[str, Any]) -> dict[str, Any]:
        """One sample's fingerprints; fields that do not apply are null."""
        c = self.config
        sig: dict[str, Any] = {"area": 0, "text_len": 0, "img_exact": None, "phash": None, "text_exact": None,
                               "minhash": None}
        image = (row.get("image") or {}).get("bytes")
        if image is not None:
            view = images.view(image, IMAGE_PRODUCTS)
            width, height = view.size()
            sig["area"] = width * height
            sig["img_exact"] = view.digest()
            sig["phash"] = view.phash()
        text = (row.get("text") or "").strip() or (row.get("ocr_text") or "").strip()
        norm = normalise_text(text)
        sig["text_len"] = len(norm)
        if norm:
            sig["text_exact"] = hashlib.blake2b(norm.encode(), digest_size=16).digest()
        if len(norm) >= c.min_text_chars:
            sig["minhash"] = self._minhash(text).tobytes()
        return sig

    def _minhash(self, text: str) -> np.ndarray:
        m = MinHash(num_perm=self.config.num_perm, seed=1, permutations=self._perm.permutations, scheme="affine32")
        m.update_batch(list(shingles(text, self.config.shingle_size)))
        return m.hashvalues.astype(np.uint32)
