"""Measure LangId on the shipped labeled set: `python -m filters.eval_lang [--json FILE]`.

The pipeline keeps English and Chinese, so besides plain accuracy we report how often the keep/drop decision is right.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from filters.langid import LangId
from pipelines.resources import package_path

EVAL_PATH = package_path("filters", "data", "lang_eval.jsonl")
KEEP_LANGS = frozenset({"en", "zh"})


def load_eval(path: Path = EVAL_PATH) -> list[dict[str, str]]:
    """The labeled rows, each {"lang": ..., "text": ...}."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def evaluate(langid: LangId | None = None, path: Path = EVAL_PATH) -> dict:
    """Accuracy overall, per language and for the keep-set decision, as one JSON-ready dict."""
    rows = load_eval(path)
    preds = (langid or LangId()).predict([r["text"] for r in rows])
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    correct = keep_correct = 0
    for row, (lang, _) in zip(rows, preds, strict=True):
        ok = lang == row["lang"]
        correct += ok
        keep_correct += (lang in KEEP_LANGS) == (row["lang"] in KEEP_LANGS)
        hits[row["lang"]][0] += ok
        hits[row["lang"]][1] += 1
    n = len(rows)
    return {
        "accuracy": correct / n if n else 0.0,
        "keep_set_accuracy": keep_correct / n if n else 0.0,
        "per_lang": {lang: {"accuracy": c / t, "samples": t} for lang, (c, t) in sorted(hits.items())},
        "samples": n,
        "errors": [
            {"lang": r["lang"], "pred": p, "prob": round(prob, 3), "text": r["text"][:80]}
            for r, (p, prob) in zip(rows, preds, strict=True)
            if p != r["lang"]
        ],
    }


def main(argv: list[str] | None = None) -> int:
    """CLI entry: print the table, optionally write the report as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, help="write the report here as JSON")
    parser.add_argument("--data", type=Path, default=EVAL_PATH, help="labeled JSONL to evaluate on")
    args = parser.parse_args(argv)
    report = evaluate(path=args.data)

    table = Table(title=f"LangId on {args.data.name} ({report['samples']} samples)")
    table.add_column("lang")
    table.add_column("samples", justify="right")
    table.add_column("accuracy", justify="right")
    for lang, row in report["per_lang"].items():
        table.add_row(lang, str(row["samples"]), f"{row['accuracy']:.3f}")
    console = Console()
    console.print(table)
    console.print(f"accuracy {report['accuracy']:.3f}   keep-set {sorted(KEEP_LANGS)} accuracy "
                  f"{report['keep_set_accuracy']:.3f}")
    for err in report["errors"]:
        console.print(f"  [dim]{err['lang']} -> {err['pred']} ({err['prob']}): {err['text']}[/dim]", highlight=False)
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
