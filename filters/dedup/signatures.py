"""Dedup fingerprints, computed per sample as batches stream past.

Each kept sample gets a compact signature in the `_sig` work column: a hash of its decoded pixels
and its 256-bit perceptual hash (images), a hash of its normalised text and its MinHash (texts), and
what decides which copy is kept (pixel area, text length). The shard writer stores signatures in
`.signatures/` beside each part, so the global pass after the run reads a few hundred bytes per
sample instead of re-decoding images. An interleaved document is fingerprinted as a text (without its
`<image>` markers) plus one hash per image and per paragraph, for boilerplate removal. Both image
hashes are products of the chain's shared decode (`pipelines.images`): the image filter's thumbnail
comes from the same one.
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
from pipelines import documents, images
from pipelines.schema import DOCUMENT_KIND

IMAGE_PRODUCTS = ("digest", "phash")  # what a signature reads of the pixels (see pipelines.images)
_TOKEN = re.compile(rf"{CJK_LETTER}|[^\W_]+")  # each CJK letter is a word


def normalise_text(text: str) -> str:
    """The text that exact dedup compares: NFKC, case-folded, whitespace collapsed."""
    return collapse_whitespace(unicodedata.normalize("NFKC", text).casefold())


def paragraph_hash(paragraph: str) -> bytes:
    """The key of a document's paragraph across documents: 16 bytes of its normalised text's hash."""
    return hashlib.blake2b(normalise_text(paragraph).encode(), digest_size=16).digest()


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
        sig: dict[str, Any] = {"area": 0, "text_len": 0, "img_exact": None, "phash": None, "text_exact": None,
                               "minhash": None, "lang": row.get("lang")}
        if row.get("kind") == DOCUMENT_KIND:
            return self._document(row, sig)
        image = (row.get("image") or {}).get("bytes")
        if image is not None:
            view = images.view(image, IMAGE_PRODUCTS)
            width, height = view.size()
            sig["area"] = width * height
            sig["img_exact"] = view.digest()
            sig["phash"] = view.phash()
        self._text((row.get("text") or "").strip() or (row.get("ocr_text") or "").strip(), sig)
        return sig

    def _document(self, row: dict[str, Any], sig: dict[str, Any]) -> dict[str, Any]:
        """A document's fingerprints: its text (markers left out) as a text sample's, the pixels of all its
        images as its area (the copy with the most is kept), and one hash per image and per paragraph."""
        text = row.get("text") or ""
        self._text(documents.plain_text(text), sig)
        shas, phashes = [], []
        for image in row.get("images") or []:
            data = (image or {}).get("bytes") or b""
            shas.append(hashlib.sha256(data).digest())
            try:
                view = images.view(data, IMAGE_PRODUCTS)
                width, height = view.size()
                phashes.append(view.phash())
                sig["area"] += width * height
            except Exception:  # noqa: BLE001 - an image the document filter did not judge: no pHash key
                phashes.append(None)
        sig["image_shas"], sig["image_phashes"] = shas, phashes
        sig["para_hashes"] = [paragraph_hash(p) for p in documents.paragraphs(text)
                              if not documents.is_marker(p) and normalise_text(p)]
        return sig

    def _text(self, text: str, sig: dict[str, Any]) -> None:
        norm = normalise_text(text)
        sig["text_len"] = len(norm)
        if norm:
            sig["text_exact"] = hashlib.blake2b(norm.encode(), digest_size=16).digest()
        if len(norm) >= self.config.min_text_chars:
            sig["minhash"] = self._minhash(text).tobytes()

    def _minhash(self, text: str) -> np.ndarray:
        m = MinHash(num_perm=self.config.num_perm, seed=1, permutations=self._perm.permutations, scheme="affine32")
        m.update_batch(list(shingles(text, self.config.shingle_size)))
        return m.hashvalues.astype(np.uint32)
