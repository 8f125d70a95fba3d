"""An ablation's runs summed up: results.json's variant table, the terminal tables and ablation.png.

Differences to the best variant are paired by seed: the same seed gives both runs the same initial
weights and the same step plan, so the per-seed difference cancels much of the seed's own noise,
and its spread over seeds is the honest error bar on "A is better than B".
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def _mean_std(values: list[float]) -> dict[str, Any]:
    return {"mean": round(statistics.fmean(values), 6),
            "std": round(statistics.stdev(values), 6) if len(values) > 1 else 0.0,
            "per_seed": [round(v, 6) for v in values]}


def _groups(runs: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """Per kind (or tag): mean and std over the seeds of its loss, with its token and row counts."""
    names = sorted({name for r in runs for name in r[key]})
    out = {}
    for name in names:
        values = [r[key][name]["loss"] for r in runs if name in r[key]]
        first = next(r[key][name] for r in runs if name in r[key])
        out[name] = {**_mean_std(values), "tokens": first["tokens"], "rows": first["rows"]}
    return out


def aggregate(runs: dict[str, list[dict[str, Any]]], offers: dict[str, int], settings: dict[str, Any]
              ) -> dict[str, Any]:
    """results.json: per variant its eval loss over seeds, by kind, by tag, rows offered, seconds; the
    ranking (best first) with each variant's paired difference to the best."""
    variants = {}
    for name, results in runs.items():
        seconds = [r["seconds"] for r in results]
        variants[name] = {
            "data": results[0]["data"],
            "eval_loss": _mean_std([r["eval_loss"] for r in results]),
            "by_kind": _groups(results, "by_kind"),
            "by_tag": _groups(results, "by_tag"),
            "train_samples": offers[name],
            "train_tokens": _mean_std([float(r["train_tokens"]) for r in results]),
            "seconds": round(sum(seconds), 2),
            "seconds_per_run": round(statistics.fmean(seconds), 2),
        }
    order = sorted(variants, key=lambda n: variants[n]["eval_loss"]["mean"])
    best = variants[order[0]]["eval_loss"]["per_seed"]
    ranking = []
    for name in order:
        mine = variants[name]["eval_loss"]["per_seed"]
        diffs = [a - b for a, b in zip(mine, best, strict=True)]
        ranking.append({"variant": name, "eval_loss": variants[name]["eval_loss"]["mean"],
                        "delta": _mean_std(diffs)["mean"], "delta_std": _mean_std(diffs)["std"],
                        "seeds_behind": sum(d > 0 for d in diffs)})
    return {"variants": variants, "ranking": ranking, "settings": settings}


def print_tables(results: dict[str, Any], console: Console | None = None) -> None:
    """The ranking, then eval loss by kind and by tag per variant (the best of each row starred)."""
    console = console or Console(width=max(100, shutil.get_terminal_size((140, 24)).columns))
    variants = results["variants"]
    seeds = len(results["settings"]["seeds"])
    table = Table(title=f"eval loss per answer token (stage {results['settings']['stage']}, "
                        f"{results['settings']['steps']} steps, {seeds} seeds; best first)")
    for column in ("#", "variant", "eval loss", "per seed", "Δ to best (paired)", "seeds behind",
                   "train rows", "tokens seen", "s/run"):
        table.add_column(column, justify="left" if column in ("variant", "per seed") else "right")
    for i, r in enumerate(results["ranking"], 1):
        v = variants[r["variant"]]
        delta = "best" if i == 1 else f"+{r['delta']:.4f} ± {r['delta_std']:.4f}"
        table.add_row(str(i), r["variant"], f"{v['eval_loss']['mean']:.4f} ± {v['eval_loss']['std']:.4f}",
                      " ".join(f"{x:.3f}" for x in v["eval_loss"]["per_seed"]), delta,
                      "-" if i == 1 else f"{r['seeds_behind']}/{seeds}", str(v["train_samples"]),
                      f"{v['train_tokens']['mean']:.0f}", f"{v['seconds_per_run']:.0f}")
    console.print(table)
    for key, title in (("by_kind", "kind"), ("by_tag", "tag")):
        console.print(_breakdown_table(results, key, title))


def _breakdown_table(results: dict[str, Any], key: str, title: str) -> Table:
    variants = results["variants"]
    names = [r["variant"] for r in results["ranking"]]
    rows = sorted({k for v in variants.values() for k in v[key]},
                  key=lambda k: -max(v[key][k]["tokens"] for v in variants.values() if k in v[key]))
    table = Table(title=f"eval loss by {title} (mean ± std over seeds; * best)")
    table.add_column(title)
    table.add_column("rows", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    for row in rows:
        cells = {n: variants[n][key].get(row) for n in names}
        best = min((c["mean"], n) for n, c in cells.items() if c)[1]
        rows_n = next(c["rows"] for c in cells.values() if c)
        table.add_row(row, str(rows_n), *[f"{c['mean']:.4f} ± {c['std']:.4f}{' *' if n == best else ''}" if c
                                          else "-" for n, c in cells.items()])
    return table


def plot_ablation(results: dict[str, Any], path: Path, max_tags: int = 12) -> Path:
    """Eval loss per variant (each seed a dot, mean ± std a bar), then per kind and per tag."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = results["variants"]
    names = [r["variant"] for r in results["ranking"]]
    colours = plt.get_cmap("tab10")
    kinds = sorted({k for v in variants.values() for k in v["by_kind"]})
    tags = sorted({t for v in variants.values() for t in v["by_tag"]},
                  key=lambda t: -max(v["by_tag"][t]["tokens"] for v in variants.values() if t in v["by_tag"]))
    tags = tags[:max_tags]
    widths = [max(2, len(names)), max(2, len(kinds)), max(3, len(tags))]
    fig, axes = plt.subplots(1, 3, figsize=(4 + 0.9 * sum(widths), 4.8), dpi=100,
                             gridspec_kw={"width_ratios": widths})
    ax = axes[0]
    for i, name in enumerate(names):
        loss = variants[name]["eval_loss"]
        ax.bar(i, loss["mean"], yerr=loss["std"], color=colours(i % 10), alpha=0.35, capsize=4)
        seeds = loss["per_seed"]
        xs = [i + (j - (len(seeds) - 1) / 2) * 0.12 for j in range(len(seeds))]
        ax.plot(xs, seeds, "o", color=colours(i % 10), ms=5)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel("eval loss (nats per answer token)")
    ax.set_title("per variant (dots: seeds)")
    _zoom(ax, [s for n in names for s in variants[n]["eval_loss"]["per_seed"]])
    for ax, key, groups in ((axes[1], "by_kind", kinds), (axes[2], "by_tag", tags)):
        width = 0.8 / max(1, len(names))
        values = []
        for i, name in enumerate(names):
            cells = [variants[name][key].get(g) for g in groups]
            xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(groups))]
            ax.bar(xs, [c["mean"] if c else 0 for c in cells], width, yerr=[c["std"] if c else 0 for c in cells],
                   color=colours(i % 10), label=name, capsize=2)
            values += [c["mean"] + sign * c["std"] for c in cells if c for sign in (-1, 1)]
        ax.set_xticks(range(len(groups)), groups, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"per {key[3:]}")
        _zoom(ax, values)
    axes[2].legend(fontsize=8, loc="upper right")
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _zoom(ax: Any, values: list[float]) -> None:
    """A y range around the values: differences between variants are often small next to the loss."""
    if values:
        lo, hi = min(values), max(values)
        pad = max(0.05, 0.15 * (hi - lo))
        ax.set_ylim(max(0.0, lo - 4 * pad), hi + 2 * pad)
