"""The base filter: a filter scores a sample and says why it fails; the base does the bookkeeping.

Filters never delete. A failing sample gets ``keep=false`` and a ``drop_reason`` (the first filter
that failed it wins), and its scores land in the ``quality`` struct either way, so the funnel can be
counted and rejects audited. A concrete filter is a handful of lines: which rows it applies to,
``score()`` and ``reason()``. Filters that judge a batch at once (a model) override ``score_rows()``;
filters that change a sample (PII scrubbing, the detected language) name those columns in ``edits``
and change the row dicts they are given.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import pyarrow as pa

from pipelines.schema import quality_scores, set_columns
from pipelines.stage import Resources, Stage

_BOOKKEEPING = ("kind", "quality", "keep", "drop_reason")


class Filter(Stage):
    """Adds scores to `quality` and sets `keep`/`drop_reason` on the samples it fails."""

    kinds: ClassVar[tuple[str, ...] | None] = None  # sample kinds it applies to; None = all
    edits: ClassVar[tuple[str, ...]] = ()  # sample columns the filter may change in place
    writes = ("quality", "keep", "drop_reason")
    role = "filter"
    # Filters cost well under a millisecond per sample: big batches keep Ray Data's per-batch cost small.
    resources = Resources(batch_size=512)

    def applies(self, row: dict[str, Any]) -> bool:
        return self.kinds is None or row.get("kind") in self.kinds

    def score(self, row: dict[str, Any]) -> dict[str, float]:
        """Scores for one sample, keyed by the score names the filter registered (`register_stage(scores=...)`)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither score() nor score_rows()")

    def score_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, float]]:
        """Scores for the rows the filter applies to; override to judge them in one batched call."""
        return [self.score(row) for row in rows]

    @abstractmethod
    def reason(self, row: dict[str, Any], scores: dict[str, float]) -> str | None:
        """Why this sample fails (a short drop_reason), or None when it passes."""

    def process(self, batch: pa.Table) -> pa.Table:
        columns = list(dict.fromkeys([*self.reads, *self.edits, *_BOOKKEEPING]))
        rows = batch.select(columns).to_pylist()
        todo = [row for row in rows if self.applies(row)]
        scored = dict(zip(map(id, todo), self.score_rows(todo), strict=True))
        quality, keep, drop = [], [], []
        names = quality_scores()
        for row in rows:
            q = dict(row["quality"] or dict.fromkeys(names))
            k, d = row["keep"] is not False, row["drop_reason"]
            scores = scored.get(id(row))
            if scores is not None:
                unknown = set(scores) - set(names)
                if unknown:
                    raise KeyError(f"{self.name}: scores {sorted(unknown)} are not declared by any registered stage "
                                   "(register_stage(scores=...))")
                q.update(scores)
                why = self.reason(row, scores)
                if why and k:
                    k, d = False, f"{self.name}:{why}"
            quality.append(q)
            keep.append(k)
            drop.append(d)
        edited = {name: [row[name] for row in rows] for name in self.edits}
        return set_columns(batch, quality=quality, keep=keep, drop_reason=drop, **edited)
