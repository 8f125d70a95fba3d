"""Train the text-quality classifier: `python -m filters.train_quality [--out PATH] [--json FILE] [--seed N]`.

Trains on the 80% split of `filters/data/quality/`, prints held-out accuracy and the precision and recall of "bad",
and saves the model (with its report beside it, which `load_or_train` uses to tell whether it is current).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from filters.quality_model import DEFAULT_DATA_DIR, DEFAULT_MODEL_PATH, train


def main(argv: list[str] | None = None) -> int:
    """CLI entry: train, save, report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH, help="where to write the model")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="folder with good.jsonl and bad.jsonl")
    parser.add_argument("--json", type=Path, help="also write the training report here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    model, report = train(args.data, seed=args.seed)
    model.save(args.out)
    args.out.with_name(args.out.name + ".json").write_text(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))

    heldout = report["heldout"]
    console = Console()
    table = Table(title="held-out accuracy by source")
    table.add_column("source")
    table.add_column("accuracy", justify="right")
    for source, accuracy in heldout["per_source_accuracy"].items():
        table.add_row(source, f"{accuracy:.3f}")
    console.print(table)
    counts = report["counts"]
    console.print(f"trained on {counts['train_good']} good + {counts['train_bad']} bad in {report['train_seconds']} s; "
                  f"held out {counts['heldout_good']} good + {counts['heldout_bad']} bad")
    console.print(f"held-out accuracy {heldout['accuracy']:.3f}   bad precision {heldout['bad_precision']:.3f}   "
                  f"bad recall {heldout['bad_recall']:.3f}")
    console.print(f"model written to {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
