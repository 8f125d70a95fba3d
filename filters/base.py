"""The base filter: a filter scores a sample and says why it fails; the base does the bookkeeping.

Filters never delete. A failing sample gets ``keep=false`` and a ``drop_reason`` (the first filter
that failed it wins), and its scores land in the ``quality`` struct either way, so the funnel can be
counted and rejects audited. A concrete filter is a handful of lines: which rows it applies to,
``score()`` and ``reason()``.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import pyarrow as pa

from pipelines.schema import QUALITY_SCORES, set_columns
from pipelines.stage import Stage


class Filter(Stage):
    """Adds scores to `quality` and sets `keep`/`drop_reason` on the samples it fails."""

    kinds: ClassVar[tuple[str, ...] | None] = None  # sample kinds it applies to; None = all
    writes = ("quality", "keep", "drop_reason")

    def applies(self, row: dict[str, Any]) -> bool:
        return self.kinds is None or row.get("kind") in self.kinds

    @abstractmethod
    def score(self, row: dict[str, Any]) -> dict[str, float]:
        """Scores for one sample, keyed by names from `QUALITY_SCORES`."""

    @abstractmethod
    def reason(self, row: dict[str, Any], scores: dict[str, float]) -> str | None:
        """Why this sample fails (a short drop_reason), or None when it passes."""

    def process(self, batch: pa.Table) -> pa.Table:
        rows = batch.select(list(dict.fromkeys([*self.reads, "kind", "quality", "keep", "drop_reason"]))).to_pylist()
        quality, keep, drop = [], [], []
        for row in rows:
            q = dict(row["quality"] or dict.fromkeys(QUALITY_SCORES))
            k, d = row["keep"] is not False, row["drop_reason"]
            if self.applies(row):
                scores = self.score(row)
                unknown = set(scores) - set(QUALITY_SCORES)
                if unknown:
                    raise KeyError(f"{self.name}: scores {sorted(unknown)} are not in schema.QUALITY_SCORES")
                q.update(scores)
                why = self.reason(row, scores)
                if why and k:
                    k, d = False, f"{self.name}:{why}"
            quality.append(q)
            keep.append(k)
            drop.append(d)
        return set_columns(batch, quality=quality, keep=keep, drop_reason=drop)
