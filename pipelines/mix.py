"""Several sources as one: the source of a mixed run (`run.source = "mix"`, [[mix.sources]] entries).

A mix is itself a source, so the runner, the shared stages, the shards, resume and the funnel work
unchanged. Each member keeps its own source object and inputs; `plan()` shares the run's item budget
between the members by weight and tags every unit with its member, and `expand()` hands each unit back
to the member it came from. Sample ids are the members' own, so a sample has the same id in a mix as
in a build of its source alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.registry import register_source
from pipelines.stage import ConfigError, Resources, Source, Unit, failure


@dataclass(frozen=True)
class Member:
    """One source of a mix: `name` (unique in the mix; the `source` its samples carry), its inputs,
    its weight, and a cap on its items (None: no cap)."""

    name: str
    source: Source
    inputs: tuple[str, ...] = ()
    weight: float = 1.0
    limit: int | None = None


@register_source()
class MixSource(Source):
    """Plans every member's units (interleaved, so each shard holds a bit of every member) and expands each
    unit with its own member's source."""

    name = "mix"
    version = "1"
    item_name = "items"

    def __init__(self, members: Sequence[Member]):
        if not members:
            raise ValueError("a mix needs at least one [[mix.sources]] entry")
        names = [m.name for m in members]
        if len(set(names)) != len(names):
            raise ValueError(f"mix entries need distinct names (a dataset entry takes dataset.name); got {names}")
        self.members = {m.name: m for m in members}
        self.resources = Resources(num_cpus=max(m.source.resources.num_cpus for m in members))

    @property
    def config(self) -> Any:  # the setup key: the members' own
        return [(m.name, m.source.setup_key(), m.inputs, m.weight, m.limit) for m in self.members.values()]

    def setup(self) -> None:
        for m in self.members.values():
            m.source.setup()

    def preflight(self) -> None:
        for m in self.members.values():
            m.source.preflight()

    @classmethod
    def from_config(cls, settings: Any, config: Any) -> MixSource:
        """Every [[mix.sources]] entry's source, built from its own section (or the entry's table)."""
        from pipelines.recipes import source_for

        if not config.mix.sources:
            raise ConfigError("run.source = 'mix' needs [[mix.sources]] entries (source, inputs, weight)", "mix")
        members = []
        for i, entry in enumerate(config.mix.sources):
            key = f"mix.sources[{i}]"
            sub = config.replace("run", source=entry.source, inputs=entry.inputs)
            own = getattr(entry, entry.source, None)  # [mix.sources.<source>]: this entry's settings
            if own is not None:
                sub = dataclasses.replace(sub, **{entry.source: own})
            try:
                source = source_for(sub)
            except ValueError as e:
                raise ConfigError(f"{key}: {e}", key) from None
            members.append(Member(source.sample_source, source, entry.inputs, entry.weight, entry.limit))
        try:
            return cls(members)
        except ValueError as e:
            raise ConfigError(f"mix.sources: {e}", "mix.sources") from None

    # -- driver side -------------------------------------------------------------------------
    def plan(self, inputs: Sequence[str], limit: int | None = None) -> list[Unit]:
        """The members' units, round-robin; with a `limit`, each member gets its weight's share of it."""
        for name, m in self.members.items():
            m.source.state_dir = None if self.state_dir is None else self.state_dir / name
        planned = {name: m.source.plan(m.inputs, m.limit) for name, m in self.members.items()}
        if limit is not None:
            available = {name: sum(u.size for u in units) for name, units in planned.items()}
            shares = share_out(limit, {n: m.weight for n, m in self.members.items()}, available)
            planned = {name: (units if shares[name] >= available[name]
                              else self.members[name].source.plan(self.members[name].inputs, shares[name]))
                       for name, units in planned.items()}
        wrapped = {name: [Unit(f"{name}|{u.id}", u.uri, u.size, {"member": name, "unit": u.to_row()["unit"]})
                          for u in units] for name, units in planned.items()}
        out: list[Unit] = []
        for i in range(max((len(v) for v in wrapped.values()), default=0)):
            out.extend(v[i] for v in wrapped.values() if i < len(v))
        return out

    # -- worker side -------------------------------------------------------------------------
    def expand(self, unit: Unit) -> Iterator[dict[str, Any]]:
        member = self.members[unit.params["member"]]
        inner = Unit.from_row({"unit": unit.params["unit"]})
        try:
            rows = list(member.source.expand(inner))
        except Exception as e:  # as the runner does for a lone source, but counted under the member's name
            rows = [failure(source=member.name, uri=inner.uri, locator=inner.locator,
                            stage=member.source.qualified_name, error=e)]
        yield from rows


def share_out(total: int, weights: dict[str, float], available: dict[str, int]) -> dict[str, int]:
    """Split `total` items by weight, no member above what it has; what a short member cannot use goes to
    the others by their weights (water-filling), and rounding goes to the largest remainders."""
    shares = {n: 0 for n in weights}
    open_ = {n for n in weights if available[n] > 0 and weights[n] > 0}
    left = total
    while left > 0 and open_:
        wsum = sum(weights[n] for n in open_)
        exact = {n: left * weights[n] / wsum for n in open_}
        full = {n for n in open_ if shares[n] + exact[n] >= available[n]}
        if full:  # these members are exhausted: give them all they have and share the rest again
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
