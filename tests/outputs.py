"""What a build wrote, reduced to what a rerun must reproduce: the tests of kills and resumes compare these."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipelines.shards import read_shards


def contents(out: Path) -> dict[str, str]:
    """id -> digest of the sample's content, over kept and rejected samples; fails on duplicates."""
    rows = {}
    for folder in ("shards", "rejects"):
        for r in read_shards(out, folder).select(["id", "image", "text", "keep"]).to_pylist():
            assert r["id"] not in rows, f"duplicate sample {r['id']}"
            img = (r["image"] or {}).get("bytes") or b""
            rows[r["id"]] = hashlib.sha256(img + (r["text"] or "").encode() + str(r["keep"]).encode()).hexdigest()
    return rows
