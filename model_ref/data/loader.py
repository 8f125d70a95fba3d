"""Batches by step number: batch i of a stage depends only on (seed, stage, i), never on what ran before.

`StepBatches[i]` picks the step's modality from the mix plan, walks to that modality's pool
positions, reads the rows from the shards, decodes images and builds sequences. A PyTorch
DataLoader over the step numbers runs this in worker processes ahead of the model, and a resumed
run simply starts the step numbers where the checkpoint left off.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from model_ref.data.images import decode_square
from model_ref.data.mixer import MODALITIES, ModalitySchedule, PoolOrder
from model_ref.data.sequences import Example, SequenceBuilder, collate
from model_ref.data.shards import POOLS, RowReader
from model_ref.schedule.stages import Stage

MAX_SKIPS = 64  # rows in a row that may fail (undecodable image, nothing fits) before a batch gives up


@dataclass(frozen=True)
class StagePools:
    """The pools a stage draws from (after dropping empty ones) and its mix: the language share of
    all steps, the interleaved share of the multimodal steps."""

    multimodal: np.ndarray
    language: np.ndarray | None
    language_share: float
    note: str = ""
    interleaved: np.ndarray | None = None
    interleaved_share: float = 0.0

    @classmethod
    def for_stage(cls, stage: Stage, pools: dict[str, np.ndarray], language_share: float | None = None,
                  interleaved_share: float | None = None) -> StagePools:
        """The stage's pools from an index split; raises when it has no multimodal rows at all. A
        share whose pool is empty falls back to 0, and `note` says so."""
        share = stage.language_share if language_share is None else language_share
        mixed = stage.interleaved_share if interleaved_share is None else interleaved_share
        multimodal = pools[stage.multimodal_pool]
        interleaved = pools.get(stage.interleaved_pool) if stage.interleaved_pool else None
        notes = []
        if interleaved is None or len(interleaved) == 0:
            if mixed > 0 and stage.interleaved_pool:
                notes.append(f"stage {stage.number}: no {_POOL_NEEDS[stage.interleaved_pool]} in the data, so no "
                             f"interleaved steps ({mixed:.3f} of the multimodal steps wanted)")
            mixed, interleaved = 0.0, None
        if len(multimodal) == 0:
            if interleaved is None:
                raise ValueError(f"stage {stage.number} ({stage.name}) needs {_POOL_NEEDS[stage.multimodal_pool]}"
                                 f"{' or ' + _POOL_NEEDS[stage.interleaved_pool] if stage.interleaved_pool else ''}; "
                                 "the data has none")
            if mixed < 1.0:
                notes.append(f"stage {stage.number}: no {_POOL_NEEDS[stage.multimodal_pool]} in the data, so every "
                             f"multimodal step is interleaved ({mixed:.3f} wanted)")
            mixed = 1.0
        if mixed == 0.0:
            interleaved = None
        language = pools[stage.language_pool] if stage.language_pool else None
        if share > 0 and (language is None or len(language) == 0):
            notes.append(f"stage {stage.number}: no {_POOL_NEEDS.get(stage.language_pool or '', 'text')} in the "
                         f"data, so no language steps (share {share:.2f} wanted)")
            share, language = 0.0, None
        return cls(multimodal, language, share if language is not None else 0.0, "; ".join(notes),
                   interleaved, mixed)


_POOL_NEEDS = {
    "image_text": "samples with an image and text",
    "interleaved": "documents with images",
    "language": "text-only samples",
    "sft_image": "samples with an image and messages",
    "sft_text": "text-only samples with messages",
}
assert set(_POOL_NEEDS) == set(POOLS)


class SampleMaker:
    """Shard row -> Example for one stage's sequence format: reads the row, decodes its image or
    images (keeping recent ones in a byte-bounded cache) and builds the sequence."""

    def __init__(self, sequence: str, files: list[str], builder: SequenceBuilder, image_size: int,
                 image_cache_bytes: int = 128 << 20) -> None:
        self.sequence = sequence
        self.reader = RowReader(files)
        self.builder = builder
        self.image_size = image_size
        self.image_cache_bytes = image_cache_bytes
        self._images: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._cached = 0

    def example(self, loc: tuple[int, int, int], modality: str, key: str) -> Example | None:
        """None when the row gives no usable sample (an image that does not decode, no answer that
        fits, a document whose markers and images disagree or none of whose images decodes)."""
        row = self.reader.row(*loc)
        if modality == "interleaved":
            return self.builder.interleaved(row["text"] or "", _DocumentImages(self, loc, row.get("images") or []))
        image = self._decode(loc, (row.get("image") or {}).get("bytes")) if modality == "multimodal" else None
        if modality == "multimodal" and image is None:
            return None
        if self.sequence == "sft":
            return self.builder.sft(row["messages"] or [], image)
        if modality == "language":
            return self.builder.language(row["text"], key)
        # A chart's text is its title; its table is what the picture shows, so it joins the text.
        text = row["text"] + ("\n" + row["table"] if row.get("table") else "")
        return self.builder.image_text(text, image)

    def _decode(self, key: tuple[int, ...], data: bytes | None) -> np.ndarray | None:
        cached = self._images.get(key)
        if cached is not None:
            self._images.move_to_end(key)
            return cached
        if not data:
            return None
        try:
            pixels = decode_square(data, self.image_size)
        except Exception:  # noqa: BLE001 - a bad image costs one sample (or one image of a document), never the run
            return None
        if self.image_cache_bytes:
            self._images[key] = pixels
            self._cached += pixels.nbytes
            while self._cached > self.image_cache_bytes:
                self._cached -= self._images.popitem(last=False)[1].nbytes
        return pixels


class _DocumentImages(Sequence):
    """A document's images as the sequence builder reads them: decoded only when asked for, so the
    images a sequence has no room for are never decoded."""

    def __init__(self, maker: SampleMaker, loc: tuple[int, int, int], values: list[dict[str, Any] | None]) -> None:
        self.maker, self.loc, self.values = maker, loc, values

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, k: int) -> np.ndarray | None:  # type: ignore[override]
        return self.maker._decode((*self.loc, k), (self.values[k] or {}).get("bytes"))


class StepBatches(torch.utils.data.Dataset):
    """Map-style dataset whose item i is the collated batch of stage-local step i."""

    def __init__(self, stage: Stage, steps: int, pools: StagePools, maker: SampleMaker, batch_size: int,
                 seed: int, modality_warmup: float | None = None) -> None:
        warm = stage.modality_warmup if modality_warmup is None else modality_warmup
        if pools.language is None:
            warm = 0.0  # no text-only rows: no warm-up from all-text either
        self.schedule = ModalitySchedule(steps, pools.language_share, round(warm * steps), pools.interleaved_share)
        self.codes, self.before = self.schedule.modalities()
        self.stage = stage
        self.pools = pools
        self.maker = maker
        self.batch_size = batch_size
        self.seed = seed
        self.orders = {}
        if len(pools.multimodal):
            self.orders["multimodal"] = PoolOrder(pools.multimodal, (seed, stage.number, 0))
        if pools.language is not None:
            self.orders["language"] = PoolOrder(pools.language, (seed, stage.number, 1))
        if pools.interleaved is not None:
            self.orders["interleaved"] = PoolOrder(pools.interleaved, (seed, stage.number, 2))

    def __len__(self) -> int:
        return self.schedule.steps

    def modality(self, step: int) -> str:
        """`language`, `multimodal` (image-text pairs) or `interleaved` (documents): what step trains on."""
        return MODALITIES[int(self.codes[step])]

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
    """Fixed held-out batches for a stage: up to `count` per modality (interleaved documents too, when
    the stage mixes them and the held-out rows hold some), from the held-out pools in index order
    (the same batches at every evaluation and in every run)."""
    out = []
    for modality, pool in (("multimodal", stage.multimodal_pool), ("interleaved", stage.interleaved_pool),
                           ("language", stage.language_pool)):
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
