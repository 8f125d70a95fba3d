"""Train the request classifier: `python -m taxonomy.train [--out PATH] [--json FILE] [--seed N]`.

Trains on the 80% split of `taxonomy/data/requests.jsonl` (plus the taxonomy's example requests), fits the calibration
temperature on out-of-fold predictions of that split, prints held-out accuracy and calibration error, and saves the
model with its metadata beside it (which `load_or_train` uses to tell whether it is current).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from taxonomy.classifier import DEFAULT_DATA, DEFAULT_MODEL_PATH, train
from taxonomy.tree import DEFAULT_PATH as DEFAULT_TAXONOMY


def main(argv: list[str] | None = None) -> int:
    """CLI entry: train, save, report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH, help="where to write the model")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled requests, one JSON per line")
    parser.add_argument("--taxonomy", type=Path, default=DEFAULT_TAXONOMY, help="the taxonomy TOML file")
    parser.add_argument("--json", type=Path, help="also write the training report here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    model, report = train(args.data, seed=args.seed, taxonomy_path=args.taxonomy)
    model.save(args.out)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))

    heldout = report["heldout"]
    console = Console()
    table = Table(title="held-out top-1 accuracy")
    for column in ("requests", "n", "subcategory", "category"):
        table.add_column(column, justify="left" if column == "requests" else "right")
    table.add_row("all", str(heldout["n"]), f"{heldout['subcategory_accuracy']:.3f}",
                  f"{heldout['category_accuracy']:.3f}")
    for lang, figures in heldout["by_language"].items():
        table.add_row(lang, str(figures["n"]), f"{figures['subcategory_accuracy']:.3f}",
                      f"{figures['category_accuracy']:.3f}")
    console.print(table)
    worst = sorted(heldout["per_subcategory_accuracy"].items(), key=lambda item: item[1])[:5]
    console.print("weakest subcategories: " + ", ".join(f"{tag} {accuracy:.2f}" for tag, accuracy in worst))
    console.print(f"calibration: temperature {report['temperature']:.3f}; held-out ECE "
                  f"{heldout['ece_uncalibrated']:.3f} before, {heldout['ece']:.3f} after")
    counts = report["counts"]
    console.print(f"trained on {counts['train']} requests + {counts['taxonomy_examples']} taxonomy examples "
                  f"({counts['labels']} labels) in {report['train_seconds']} s; held out {counts['heldout']}")
    console.print(f"model written to {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
