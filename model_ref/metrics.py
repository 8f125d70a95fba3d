"""The run's record: `metrics.jsonl` (one line per training step) and the loss curve PNG drawn from it.

A resumed run first cuts the log back to the checkpoint's step, so the file always reads as one
uninterrupted run; a line torn by a kill is dropped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILE = "metrics.jsonl"
PLOT = "loss.png"


class MetricsLog:
    """Appends one JSON object per step, flushed at once so a kill loses at most the line in flight."""

    def __init__(self, out: Path, keep_until: int | None = None) -> None:
        """Open `out/metrics.jsonl`; keep only lines with global_step <= keep_until (None: start afresh)."""
        self.path = Path(out) / FILE
        rows = read_metrics(self.path) if keep_until is not None else []
        rows = [r for r in rows if r["global_step"] <= (keep_until or 0)]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        os.replace(tmp, self.path)
        self._f = self.path.open("a")

    def write(self, row: dict[str, Any]) -> None:
        self._f.write(json.dumps(row) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The step lines of a metrics file (a missing file is empty; a torn last line is skipped)."""
    path = Path(path)
    if path.is_dir():
        path = path / FILE
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def plot_losses(out: Path) -> Path:
    """Draw training loss (per step and smoothed) and held-out loss against the global step, one
    colour band per stage, into `out/loss.png`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(Path(out) / FILE)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    if rows:
        x = [r["global_step"] for r in rows]
        y = [r["loss"] for r in rows]
        ax.plot(x, y, color="#9ecae1", lw=0.8, label="train loss")
        k = max(1, len(y) // 30)
        smooth = [sum(y[max(0, i - k + 1): i + 1]) / len(y[max(0, i - k + 1): i + 1]) for i in range(len(y))]
        ax.plot(x, smooth, color="#08519c", lw=1.6, label=f"train loss (mean of {k})")
        label = "held-out loss"
        for stage in sorted({r["stage"] for r in rows}):  # each stage has its own held-out set: one line each
            evals = [(r["global_step"], r["eval_loss"]) for r in rows
                     if r["stage"] == stage and r.get("eval_loss") is not None]
            if evals:
                ax.plot(*zip(*evals, strict=True), "o-", color="#d94801", ms=4, label=label)
                label = None
        colours = {1: "#f2f0f7", 2: "#edf8e9", 3: "#fff5eb"}
        for stage in sorted({r["stage"] for r in rows}):
            steps = [r["global_step"] for r in rows if r["stage"] == stage]
            ax.axvspan(min(steps) - 0.5, max(steps) + 0.5, color=colours.get(stage, "#f0f0f0"), zorder=0)
            ax.text((min(steps) + max(steps)) / 2, 0.98, f"stage {stage}", transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize=9)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per token)")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(out) / PLOT
    fig.savefig(path)
    plt.close(fig)
    return path
