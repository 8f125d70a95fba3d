"""The table a run ends with: what went in, what came out, what was dropped and why, how fast."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pipelines.runner import RunResult


def print_summary(result: RunResult, console: Console | None = None,
                  use_cases: dict[str, list[str]] | None = None) -> None:
    """The run's summary table, its funnel and, given the taxonomy ({category: [subcategory ids]}), which
    use cases the kept samples cover and which they miss."""
    console = console or Console()
    s = result.stats
    item = s.get("item_name", "items")
    t = Table(title="vlforge run summary", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_row("inputs", str(s.get("inputs", 0)))
    t.add_row(item, str(s.get("items", 0)))
    t.add_row("samples kept", str(s.get("kept", 0)))
    for kind, n in s.get("kept_by_kind", {}).items():
        t.add_row(f"  kind {kind}", str(n))
    t.add_row("samples dropped", str(s.get("dropped", 0)))
    for reason, n in s.get("dropped_by_reason", {}).items():
        t.add_row(f"  {reason}", str(n))
    t.add_row("errors", str(s.get("errors", 0)))
    for etype, n in s.get("errors_by_type", {}).items():
        t.add_row(f"  {etype}", str(n))
    if "dedup" in s:
        d = s["dedup"]
        t.add_row("duplicates", f"{d['duplicates']} ({', '.join(f'{k} {v}' for k, v in d['by_method'].items()) or '-'}"
                  f"; global pass {d['seconds']:.1f} s)")
        if d.get("edited"):
            e = d["edited"]
            t.add_row("boilerplate removed", f"{e.get('images', 0)} images, {e.get('paragraphs', 0)} paragraphs "
                      f"from {e.get('documents', 0)} documents")
    t.add_row("shards", str(s.get("shards", 0)))
    if result.units_run < result.units_total:
        t.add_row("resumed", f"{result.units_total - result.units_run} of {result.units_total} units already done")
    t.add_row(f"{item}/s (this run)", f"{result.items_per_second:.1f}")
    startup = result.seconds - result.work_seconds
    t.add_row("time", f"{result.seconds:.1f} s ({startup:.1f} s of it Ray start-up and planning)")
    console.print(t)
    if s.get("stages"):
        console.print(_stages_table(s["stages"]))
    if s.get("funnel"):
        console.print(_funnel_table(s["funnel"]))
    if use_cases:
        console.print(_coverage_table(s.get("kept_by_tag", {}), use_cases))
    console.print(f"output: {result.out.resolve()}  (shards/, errors.parquet, manifest.json, stats.json)")


def _stages_table(stages: dict[str, dict]) -> Table:
    """Per stage, in pipeline order: rows in and out, dropped, errors, worker CPU seconds, setups."""
    t = Table(title="stages (this output, all runs)", title_justify="left")
    t.add_column("stage")
    for name in ("rows in", "rows out", "dropped", "errors", "CPU s", "setups"):
        t.add_column(name, justify="right")
    for name, c in stages.items():
        t.add_row(name, str(c["rows_in"]), str(c["rows_out"]), str(c["dropped"]), str(c["errors"]),
                  f"{c['seconds']:.2f}", str(c["setups"]), style="red" if c["errors"] else None)
    return t


def _funnel_table(funnel: dict) -> Table:
    """Per source: samples in, each reason they were dropped for, errors, samples out."""
    t = Table(title="funnel", title_justify="left")
    t.add_column("source")
    t.add_column("step")
    t.add_column("samples", justify="right")
    for source, f in sorted(funnel.items()):
        t.add_row(source, "in", str(f["in"]))
        for reason, n in sorted(f["dropped"].items(), key=lambda kv: -kv[1]):
            t.add_row("", f"- {reason}", str(n))
        if f["errors"]:
            t.add_row("", "- errors", str(f["errors"]))
        t.add_row("", "out", str(f["out"]), style="bold")
    return t


def _coverage_table(by_tag: dict[str, int], use_cases: dict[str, list[str]]) -> Table:
    """Per top-level use case: tagged samples, then each subcategory's count (0 = a gap in the data)."""
    t = Table(title="use cases covered (kept samples per tag)", title_justify="left")
    t.add_column("category")
    t.add_column("samples", justify="right")
    t.add_column("subcategories")
    for category, subs in use_cases.items():
        counts = {sub: by_tag.get(sub, 0) for sub in subs}
        detail = ", ".join(f"{sub.split('.', 1)[1]} {n}" for sub, n in counts.items())
        t.add_row(category, str(sum(counts.values())), detail, style=None if any(counts.values()) else "dim")
    return t
