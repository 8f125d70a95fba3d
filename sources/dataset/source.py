"""Dataset source: rows of existing image-text data (Parquet, JSON Lines, JSON, `save_to_disk`) as samples.

Public caption, chart-QA and OCR sets then go through the same annotators, filters, dedup, tagger
and shards as what the other sources build, and mix with them. Work is planned as row ranges
(`rows_per_unit` rows of one file or split), so a large dataset streams through the cluster and a
resumed run redoes only the ranges that were in flight. A bad row (a missing image file, bytes that
are not an image, invalid JSON, no text) becomes one error row saying what is wrong; a whole file that
cannot be read (or lacks a column the map names) becomes one error row for that file.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pipelines.registry import register_source
from pipelines.stage import ConfigError, InputError, Source, Unit, failure, unique_uri
from sources.dataset.config import DatasetConfig
from sources.dataset.formats import DataFile, columns_of, find_data, is_saved_dataset, plan_ranges, read_range
from sources.dataset.rows import Fields, to_sample


@register_source(section="dataset", config=DatasetConfig)
class DatasetSource(Source):
    """Maps someone else's rows into our schema by the `[dataset]` column map."""

    name = "dataset"
    version = "1"
    item_name = "rows"

    def __init__(self, config: DatasetConfig | None = None):
        config = config or DatasetConfig()
        self.config = config

    @property
    def sample_source(self) -> str:
        return self.config.name

    @classmethod
    def from_config(cls, settings: DatasetConfig, config: Any) -> DatasetSource:
        if not config.run.inputs:
            raise ConfigError("--source dataset needs --input PATH (Parquet, JSON Lines, JSON or a save_to_disk "
                              "folder)", "run.inputs")
        return cls(settings)

    # -- driver side -------------------------------------------------------------------------
    def plan(self, inputs: Sequence[str], limit: int | None = None) -> list[Unit]:
        """Row ranges of every data file of the inputs, `limit` rows in all. A file that cannot be planned
        (unreadable, unknown format, a mapped column it lacks) is one unit whose expand says why."""
        if not inputs:
            raise ValueError("the dataset source needs inputs: --input PATH (Parquet, JSON Lines, JSON or a "
                             "Hugging Face save_to_disk folder)")
        cfg = self.config
        budget: float = math.inf if limit is None else max(0, limit)
        units: list[Unit] = []
        taken: set[str] = set()
        uris: dict[Path, str] = {}  # the splits of one saved dataset share its uri
        for raw in inputs:
            given = Path(raw).resolve()
            root = given if given.is_dir() and not is_saved_dataset(given) else given.parent
            self.input_roots = tuple(dict.fromkeys([*self.input_roots, str(root)]))
            for data in find_data(raw, cfg.format, cfg.split):
                if data.path not in uris:
                    uris[data.path] = unique_uri(data.path, root, taken)
                data = dataclasses.replace(data, rel=uris[data.path])
                if budget <= 0:
                    return units
                where = f"{data.uri}#{data.split + '/' if data.split else ''}"
                try:
                    available = columns_of(data)
                    fields = Fields.resolve(cfg.columns, available)
                    if available is not None and (missing := fields.missing(available)):
                        raise InputError("MissingColumn", f"{data.path.name} has no column "
                                         f"{', '.join(repr(c) for c in missing)} named in [dataset.columns] "
                                         f"(its columns: {', '.join(available)})")
                    read = None if available is None else fields.read_columns(cfg.meta_columns, available)
                    ranges = plan_ranges(data, cfg.rows_per_unit, int(min(budget, 2**62)))
                except Exception as e:
                    units.append(Unit(f"{where}file", data.uri, 0, {"error": _describe(e, data)}))
                    continue
                for rng in ranges:
                    size = rng["rows"] if "rows" in rng else rng["stop"] - rng["start"]
                    span = (f"lines={rng['first_line']}-{rng['last_line']}" if "rows" in rng
                            else f"rows={rng['start']}-{rng['stop'] - 1}")
                    units.append(Unit(f"{where}{span}", data.uri, size,
                                      {"path": str(data.path), "format": data.format, "split": data.split,
                                       "range": rng, "available": available, "read": read}))
                    budget -= size
        return units

    # -- worker side -------------------------------------------------------------------------
    def expand(self, unit: Unit) -> Iterator[dict[str, Any]]:
        p, cfg = unit.params, self.config
        if "error" in p:
            yield failure(source=cfg.name, uri=unit.uri, locator=unit.locator, stage=self.qualified_name,
                          error_type=p["error"]["type"], message=p["error"]["message"])
            return
        data = DataFile(Path(p["path"]), p["format"], p["split"], unit.uri)
        fields = Fields.resolve(cfg.columns, p["available"])
        base = data.path if data.format == "hf" else data.path.parent  # where relative image paths start
        for locator, raw in read_range(data, p["range"], p["read"]):
            try:
                if isinstance(raw, Exception):
                    raise raw
                yield to_sample(raw, fields_=fields, cfg=cfg, uri=data.uri, locator=locator, base=base,
                                fmt=data.format, stage=self.qualified_name)
            except Exception as e:  # one bad row never costs the others
                text = str(e) or repr(e)
                yield failure(source=cfg.name, uri=data.uri, locator=locator, stage=self.qualified_name, error=e,
                              message=text if data.path.name in text else f"{data.path.name} {locator}: {text}")


def _describe(error: Exception, data: DataFile) -> dict[str, str]:
    kind = getattr(error, "error_type", None) or type(error).__name__
    text = str(error) or repr(error)
    return {"type": kind, "message": text if data.path.name in text else f"{data.path.name}: {text}"}
