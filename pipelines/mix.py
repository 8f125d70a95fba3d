"""Several sources as one: the source of a mixed run (`run.source = "mix"`, [[mix.sources]] entries).

A mix is itself a source, so the runner, the shared stages, the shards, resume and the funnel work
unchanged. Each part keeps its own source object and inputs; `plan()` shares the run's item budget
between the parts by weight and tags every unit with its part, and `expand()` hands each unit back
to the part it came from. Sample ids are the parts' own, so a sample has the same id in a mix as
in a build of its source alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.stage import Resources, Source, Unit, failure


@dataclass(frozen=True)
class Part:
    """One source of a mix: `name` (unique in the mix; the `source` its samples carry), its inputs,
    its weight, and a cap on its items (None: no cap)."""

    name: str
    source: Source
    inputs: tuple[str, ...] = ()
    weight: float = 1.0
    limit: int | None = None


class MixSource(Source):
    """Plans every part's units (interleaved, so each shard holds a bit of every part) and expands each
    unit with its own part's source."""

    name = "mix"
    version = "1"
    item_name = "items"

    def __init__(self, parts: Sequence[Part]):
        if not parts:
            raise ValueError("a mix needs at least one [[mix.sources]] entry")
        names = [p.name for p in parts]
        if len(set(names)) != len(names):
            raise ValueError(f"mix entries need distinct names (a dataset entry takes dataset.name); got {names}")
        self.parts = {p.name: p for p in parts}
        self.resources = Resources(num_cpus=max(p.source.resources.num_cpus for p in parts))
        self._ready: set[str] = set()

    # -- driver side -------------------------------------------------------------------------
    def plan(self, inputs: Sequence[str], limit: int | None = None) -> list[Unit]:
        """The parts' units, round-robin; with a `limit`, each part gets its weight's share of it."""
        planned = {name: p.source.plan(p.inputs, p.limit) for name, p in self.parts.items()}
        if limit is not None:
            available = {name: sum(u.size for u in units) for name, units in planned.items()}
            shares = share_out(limit, {n: p.weight for n, p in self.parts.items()}, available)
            planned = {name: (units if shares[name] >= available[name]
                              else self.parts[name].source.plan(self.parts[name].inputs, shares[name]))
                       for name, units in planned.items()}
        wrapped = {name: [Unit(f"{name}|{u.id}", u.uri, u.size, {"part": name, "unit": u.to_row()["unit"]})
                          for u in units] for name, units in planned.items()}
        out: list[Unit] = []
        for i in range(max((len(v) for v in wrapped.values()), default=0)):
            out.extend(v[i] for v in wrapped.values() if i < len(v))
        return out

    # -- worker side -------------------------------------------------------------------------
    def expand(self, unit: Unit) -> Iterator[dict[str, Any]]:
        part = self.parts[unit.params["part"]]
        inner = Unit.from_row({"unit": unit.params["unit"]})
        try:
            if part.name not in self._ready:
                part.source.setup()
                self._ready.add(part.name)
            rows = list(part.source.expand(inner))
        except Exception as e:  # as the runner does for a lone source, but counted under the part's name
            rows = [failure(source=part.name, uri=inner.uri, locator=inner.locator,
                            stage=part.source.qualified_name, error=e)]
        yield from rows


def share_out(total: int, weights: dict[str, float], available: dict[str, int]) -> dict[str, int]:
    """Split `total` items by weight, no part above what it has; what a short part cannot use goes to
    the others by their weights (water-filling), and rounding goes to the largest remainders."""
    shares = {n: 0 for n in weights}
    open_ = {n for n in weights if available[n] > 0 and weights[n] > 0}
    left = total
    while left > 0 and open_:
        wsum = sum(weights[n] for n in open_)
        exact = {n: left * weights[n] / wsum for n in open_}
        full = {n for n in open_ if shares[n] + exact[n] >= available[n]}
        if full:  # these parts are exhausted: give them all they have and share the rest again
            for n in full:
                left -= available[n] - shares[n]
                shares[n] = available[n]
            open_ -= full
            continue
        base = {n: int(exact[n]) for n in open_}
        rest = left - sum(base.values())
        for n in sorted(open_, key=lambda n: (-(exact[n] - base[n]), n))[:rest]:
            base[n] += 1
        for n in open_:
            shares[n] += base[n]
        left = 0
    return shares
