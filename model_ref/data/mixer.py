"""Which modality each step trains on, and which samples of each pool it draws, from the step alone.

The report trains each step on one modality (modality group training: a step is all text or all
image-text, ~20% faster at no cost) with language as ~70% of the joint pretraining mix, reached by
a modality warm-up: the language share starts at 1.0 and falls linearly to the target. Here the
steps are assigned by accumulating the share and rounding (Bresenham-style), so over any stretch the
language steps are the target share to within one step, with no randomness to drift. The
multimodal steps are split the same way between image-text pairs and interleaved documents (stage
2's interleaved share, a share of the multimodal steps).

Sample order: each pool is walked epoch by epoch; an epoch visits its row groups in a seeded
random order and the rows of each group in a seeded random order (consecutive draws stay in one
row group, so the reader reads each group once per epoch). Position p of a pool is found without
replaying earlier steps, which is what lets a resumed run see exactly the batches an
uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ModalitySchedule:
    """Per stage-local step (0-based): is it a language step, and how many steps of its modality came before."""

    steps: int
    language_share: float
    warmup_steps: int = 0
    interleaved_share: float = 0.0  # share of the multimodal steps that draw interleaved documents

    def share(self, step: int) -> float:
        """The language share in force at `step`: 1.0 falling linearly to the target over the warm-up."""
        if self.warmup_steps and step < self.warmup_steps:
            return 1.0 + (self.language_share - 1.0) * step / self.warmup_steps
        return self.language_share

    def plan(self) -> tuple[np.ndarray, np.ndarray]:
        """(is_language, same-modality steps before) for every step of the stage."""
        shares = np.array([self.share(s) for s in range(self.steps)], dtype=np.float64)
        cum = np.concatenate([[0.0], np.cumsum(shares)])
        # Language steps among the first k: the accumulated share rounded to the nearest step.
        is_language = np.floor(cum[1:] + 0.5 + 1e-9) > np.floor(cum[:-1] + 0.5 + 1e-9)
        lang_before = np.concatenate([[0], np.cumsum(is_language)[:-1]])
        mm_before = np.arange(self.steps) - lang_before
        return is_language, np.where(is_language, lang_before, mm_before)

    def modalities(self) -> tuple[np.ndarray, np.ndarray]:
        """(modality code per step: LANGUAGE, MULTIMODAL or INTERLEAVED; same-modality steps before).
        Interleaved steps are the multimodal ones picked by accumulating `interleaved_share` over the
        multimodal steps and rounding, so any stretch holds that share of them to within one step."""
        is_language, _ = self.plan()
        multimodal = ~is_language
        seen = np.cumsum(multimodal)  # multimodal steps up to and including each step
        picked = np.floor(seen * self.interleaved_share + 0.5 + 1e-9)
        is_interleaved = multimodal & (picked > np.concatenate([[0.0], picked[:-1]]))
        codes = np.where(is_language, LANGUAGE, np.where(is_interleaved, INTERLEAVED, MULTIMODAL))
        before = np.zeros(self.steps, dtype=np.int64)
        for code in (LANGUAGE, MULTIMODAL, INTERLEAVED):
            mine = codes == code
            before[mine] = np.arange(int(mine.sum()))
        return codes, before


LANGUAGE, MULTIMODAL, INTERLEAVED = 0, 1, 2
MODALITIES = ("language", "multimodal", "interleaved")  # by code: the names metrics.jsonl logs


class PoolOrder:
    """The sample at position p of a pool's endless, seeded, row-group-local shuffled walk."""

    def __init__(self, locs: np.ndarray, seed: tuple[int, ...]) -> None:
        if len(locs) == 0:
            raise ValueError("an empty pool has no order")
        self.locs = locs
        self.seed = seed
        # Row indices of each (file, row group), in index order.
        keys = locs[:, 0] * (1 << 32) + locs[:, 1]
        _, starts = np.unique(keys, return_index=True)
        bounds = [*sorted(starts.tolist()), len(locs)]
        self.groups = [np.arange(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
        self._epochs: dict[int, np.ndarray] = {}

    def epoch_order(self, epoch: int) -> np.ndarray:
        order = self._epochs.get(epoch)
        if order is None:
            rng = np.random.default_rng([*self.seed, epoch])
            order = np.concatenate([rng.permutation(self.groups[g]) for g in rng.permutation(len(self.groups))])
            if len(self._epochs) >= 2:
                self._epochs.pop(min(self._epochs))
            self._epochs[epoch] = order
        return order

    def at(self, position: int) -> tuple[int, int, int]:
        """(file, row group, row) of the sample at `position`."""
        n = len(self.locs)
        file, group, row = self.locs[self.epoch_order(position // n)[position % n]]
        return int(file), int(group), int(row)
