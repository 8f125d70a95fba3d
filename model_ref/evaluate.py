"""Held-out loss per row, summed by sample kind and by use-case tag: what a data ablation compares.

The trainer's own evaluation (`train.evaluate`) gives one number per modality over a few batches.
An ablation needs more: every row of a separate eval folder scored the same way for every run, and
the loss split by the shards' `kind` and `tags` columns, so a user sees which category a data change
helps. The rows become sequences exactly as the stage trains on them (model_ref.data.loader's
SampleMaker), so "loss on answer tokens" means the tokens the stage puts loss on: the answers of
`messages` in stage 3, the text after the image (or all of a text-only sample) in stages 1 and 2.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from model_ref.data.loader import SampleMaker
from model_ref.data.sequences import SequenceBuilder, collate
from model_ref.data.shards import ShardIndex, build_index
from model_ref.model import IGNORE, VLModel
from model_ref.schedule.stages import Stage

UNTAGGED = "(untagged)"


@dataclass
class EvalSet:
    """The eval folder's rows as fixed batches, with each row's kind and tags beside it."""

    batches: list[dict[str, Any]]
    kinds: list[str]  # per row, in batch order
    tags: list[list[str]]
    skipped: int = 0  # rows that gave no sequence (an image that does not decode, no answer that fits)
    tokens: int = 0  # labelled tokens in all

    @property
    def rows(self) -> int:
        return len(self.kinds)


def stage_modalities(stage: Stage) -> list[tuple[str, str]]:
    """(pool, modality) pairs a stage trains on, in the order the trainer lists them."""
    pairs = [(stage.multimodal_pool, "multimodal")]
    if stage.interleaved_pool:
        pairs.append((stage.interleaved_pool, "interleaved"))
    if stage.language_pool:
        pairs.append((stage.language_pool, "language"))
    return pairs


def build_eval_set(folder: Path, stage: Stage, builder: SequenceBuilder, image_size: int, batch_size: int,
                   max_rows: int) -> EvalSet:
    """Every row of `folder` the stage can use (both of the index's splits: the whole folder is held
    out), at most `max_rows` spread evenly over them, as batches of `batch_size` sequences."""
    index = build_index([Path(folder)])
    locs = _stage_rows(index, stage)
    if max_rows and len(locs) > max_rows:
        keep = np.linspace(0, len(locs) - 1, max_rows).round().astype(int)
        locs = [locs[i] for i in sorted(set(keep.tolist()))]
    meta = _kinds_and_tags(index.files)
    maker = SampleMaker(stage.sequence, index.files, builder, image_size)
    examples, kinds, tags, skipped = [], [], [], 0
    for i, (loc, modality) in enumerate(locs):
        example = maker.example(loc, modality, key=f"eval/{stage.number}/{i}")
        if example is None or all(label == IGNORE for label in example.labels[1:]):
            skipped += 1
            continue
        examples.append(example)
        kind, row_tags = meta[loc]
        kinds.append(kind)
        tags.append(row_tags)
    batches = [collate(examples[i:i + batch_size]) for i in range(0, len(examples), batch_size)]
    return EvalSet(batches, kinds, tags, skipped, sum(b["tokens"] for b in batches))


def _stage_rows(index: ShardIndex, stage: Stage) -> list[tuple[tuple[int, int, int], str]]:
    rows = []
    for pool, modality in stage_modalities(stage):
        for split in (index.train, index.heldout):
            locs = split.get(pool)
            if locs is not None:
                rows += [((int(f), int(g), int(r)), modality) for f, g, r in locs.tolist()]
    return sorted(rows)


def _kinds_and_tags(files: list[str]) -> dict[tuple[int, int, int], tuple[str, list[str]]]:
    """(kind, tags) of every row by (file, row group, row); read from the two small columns only."""
    out = {}
    for fi, path in enumerate(files):
        pf = pq.ParquetFile(path)
        columns = [c for c in ("kind", "tags") if c in pf.schema_arrow.names]
        for rg in range(pf.num_row_groups):
            t = pf.read_row_group(rg, columns=columns)
            kinds = t.column("kind").to_pylist() if "kind" in columns else [None] * t.num_rows
            tags = t.column("tags").to_pylist() if "tags" in columns else [None] * t.num_rows
            for ri in range(t.num_rows):
                out[(fi, rg, ri)] = (kinds[ri] or "unknown", list(tags[ri] or []))
    return out


@torch.no_grad()
def row_losses(model: VLModel, evalset: EvalSet, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """(summed loss, labelled tokens) per row, in the eval set's row order."""
    sums, counts = [], []
    for batch in evalset.batches:  # the model has no dropout or batch norm: train mode scores the same
        ids = batch["input_ids"].to(device)
        images = batch["images"].to(device) if batch["images"] is not None else None
        labels = batch["labels"].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits, _ = model(ids, images)
        target = labels[:, 1:]
        loss = F.cross_entropy(logits[:, :-1].float().transpose(1, 2), target, ignore_index=IGNORE,
                               reduction="none")
        sums.append(loss.sum(dim=1).double().cpu().numpy())
        counts.append((target != IGNORE).sum(dim=1).cpu().numpy())
    return np.concatenate(sums) if sums else np.zeros(0), np.concatenate(counts) if counts else np.zeros(0)


@dataclass
class Breakdown:
    """Loss per labelled token over all rows, per kind and per tag (a row counts under each of its tags)."""

    eval_loss: float
    tokens: int
    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    by_tag: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"eval_loss": self.eval_loss, "tokens": self.tokens, "by_kind": self.by_kind, "by_tag": self.by_tag}


def breakdown(evalset: EvalSet, sums: np.ndarray, counts: np.ndarray) -> Breakdown:
    """Token-weighted mean losses: overall, by kind, by tag (rows with no tag under UNTAGGED)."""
    def group(keys: list[list[str]]) -> dict[str, dict[str, float]]:
        loss: dict[str, float] = defaultdict(float)
        tokens: dict[str, int] = defaultdict(int)
        rows: dict[str, int] = defaultdict(int)
        for i, names in enumerate(keys):
            for name in names:
                loss[name] += float(sums[i])
                tokens[name] += int(counts[i])
                rows[name] += 1
        return {k: {"loss": round(loss[k] / tokens[k], 6), "tokens": tokens[k], "rows": rows[k]}
                for k in sorted(loss) if tokens[k]}

    total = int(counts.sum())
    return Breakdown(round(float(sums.sum()) / max(total, 1), 6), total,
                     group([[k] for k in evalset.kinds]), group([t or [UNTAGGED] for t in evalset.tags]))


def evaluate_rows(model: VLModel, evalset: EvalSet, device: torch.device) -> Breakdown:
    """The model's held-out losses on the eval set, overall and broken down."""
    sums, counts = row_losses(model, evalset, device)
    return breakdown(evalset, sums, counts)
