"""`python -m pipelines.build`: build a dataset from one source into Parquet shards.

    python -m pipelines.build --source pdf                       # the embedded sample corpus
    python -m pipelines.build --source pdf --input papers/ --out data/pdf --dpi 200
    python -m pipelines.build --config configs/pdf.toml --ray-address auto

Rerunning into the same --out resumes; --fresh starts over. Exit status 0 when the run completed
(failed inputs are recorded in errors.parquet), 1 when a stage failed on more than
`run.max_error_share` of its rows, 2 with a one-line reason for bad usage, 3 when a write found no space left
(the line names the folder and about how much more is needed; free space and rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipelines import registry
from pipelines.config import ConfigError, config_class, load
from pipelines.config import section as config_section


@dataclass(frozen=True)
class Flag:
    """A command-line flag that sets one config key. The help text's default is read from the config
    dataclasses, so it never drifts from the code."""

    flag: str
    key: str  # section.field, e.g. "pdf.dpi"
    help: str
    kind: Callable[[str], Any] | None = str  # None: a switch (store_true) that sets `value`
    value: Any = True
    repeat: bool = False  # repeatable; the values become a tuple
    metavar: str | None = None

    def default(self) -> Any:
        section, _, name = self.key.rpartition(".")
        return getattr(config_section(config_class()(), section), name)


FLAGS: tuple[Flag, ...] = (
    Flag("--input", "run.inputs", "file or folder (recursive); repeatable; default: the embedded sample corpus",
         repeat=True, metavar="PATH"),
    Flag("--out", "run.out", "output folder (default: out/<source>)", metavar="DIR"),
    Flag("--ray-address", "run.ray_address", "'auto' or ray://host:10001 to use a cluster; default: a local Ray "
         "instance on loopback", metavar="ADDR"),
    Flag("--num-cpus", "run.num_cpus", "CPUs for the local Ray instance (default: all)", int, metavar="N"),
    Flag("--limit", "run.limit", "stop after N pages/items, for a quick look", int, metavar="N"),
    Flag("--fresh", "run.fresh", "discard what --out holds and start over", None),
    Flag("--shard-rows", "run.shard_rows", "rows per Parquet shard", int, metavar="N"),
    Flag("--no-filters", "run.filters", "skip the quality filters", None, False),
    Flag("--no-rejects", "run.write_rejects", "do not write dropped samples to out/rejects/", None, False),
    Flag("--no-report", "run.report", "skip writing out/report.html at the end", None, False),
    Flag("--dpi", "pdf.dpi", "PDF render resolution", int, metavar="N"),
    Flag("--no-figures", "pdf.figures", "do not crop figures and charts out of PDF pages", None, False),
    Flag("--count", "chart.count", "charts to synthesise (--source chart)", int, metavar="N"),
    Flag("--max-pages", "web.crawl.max_pages", "--source web: pages per site", int, metavar="N"),
    Flag("--max-depth", "web.crawl.max_depth", "--source web: link hops from a seed", int, metavar="N"),
    Flag("--allow-domain", "web.crawl.allow_domains", "--source web: also follow links into domain D and its "
         "subdomains (repeatable; default: the seed's own host only)", repeat=True, metavar="D"),
    Flag("--crawl-delay", "web.crawl.delay", "--source web: seconds between requests to one host, pages and "
         "images (robots.txt Crawl-delay may raise it)", float, metavar="S"),
    Flag("--no-documents", "web.documents", "--source web: no interleaved document per page", None, False),
    Flag("--allow-private", "web.crawl.allow_private", "--source web: crawl loopback, private and link-local "
         "addresses (refused by default)", None),
    Flag("--browser", "web.browser", "Chromium to drive (default: $VLFORGE_BROWSER, Playwright's own, "
         "/usr/bin/chromium)", metavar="PATH"),
    Flag("--no-dedup", "dedup.enabled", "skip global dedup", None, False),
    Flag("--grounding-max-turns", "grounding.max_turns", "grounding turns per page or screenshot (0: none)", int,
         metavar="N"),
    Flag("--ocr", "ocr.backend", "OCR backend (none skips OCR)", metavar="NAME"),
    Flag("--ocr-policy", "ocr.policy", "where OCR runs: auto (pages without a usable text layer, images without "
         "text lines, audits), all (every image), none", metavar="POLICY"),
    Flag("--ocr-model-dir", "ocr.model_dir", "local PaddleOCR model folder", metavar="DIR"),
    Flag("--object-store-mb", "ray.object_store_mb", "object store of the local Ray instance (0: a tenth of RAM, "
         "512-1024 MB)", int, metavar="MB"),
    Flag("--spill-dir", "ray.spill_dir", "where the local Ray instance spills objects", metavar="DIR"),
    Flag("--memory-limit", "ray.memory_limit", "memory the local run must fit in, e.g. 1.5G: fewer workers, a smaller "
         "object store and smaller shard batches (default: the memory cgroup's limit, if any)", metavar="SIZE"),
)


def _help(f: Flag) -> str:
    if f.kind is None:
        return f.help
    default = f.default()
    shown = ", ".join(default) if isinstance(default, tuple) else default
    return f.help if default in (None, "", ()) or "default" in f.help else f"{f.help} (default: {shown})"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m pipelines.build", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", choices=registry.source_names(),
                   help="what to build from (default: pdf, or the config's run.source)")
    p.add_argument("--config", metavar="FILE.toml", help="settings file; flags override it")
    p.add_argument("--print-config", nargs="?", const="", metavar="NAME", help="print a shipped config (pdf, web, "
                   "chart, mix; default: --source's, else pdf) to start a --config file from, and exit")
    p.add_argument("--seed", action="append", metavar="URL|N", help="--source web: a start URL (repeatable; "
                   "default: the bundled sample site); --source chart: the first chart seed, an integer "
                   f"(default {config_class()().chart.seed})")
    p.add_argument("--column", action="append", metavar="FIELD=COLUMN", help="--source dataset: which column "
                   "fills a sample field (image, text, question, answer, messages, table, code, html, id); "
                   "repeatable; the [dataset.columns] keys")
    for f in FLAGS:
        dest = f.key.replace(".", "__")
        if f.kind is None:
            p.add_argument(f.flag, dest=dest, action="store_const", const=f.value, help=_help(f))
        elif f.repeat:
            p.add_argument(f.flag, dest=dest, action="append", type=f.kind, metavar=f.metavar, help=_help(f))
        else:
            p.add_argument(f.flag, dest=dest, type=f.kind, metavar=f.metavar, help=_help(f))
    return p.parse_args(argv)


def configure(args: argparse.Namespace) -> Any:
    """The run's config: the file (or the defaults), then the flags, validated."""
    cfg = load(args.config)
    if args.source:
        cfg = cfg.replace("run", source=args.source)
    for f in FLAGS:
        value = getattr(args, f.key.replace(".", "__"))
        if value is not None:
            section, _, name = f.key.rpartition(".")
            cfg = cfg.replace(section, **{name: tuple(value) if f.repeat else value})
    if args.column:
        cfg = cfg.replace("dataset", columns=_columns(cfg.dataset.columns, args.column))
    cfg = _seeds(cfg, args.seed)
    try:
        return cfg.validate()
    except ConfigError as e:
        flag = next((f.flag for f in FLAGS if f.key == e.key and getattr(args, f.key.replace(".", "__")) is not None),
                    "--seed" if e.key in ("web.seeds", "chart.seed") and args.seed else None)
        raise ConfigError(f"{flag} ({e})" if flag else str(e), e.key) from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.print_config is not None:
        return print_config(args.print_config or args.source or "pdf")
    try:
        cfg = configure(args)
        from pipelines.recipes import build_pipeline

        pipeline = build_pipeline(cfg)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    from pipelines.disk import EXIT_NO_SPACE, OutOfSpace, out_of_space
    from pipelines.runner import RunOptions, StageFailed, run
    from pipelines.shards import ResumeMismatch
    from pipelines.stage import StageUnavailable
    from pipelines.summary import print_summary

    opts = RunOptions.from_config(cfg)
    if opts.memory:
        print(opts.memory.describe(), flush=True)
    try:
        result = run(pipeline, opts)
    except (ResumeMismatch, StageUnavailable) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OutOfSpace as e:
        print(e, file=sys.stderr)
        return EXIT_NO_SPACE
    except StageFailed as e:
        write_card(opts.out, argv)  # the output is written (its errors can be read): it is still a dataset
        print(f"error: {e}", file=sys.stderr)
        return 1
    from taxonomy.tree import load_taxonomy

    tree = load_taxonomy()
    print_summary(result, use_cases={c: tree.children(c) for c in tree.categories})
    if cfg.run.report:
        from pipelines.report import build_report

        try:
            report = build_report(opts.out)
        except OSError as e:
            if (full := out_of_space(e, opts.out)) is None:
                raise
            print(full, file=sys.stderr)
            return EXIT_NO_SPACE
        print(f"report: {report.resolve()}  (python -m pipelines.report {opts.out} --open)")
    write_card(opts.out, argv)
    return 0


