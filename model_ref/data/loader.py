"""Batches by step number: batch i of a stage depends only on (seed, stage, i), never on what ran before.

`StepBatches[i]` picks the step's modality from the mix plan, walks to that modality's pool
positions, reads the rows from the shards, decodes images and builds sequences. A PyTorch
DataLoader over the step numbers runs this in worker processes ahead of the model, and a resumed
run simply starts the step numbers where the checkpoint left off.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from model_ref.data.images import decode_square
from model_ref.data.mixer import ModalitySchedule, PoolOrder
from model_ref.data.sequences import Example, SequenceBuilder, collate
from model_ref.data.shards import POOLS, RowReader
from model_ref.schedule.stages import Stage

MAX_SKIPS = 64  # rows in a row that may fail (undecodable image, nothing fits) before a batch gives up


@dataclass(frozen=True)
class StagePools:
    """The two pools a stage draws from (after dropping an empty language pool) and its mix."""

    multimodal: np.ndarray
    language: np.ndarray | None
    language_share: float
    note: str = ""

    @classmethod
    def for_stage(cls, stage: Stage, pools: dict[str, np.ndarray], language_share: float | None = None
                  ) -> StagePools:
        """The stage's pools from an index split; raises when the multimodal pool is empty."""
        share = stage.language_share if language_share is None else language_share
        multimodal = pools[stage.multimodal_pool]
        if len(multimodal) == 0:
            raise ValueError(f"stage {stage.number} ({stage.name}) needs {_POOL_NEEDS[stage.multimodal_pool]}; "
                             "the data has none")
        language = pools[stage.language_pool] if stage.language_pool else None
        note = ""
        if share > 0 and (language is None or len(language) == 0):
            note = f"stage {stage.number}: no {_POOL_NEEDS.get(stage.language_pool or '', 'text')} in the data, " \
                   f"so no language steps (share {share:.2f} wanted)"
            share, language = 0.0, None
        return cls(multimodal, language, share if language is not None else 0.0, note)


_POOL_NEEDS = {
    "image_text": "samples with an image and text",
    "language": "text-only samples",
    "sft_image": "samples with an image and messages",
    "sft_text": "text-only samples with messages",
}
assert set(_POOL_NEEDS) == set(POOLS)


class SampleMaker:
    """Shard row -> Example for one stage's sequence format: reads the row, decodes its image
    (keeping recent ones in a byte-bounded cache) and builds the sequence."""

    def __init__(self, sequence: str, files: list[str], builder: SequenceBuilder, image_size: int,
                 image_cache_bytes: int = 128 << 20) -> None:
        self.sequence = sequence
        self.reader = RowReader(files)
        self.builder = builder
        self.image_size = image_size
        self.image_cache_bytes = image_cache_bytes
        self._images: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()
        self._cached = 0

    def example(self, loc: tuple[int, int, int], modality: str, key: str) -> Example | None:
        """None when the row gives no usable sample (an image that does not decode, no answer that fits)."""
        row = self.reader.row(*loc)
        image = self._image(loc, row) if modality == "multimodal" else None
        if modality == "multimodal" and image is None:
            return None
        if self.sequence == "sft":
            return self.builder.sft(row["messages"] or [], image)
        if modality == "language":
            return self.builder.language(row["text"], key)
        # A chart's text is its title; its table is what the picture shows, so it joins the text.
        text = row["text"] + ("\n" + row["table"] if row.get("table") else "")
        return self.builder.image_text(text, image)

    def _image(self, loc: tuple[int, int, int], row: dict[str, Any]) -> np.ndarray | None:
        cached = self._images.get(loc)
        if cached is not None:
            self._images.move_to_end(loc)
            return cached
        data = (row.get("image") or {}).get("bytes")
        if not data:
            return None
        try:
            pixels = decode_square(data, self.image_size)
        except Exception:  # noqa: BLE001 - a bad image costs one sample, never the run
            return None
        if self.image_cache_bytes:
            self._images[loc] = pixels
            self._cached += pixels.nbytes
            while self._cached > self.image_cache_bytes:
                self._cached -= self._images.popitem(last=False)[1].nbytes
        return pixels


class StepBatches(torch.utils.data.Dataset):
    """Map-style dataset whose item i is the collated batch of stage-local step i."""

    def __init__(self, stage: Stage, steps: int, pools: StagePools, maker: SampleMaker, batch_size: int,
                 seed: int, modality_warmup: float | None = None) -> None:
        warm = stage.modality_warmup if modality_warmup is None else modality_warmup
        if pools.language is None:
            warm = 0.0  # no text-only rows: no warm-up from all-text either
        self.schedule = ModalitySchedule(steps, pools.language_share, round(warm * steps))
        self.is_language, self.before = self.schedule.plan()
        self.stage = stage
        self.pools = pools
        self.maker = maker
        self.batch_size = batch_size
        self.seed = seed
        self.orders = {"multimodal": PoolOrder(pools.multimodal, (seed, stage.number, 0))}
        if pools.language is not None:
            self.orders["language"] = PoolOrder(pools.language, (seed, stage.number, 1))

    def __len__(self) -> int:
        return self.schedule.steps

    def modality(self, step: int) -> str:
        return "language" if self.is_language[step] else "multimodal"

    def __getitem__(self, step: int) -> dict[str, Any]:
        modality = self.modality(step)
        order = self.orders[modality]
        # A row that gives no sample is replaced by the next position (shared with the next step of
        # this modality: a rare repeat, the same in every run).
        position = int(self.before[step]) * self.batch_size
        examples: list[Example] = []
        skips = 0
        while len(examples) < self.batch_size:
            example = self.maker.example(order.at(position), modality,
                                         key=f"{self.seed}/{self.stage.number}/{step}/{len(examples)}")
            position += 1
            if example is None:
                skips += 1
                if skips > MAX_SKIPS:
                    raise RuntimeError(f"stage {self.stage.number} step {step}: {skips} rows gave no sample")
                continue
            examples.append(example)
        batch = collate(examples)
        batch.update(step=step, modality=modality)
        return batch


def make_loader(batches: StepBatches, start: int, workers: int, pin_memory: bool = False
                ) -> torch.utils.data.DataLoader:
    """Batches of steps start..end, prepared `workers` processes ahead (0: in this process)."""
    return torch.utils.data.DataLoader(
        batches, batch_size=None, sampler=list(range(start, len(batches))), num_workers=workers,
        prefetch_factor=4 if workers else None, pin_memory=pin_memory, persistent_workers=False)


def eval_batches(stage: Stage, pools: dict[str, np.ndarray], maker: SampleMaker, batch_size: int,
                 count: int) -> list[dict[str, Any]]:
    """Fixed held-out batches for a stage: up to `count` per modality, from the held-out pools in index
    order (the same batches at every evaluation and in every run)."""
    out = []
    for modality, pool in (("multimodal", stage.multimodal_pool), ("language", stage.language_pool)):
        locs = pools.get(pool) if pool else None
        if locs is None:
            continue
        examples = []
        for i, (file, group, row) in enumerate(locs.tolist()):
            if len(examples) == count * batch_size:
                break
            example = maker.example((file, group, row), modality, key=f"eval/{stage.number}/{i}")
            if example is not None:
                examples.append(example)
        for i in range(0, len(examples), batch_size):
            batch = collate(examples[i:i + batch_size])
            batch.update(step=-1, modality=modality)
            out.append(batch)
    return out
