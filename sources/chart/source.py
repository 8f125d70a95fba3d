"""Chart source: synthetic charts (`synth.chart_sample`) planned as ranges of seeds.

A seed is a chart, so the plan is just seed ranges: cheap on the driver, stable across runs (unit
`chart#<first>-<last>`), and a resumed run redoes only the ranges that were in flight. A seed that
fails to draw becomes one error row; the other charts of its range are kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.registry import register_source
from pipelines.stage import ConfigError, Source, Unit, failure
from sources.chart import synth


@dataclass(frozen=True)
class ChartConfig:
    """`count` charts from seeds `seed`..`seed+count-1`, `per_unit` to a unit, of these `types`,
    about `zh_share` of them in Chinese."""

    count: int = 200
    seed: int = 0
    per_unit: int = 50
    types: tuple[str, ...] = synth.CHART_TYPES
    zh_share: float = 0.3

    def validate(self) -> None:
        unknown = [t for t in self.types if t not in synth.CHART_TYPES]
        if unknown or not self.types:
            raise ConfigError(f"types must be a non-empty subset of {', '.join(synth.CHART_TYPES)}; "
                              f"got {', '.join(unknown) or 'none'}", "types")
        if not 0.0 <= self.zh_share <= 1.0:
            raise ConfigError(f"zh_share must be between 0 and 1, got {self.zh_share}", "zh_share")
        if self.count < 0 or self.per_unit < 1:
            raise ConfigError(f"count must be >= 0 and per_unit >= 1, got {self.count} and {self.per_unit}", "count")


@register_source(section="chart", config=ChartConfig)
class ChartSource(Source):
    """Generates charts with their tables, plotting code and questions; it reads no input files."""

    name = "chart"
    version = "1"
    item_name = "charts"

    def __init__(self, config: ChartConfig = ChartConfig()):
        super().__init__(config)

    def plan(self, inputs: Sequence[str], limit: int | None = None) -> list[Unit]:
        """Seed ranges covering `count` charts (at most `limit`). `inputs` are ignored: charts are generated."""
        cfg = self.config
        count = cfg.count if limit is None else min(cfg.count, max(0, limit))
        units = []
        for first in range(cfg.seed, cfg.seed + count, cfg.per_unit):
            last = min(first + cfg.per_unit, cfg.seed + count) - 1
            units.append(Unit(f"chart#{first}-{last}", synth.URI, last - first + 1, {"first": first, "last": last}))
        return units

    def expand(self, unit: Unit) -> Iterator[dict[str, Any]]:
        """One chart per seed of the unit; a seed that fails becomes a failure row and the rest go on."""
        for seed in range(unit.params["first"], unit.params["last"] + 1):
            try:
                yield synth.chart_sample(seed, types=self.config.types, zh_share=self.config.zh_share)
            except Exception as e:
                yield failure(source=self.name, uri=synth.URI, locator=f"seed={seed}", stage=self.qualified_name,
                              error=e, message=f"chart seed {seed} failed: {e}")
