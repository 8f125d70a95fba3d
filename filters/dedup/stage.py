"""The dedup stage: fingerprints as samples stream, one global decision once the run is complete.

Two kinds of decision: a duplicate sample is dropped (it moves to the rejects), and boilerplate in an
interleaved document (an image or a paragraph that too many documents of the run share: a logo, a
navigation bar, a footer) is removed from each document that holds it (`edit()`, applied when the
runner rewrites the shards), keeping its `<image>` markers, `images` and `meta.images` in step.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

import pyarrow as pa

from filters.dedup import groups
from filters.dedup.config import DedupConfig
from filters.dedup.signatures import IMAGE_PRODUCTS, Signer, paragraph_hash
from pipelines import documents
from pipelines.registry import register_stage
from pipelines.schema import SIG_COL, meta_json, set_columns
from pipelines.stage import GlobalStage, Resources


@register_stage(order=400, section="dedup", config=DedupConfig)
class Dedup(GlobalStage):
    """Exact and near-duplicate images and texts across the whole run; the copy kept is deterministic.

    Dropped duplicates get `drop_reason = duplicate_of:<id of the kept copy>` and land in the
    rejects with the method that matched them in `meta.dedup`.
    """

    name = "dedup"
    # 9: crop hashes reduce each window to 64 x 64 by Pillow's Lanczos, not area averaging (cropped copies caught
    # again); 8: pHash from the full grey image by whole-factor area averaging, crop hashes from a grey copy shrunk by a
    # whole factor then bilinear (images.shrink); 7: crop hashes read the grey copy reduced by area averaging;
    # 6: pixel digest XXH3-128; 5: word 5-grams at 0.8, candidates verified on their shingle hashes, keep rule
    # (dedup.keep); crop hashes (copies with a border cut off), identical pixels need agreeing texts only in
    # `image_text_agreement` kinds; 4: near texts in two languages are not copies; 3: documents (per-image and
    # per-paragraph hashes, boilerplate edits); 2: pixel digest sha256
    version = "9"
    decisions_file = "duplicates.parquet"  # for audit: id, duplicate_of, method, source, and how it was dropped
    reads = ("kind", "image", "width", "height", "text", "ocr_text", "keep", "images", "lang", "quality")
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
        """Each duplicate dropped as `duplicate_of:<kept id>`, counted as `duplicate:<method>`; each
        boilerplate removal an edit (`action = "edit"`, what to remove in `target`)."""
        found = groups.resolve(summaries, pairs, self.config)
        rows = found.select(["duplicate_of", "method", "action", "target", "docs"]).to_pylist()
        drop = [r["action"] == "drop" for r in rows]
        reason = [f"duplicate_of:{r['duplicate_of']}" if d else None for r, d in zip(rows, drop, strict=True)]
        group = [f"duplicate:{r['method']}" if d else r["method"] for r, d in zip(rows, drop, strict=True)]
        note = [json.dumps({"duplicate_of": r["duplicate_of"], "method": r["method"]} if d else
                           {"method": r["method"], "target": r["target"], "docs": r["docs"]})
                for r, d in zip(rows, drop, strict=True)]
        return found.append_column("drop_reason", pa.array(reason, pa.string())) \
            .append_column("drop_group", pa.array(group, pa.string())) \
            .append_column("note", pa.array(note, pa.string()))

    def edit(self, rows: pa.Table, edits: dict[str, list[dict[str, Any]]]) -> tuple[pa.Table, dict[str, int]]:
        """Remove boilerplate images (by the sha256 of their bytes) and paragraphs (by their hash) from
        documents. Each removed image joins `meta.dropped_images` (reason `dedup:boilerplate_image`, with
        how many documents held it), removed paragraphs are counted in `meta.dropped_paragraphs`, and
        `meta.dedup` sums both. Keyed by content, so a second application finds nothing left to remove.
        A document left with no image and no text is dropped (`boilerplate_only`)."""
        out, counts = [], Counter()
        for row in rows.to_pylist():
            todo = edits.get(row["id"]) or []
            shas = {e["target"]: e for e in todo if e["method"] == "boilerplate_image"}
            paras = {e["target"]: e for e in todo if e["method"] == "boilerplate_paragraph"}
            text, imgs = row.get("text"), row.get("images") or []
            bad_images = [i for i, im in enumerate(imgs) if hashlib.sha256((im or {}).get("bytes") or b"")
                          .hexdigest() in shas]
            bad_paras = [i for i, p in enumerate(documents.paragraphs(text)) if not documents.is_marker(p)
                         and paragraph_hash(p).hex() in paras]
            if bad_images or bad_paras:
                meta = json.loads(row["meta"]) if row.get("meta") else {}
                infos = meta.get("images") or []
                dropped = list(meta.get("dropped_images") or [])
                for i in bad_images:
                    sha = hashlib.sha256(imgs[i]["bytes"]).hexdigest()
                    dropped.append({**(infos[i] if i < len(infos) else {"sha256": sha}),
                                    "reason": f"{self.name}:boilerplate_image", "docs": shas[sha]["docs"]})
                text, imgs, kept = documents.remove(text, imgs, infos, image_indices=bad_images,
                                                    paragraph_indices=bad_paras)
                if "images" in meta:
                    meta["images"] = kept
                meta["dropped_images"] = dropped
                paragraphs = Counter(meta.get("dropped_paragraphs") or {})
                if bad_paras:
                    paragraphs[f"{self.name}:boilerplate_paragraph"] += len(bad_paras)
                meta["dropped_paragraphs"] = dict(sorted(paragraphs.items()))
                note = Counter(meta.get(self.name) or {})
                note.update({"boilerplate_images": len(bad_images), "boilerplate_paragraphs": len(bad_paras)})
                meta[self.name] = dict(note)
                row.update(text=text, images=imgs, meta=meta_json(meta))
                counts.update({"documents": 1, "images": len(bad_images), "paragraphs": len(bad_paras)})
                if not imgs and not documents.plain_text(text).strip():
                    row.update(keep=False, drop_reason="boilerplate_only")
                    counts["emptied"] += 1
            out.append(row)
        return pa.Table.from_pylist(out, schema=rows.schema), dict(counts)

    def report(self, decisions: pa.Table) -> dict[str, Any]:
        rows = decisions.select(["id", "method", "action", "target"]).to_pylist()
        drops = [r for r in rows if r["action"] != "edit"]
        edits = [r for r in rows if r["action"] == "edit"]
        return {"duplicates": len(drops), "by_method": dict(Counter(r["method"] for r in drops)),
                "boilerplate": {"images": len({r["target"] for r in edits if r["method"] == "boilerplate_image"}),
                                "paragraphs": len({r["target"] for r in edits
                                                   if r["method"] == "boilerplate_paragraph"}),
                                "documents": len({r["id"] for r in edits})}}
