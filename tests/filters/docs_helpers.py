"""Interleaved documents for the document filter and dedup tests: real PNG/JPEG bytes made with PIL."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from pipelines.documents import DocumentBuilder


def png(width: int, height: int, seed: int = 0, fmt: str = "PNG") -> bytes:
    """A picture with structure (blocks of colour and noise), so its pHash is its own."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(1, height // 8), max(1, width // 8), 3), dtype=np.uint8)
    im = Image.fromarray(small).resize((width, height), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` pixels in its header and holds almost no data: a bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def document(parts: list, doc_id: str = "d1", **row) -> dict:
    """A `document` row from parts: strings are paragraphs, (bytes, info) pairs are images."""
    b = DocumentBuilder()
    for part in parts:
        if isinstance(part, str):
            b.text(part)
        else:
            data, info = part
            b.image(data, info)
    f = b.fields()
    import json

    return {"id": doc_id, "source": "test", "kind": "document", "uri": f"doc/{doc_id}", "locator": "0",
            "text": f["text"], "images": f["images"], "keep": True,
            "meta": json.dumps({**f["meta"], "title": doc_id}), **row}
