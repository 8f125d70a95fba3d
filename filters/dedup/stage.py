"""The dedup stage: fingerprints as samples stream, one global decision once the run is complete."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pyarrow as pa

from filters.dedup import groups
from filters.dedup.config import DedupConfig
from filters.dedup.signatures import IMAGE_PRODUCTS, Signer
from pipelines.registry import register_stage
from pipelines.schema import SIG_COL, set_columns
from pipelines.stage import GlobalStage, Resources


@register_stage(order=400, section="dedup", config=DedupConfig)
class Dedup(GlobalStage):
    """Exact and near-duplicate images and texts across the whole run; the copy kept is deterministic.

    Dropped duplicates get `drop_reason = duplicate_of:<id of the kept copy>` and land in the
    rejects with the method that matched them in `meta.dedup`.
    """

    name = "dedup"
    version = "2"  # 2: pixel digest sha256 (was blake2b), pHash from a box-then-LANCZOS reduction
    decisions_file = "duplicates.parquet"  # for audit: id, duplicate_of, method, source, and how it was dropped
    reads = ("kind", "image", "width", "height", "text", "ocr_text", "keep")
    writes = (SIG_COL,)
    resources = Resources(batch_size=512)
    image_products = IMAGE_PRODUCTS  # computed at the one decode each image gets per batch

    def __init__(self, config: DedupConfig | None = None):
        self.config = config = config or DedupConfig()
        self.signer = Signer(config)

    def process(self, batch: pa.Table) -> pa.Table:
        rows = batch.select(list(self.reads)).to_pylist()
        sigs = [self.signer.signature(r) if r["keep"] is not False else None for r in rows]
        return set_columns(batch, **{SIG_COL: sigs})

    def keys(self, summaries: pa.Table) -> pa.Table:
        return groups.band_keys(summaries, self.config)

    def pairs(self, keys: pa.Table) -> pa.Table:
        return groups.candidate_pairs(keys, self.config)

    def resolve(self, summaries: pa.Table, pairs: pa.Table) -> pa.Table:
        """Each duplicate dropped as `duplicate_of:<kept id>`, counted as `duplicate:<method>`."""
        found = groups.resolve(summaries, pairs, self.config)
        dup_of, method = found.column("duplicate_of").to_pylist(), found.column("method").to_pylist()
        return found.append_column("drop_reason", pa.array([f"duplicate_of:{d}" for d in dup_of], pa.string())) \
            .append_column("drop_group", pa.array([f"duplicate:{m}" for m in method], pa.string())) \
            .append_column("note", pa.array([json.dumps({"duplicate_of": d, "method": m})
                                             for d, m in zip(dup_of, method, strict=True)], pa.string()))

    def report(self, decisions: pa.Table) -> dict[str, Any]:
        return {"duplicates": decisions.num_rows, "by_method": dict(Counter(decisions.column("method").to_pylist()))}
