"""`python -m pipelines.build`: build a dataset from one source into Parquet shards.

    python -m pipelines.build --source pdf                       # the embedded sample corpus
    python -m pipelines.build --source pdf --input papers/ --out data/pdf --dpi 200
    python -m pipelines.build --config configs/pdf.toml --ray-address auto

Rerunning into the same --out resumes; --fresh starts over. Exit status 0 when the run completed
(failed inputs are recorded in errors.parquet), 2 with a one-line reason for bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.config import OCR_BACKENDS, SOURCES, ConfigError, load, to_dict


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m pipelines.build", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", choices=SOURCES, help="what to build from (default: pdf, or the config's run.source)")
    p.add_argument("--input", action="append", metavar="PATH", help="file or folder (recursive); repeatable; "
                   "default: the embedded sample corpus")
    p.add_argument("--out", metavar="DIR", help="output folder (default: out/<source>)")
    p.add_argument("--config", metavar="FILE.toml", help="settings file; flags override it")
    p.add_argument("--ray-address", metavar="ADDR", help="'auto' or ray://host:10001 to use a cluster; "
                   "default: a local Ray instance on loopback")
    p.add_argument("--num-cpus", type=int, metavar="N", help="CPUs for the local Ray instance (default: all)")
    p.add_argument("--limit", type=int, metavar="N", help="stop after N pages/items, for a quick look")
    p.add_argument("--fresh", action="store_true", help="discard what --out holds and start over")
    p.add_argument("--dpi", type=int, metavar="N", help="PDF render resolution (default 144)")
    p.add_argument("--no-figures", action="store_true", help="do not crop figures and charts out of PDF pages")
    p.add_argument("--count", type=int, metavar="N", help="charts to synthesise (--source chart; default 200)")
    p.add_argument("--seed", action="append", metavar="URL|N", help="--source web: a start URL (repeatable; "
                   "default: the bundled sample site); --source chart: the first chart seed, an integer (default 0)")
    p.add_argument("--max-pages", type=int, metavar="N", help="--source web: pages per site (default 100)")
    p.add_argument("--max-depth", type=int, metavar="N", help="--source web: link hops from a seed (default 3)")
    p.add_argument("--allow-domain", action="append", metavar="D", help="--source web: also follow links into "
                   "domain D and its subdomains (repeatable; default: the seed's own host only)")
    p.add_argument("--allow-private", action="store_true", help="--source web: crawl loopback, private and "
                   "link-local addresses (refused by default)")
    p.add_argument("--browser", metavar="PATH", help="Chromium to drive (default: $VLFORGE_BROWSER, Playwright's "
                   "own, /usr/bin/chromium)")
    p.add_argument("--shard-rows", type=int, metavar="N", help="rows per Parquet shard (default 1000)")
    p.add_argument("--no-filters", action="store_true", help="skip the quality filters")
    p.add_argument("--no-dedup", action="store_true", help="skip global dedup")
    p.add_argument("--no-rejects", action="store_true", help="do not write dropped samples to out/rejects/")
    p.add_argument("--no-report", action="store_true", help="skip writing out/report.html at the end")
    p.add_argument("--ocr", choices=OCR_BACKENDS, help="OCR backend (default rapidocr; none skips OCR)")
    p.add_argument("--ocr-model-dir", metavar="DIR", help="local PaddleOCR model folder")
    p.add_argument("--column", action="append", metavar="FIELD=COLUMN", help="--source dataset: which column "
                   "fills a sample field (image, text, question, answer, messages, table, code, html, id); "
                   "repeatable; the [dataset.columns] keys")
    p.add_argument("--object-store-mb", type=int, metavar="MB", help="object store of the local Ray instance "
                   "(default: a tenth of RAM, 512-1024 MB)")
    p.add_argument("--spill-dir", metavar="DIR", help="where the local Ray instance spills objects")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = load(args.config)
        cfg = cfg.replace("run", source=args.source, inputs=tuple(args.input) if args.input else None,
                          out=args.out, ray_address=args.ray_address, num_cpus=args.num_cpus, limit=args.limit,
                          shard_rows=args.shard_rows, filters=False if args.no_filters else None,
                          write_rejects=False if args.no_rejects else None,
                          report=False if args.no_report else None, fresh=True if args.fresh else None)
        cfg = cfg.replace("ray", object_store_mb=args.object_store_mb, spill_dir=args.spill_dir)
        if args.column:
            cfg = cfg.replace("dataset", columns=_columns(cfg.dataset.columns, args.column))
        cfg = cfg.replace("dedup", enabled=False if args.no_dedup else None)
        cfg = cfg.replace("pdf", dpi=args.dpi, figures=False if args.no_figures else None)
        cfg = _web_flags(cfg.replace("chart", count=args.count), args)
        cfg = cfg.replace("ocr", backend=args.ocr, model_dir=args.ocr_model_dir)
        _validate(cfg)
        from pipelines.recipes import build_pipeline

        try:
            pipeline = build_pipeline(cfg)
        except ValueError as e:  # a stage refusing its settings, e.g. pdf.image_format
            raise ConfigError(str(e)) from None
        for raw in cfg.run.inputs:
            if not Path(raw).exists():
                raise ConfigError(f"input {raw} does not exist")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    from pipelines.runner import RunOptions, run
    from pipelines.shards import ResumeMismatch
    from pipelines.stage import StageUnavailable
    from pipelines.summary import print_summary

    out = Path(cfg.run.out or f"out/{cfg.run.source}")
    opts = RunOptions(out=out, inputs=cfg.run.inputs, limit=cfg.run.limit, fresh=cfg.run.fresh,
                      object_store_bytes=(cfg.ray.object_store_mb << 20) or None, spill_dir=cfg.ray.spill_dir,
                      ray_address=cfg.run.ray_address, num_cpus=cfg.run.num_cpus, shard_rows=cfg.run.shard_rows,
                      write_rejects=cfg.run.write_rejects, fingerprint=cfg.fingerprint(), config=to_dict(cfg))
    try:
        result = run(pipeline, opts)
    except (ResumeMismatch, StageUnavailable) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from taxonomy.tree import load_taxonomy

    tree = load_taxonomy()
    print_summary(result, use_cases={c: tree.children(c) for c in tree.categories})
    if cfg.run.report:
        from pipelines.report import build_report

        print(f"report: {build_report(out).resolve()}  (python -m pipelines.report {out} --open)")
    return 0


def _columns(current, pairs: list[str]):
    """--column FIELD=COLUMN flags applied to the dataset column map."""
    import dataclasses

    known = [f.name for f in dataclasses.fields(current)]
    changes = {}
    for pair in pairs:
        name, eq, column = pair.partition("=")
        if not eq or name not in known:
            raise ConfigError(f"--column {pair}: expected FIELD=COLUMN with FIELD one of {', '.join(known)}")
        changes[name] = column
    return dataclasses.replace(current, **changes)


def _web_flags(cfg, args: argparse.Namespace):
    """--seed is a start URL for --source web and the first chart seed (an integer) otherwise; the
    crawl flags go to [web.crawl]."""
    import dataclasses

    if args.seed and cfg.run.source == "web":
        cfg = cfg.replace("web", seeds=tuple(args.seed))
    elif args.seed:
        if len(args.seed) > 1 or not args.seed[0].lstrip("-").isdigit():
            raise ConfigError(f"--seed {' '.join(args.seed)}: for --source {cfg.run.source} it is one integer "
                              "(the first chart seed); start URLs go with --source web")
        cfg = cfg.replace("chart", seed=int(args.seed[0]))
    flags = {"max_pages": args.max_pages, "max_depth": args.max_depth,
             "allow_domains": tuple(args.allow_domain) if args.allow_domain else None,
             "allow_private": True if args.allow_private else None}
    crawl = dataclasses.replace(cfg.web.crawl, **{k: v for k, v in flags.items() if v is not None})
    cfg = cfg.replace("web", browser=args.browser, crawl=crawl)
    if cfg.run.source == "web" and cfg.web.seeds and cfg.run.inputs:
        raise ConfigError("--seed crawls sites and --input renders local HTML/EPUB files: give one of them")
    return cfg


def _validate(cfg) -> None:
    r = cfg.run
    if cfg.ray.object_store_mb and cfg.ray.object_store_mb < 100:
        raise ConfigError(f"ray.object_store_mb must be 0 (automatic) or at least 100, got {cfg.ray.object_store_mb}")
    if r.limit is not None and r.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {r.limit}")
    if r.shard_rows < 1:
        raise ConfigError(f"run.shard_rows must be at least 1, got {r.shard_rows}")
    if r.num_cpus is not None and r.num_cpus < 1:
        raise ConfigError(f"--num-cpus must be at least 1, got {r.num_cpus}")
    if not 18 <= cfg.pdf.dpi <= 1200:
        raise ConfigError(f"--dpi must be between 18 and 1200, got {cfg.pdf.dpi}")
    if cfg.ocr.backend not in OCR_BACKENDS:
        raise ConfigError(f"ocr.backend must be one of {', '.join(OCR_BACKENDS)}, got {cfg.ocr.backend!r}")
    if cfg.ocr.threads < 1 or cfg.ocr.batch_size < 1 or cfg.ocr.workers < 0:
        raise ConfigError("ocr.threads and ocr.batch_size must be at least 1, ocr.workers at least 0")
    d = cfg.dedup
    if not 0 < d.text_threshold <= 1 or not 0 <= d.image_text_min_jaccard <= 1:
        raise ConfigError("dedup.text_threshold must be in (0, 1] and dedup.image_text_min_jaccard in [0, 1]")
    if not 0 <= d.max_phash_distance < 64 or d.num_perm < 16 or d.shingle_size < 1:
        raise ConfigError("dedup.max_phash_distance must be in [0, 64), dedup.num_perm at least 16, "
                          "dedup.shingle_size at least 1")


if __name__ == "__main__":
    sys.exit(main())