def print_config(name: str) -> int:
    """`--print-config NAME`: a config shipped inside the package, so an installed vlforge can start a TOML from it."""
    from pipelines.resources import config_text

    try:
        print(config_text(name), end="")
    except KeyError as e:
        print(f"error: --print-config: {e.args[0]}", file=sys.stderr)
        return 2
    return 0


def write_card(out: Any, argv: list[str] | None) -> None:
    """OUT/README.md: the dataset card that makes the folder a Hugging Face dataset repo (pipelines/card.py),
    with the command as typed. The samples are written by now, so a card that fails is a warning."""
    import shlex

    from pipelines import card

    command = shlex.join(["python", "-m", "pipelines.build", *(sys.argv[1:] if argv is None else argv)])
    try:
        path = card.write_card(out, command)
    except Exception as e:
        print(f"warning: no dataset card written ({type(e).__name__}: {e})", file=sys.stderr)
        return
    print(f"card: {path.resolve()}  (datasets.load_dataset({str(out)!r}))" if path else
          f"card: {out}/{card.CARD} is not a vlforge card: left as it is")


def _columns(current: Any, pairs: list[str]) -> Any:
    """--column FIELD=COLUMN flags applied to the dataset column map."""
    known = [f.name for f in dataclasses.fields(current)]
    changes = {}
    for pair in pairs:
        name, eq, column = pair.partition("=")
        if not eq or name not in known:
            raise ConfigError(f"--column {pair}: expected FIELD=COLUMN with FIELD one of {', '.join(known)}")
        changes[name] = column
    return dataclasses.replace(current, **changes)


def _seeds(cfg: Any, seeds: list[str] | None) -> Any:
    """--seed is a start URL for --source web and the first chart seed (an integer) otherwise."""
    if seeds and cfg.run.source == "web":
        cfg = cfg.replace("web", seeds=tuple(seeds))
    elif seeds:
        if len(seeds) > 1 or not seeds[0].lstrip("-").isdigit():
            raise ConfigError(f"--seed {' '.join(seeds)}: for --source {cfg.run.source} it is one integer "
                              "(the first chart seed); start URLs go with --source web")
        cfg = cfg.replace("chart", seed=int(seeds[0]))
    if cfg.run.source == "web" and cfg.web.seeds and cfg.run.inputs:
        raise ConfigError("--seed crawls sites and --input renders local HTML/EPUB files: give one of them")
    return cfg


if __name__ == "__main__":
    sys.exit(main())
