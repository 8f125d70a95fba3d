"""`python -m pipelines.export OUT --format {llava,webdataset,obelics,jsonl} --out DIR`: see pipelines/export.

    python -m pipelines.export out/pdf --format llava --out exports/pdf-llava
    python -m pipelines.export out/web --format webdataset --out exports/web-wds --shard-size 5000
    python -m pipelines.export out/web --format obelics --out exports/web-docs
    python -m pipelines.export out/pdf --format jsonl --out exports/pdf-text --kinds text,document

Rerunning a killed export resumes it. Exit status 0 when done, 2 with a one-line `error: ...` for a
request that cannot be done (an unknown format, a selection with no samples, a folder in the way).
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from pipelines.export.run import FORMATS, ExportError, export


def _names(values: list[str] | None) -> tuple[str, ...]:
    """--kinds page,figure --kinds chart -> ("page", "figure", "chart")."""
    return tuple(dict.fromkeys(v.strip() for item in values or [] for v in item.split(",") if v.strip()))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m pipelines.export", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog="\n".join(
                                    __doc__.split("\n")[2:7]))
    p.add_argument("build", metavar="OUT", help="a build's output folder (python -m pipelines.build --out)")
    p.add_argument("--format", required=True, metavar="FORMAT", help=f"one of {', '.join(FORMATS)}")
    p.add_argument("--out", required=True, metavar="DIR", help="where the export goes (new, empty, or this "
                   "same export to resume)")
    p.add_argument("--kinds", action="append", metavar="KIND[,KIND]", help="only samples of these kinds "
                   "(default: every kind; obelics: document; jsonl: text, document)")
    p.add_argument("--tags", action="append", metavar="TAG[,TAG]", help="only samples carrying one of these "
                   "use-case tags (a category names its subcategories: recognition)")
    p.add_argument("--shard-size", type=int, default=1000, metavar="N", help="rows per output shard (default 1000)")
    p.add_argument("--fresh", action="store_true", help="discard an earlier export in DIR and start over")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=True)
    bar = Progress(TextColumn(f"[bold]{args.format}"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
                   TextColumn("{task.fields[mb]:.1f} MB"), TimeElapsedColumn(), TimeRemainingColumn(),
                   console=console, transient=False)
    task = None

    def progress(total: int):
        nonlocal task
        task = bar.add_task("export", total=total, mb=0.0)
        bar.start()

        def tick(rows: int, written: int) -> None:
            mb = bar.tasks[0].fields["mb"] + written / 1e6
            bar.update(task, advance=rows, mb=mb)

        return tick

    try:
        result = export(args.build, args.format, args.out, _names(args.kinds), _names(args.tags), args.shard_size,
                        args.fresh, progress)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        bar.stop()
    left = f"; {result.left_out} selected samples left out (they lack {FORMATS[args.format].requirement})" \
        if result.left_out else ""
    print(f"exported {result.rows} samples, {result.images} images, {result.bytes / 1e6:.1f} MB in "
          f"{result.shards} shards to {result.out}{left}")
    if result.this_run_rows:
        print(f"this run: {result.this_run_rows} rows in {result.seconds:.1f} s ({result.rows_per_second:.0f} rows/s, "
              f"{result.mb_per_second:.1f} MB/s, {result.cpu_seconds:.1f} CPU s)")
    print("use: " + ", ".join(str(result.out / e) for e in result.entry))
    return 0


if __name__ == "__main__":
    sys.exit(main())
