"""Benchmark charts: synthetic charts per second and figures found per second.

    python bench/charts.py [--count 400] [--workers 1 2] [--copies 20]

Synthesis: the pipeline (`--source chart`, no stages: draw, encode, write Parquet) against a plain
process pool of the same size calling the same `chart_sample` and writing Parquet, in the same run;
their ratio and the 2-vs-1-worker speed-up. Extraction: figures found (find, crop at 200 dpi,
classify) per second in a plain loop over the embedded corpus, and the PDF pipeline with figure
extraction on against off, so its cost per page shows.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines import ray_env  # noqa: E402
from pipelines.config import Config, to_dict  # noqa: E402
from pipelines.runner import Pipeline, RunOptions, run  # noqa: E402
from pipelines.schema import SAMPLE_SCHEMA, to_table  # noqa: E402
from sources.chart.source import ChartConfig, ChartSource  # noqa: E402
from sources.chart.synth import chart_sample  # noqa: E402


def _plain_chunk(args: tuple[list[int], str]) -> int:
    seeds, out = args
    rows = [chart_sample(s) for s in seeds]
    pq.write_table(to_table(rows, SAMPLE_SCHEMA), Path(out) / f"{seeds[0]}.parquet")
    return len(rows)


def plain_synthesis(count: int, workers: int, per_unit: int) -> float:
    out = tempfile.mkdtemp(prefix="vlf-bench-charts-")
    chunks = [(list(range(s, min(s + per_unit, count))), out) for s in range(0, count, per_unit)]
    t = time.perf_counter()
    with mp.get_context("spawn").Pool(workers) as pool:
        n = sum(pool.map(_plain_chunk, chunks, chunksize=1))
    return n / (time.perf_counter() - t)


def pipeline_synthesis(count: int, workers: int, per_unit: int) -> float:
    import ray

    ray_env.connect(num_cpus=workers)
    source = ChartSource(ChartConfig(count=count, per_unit=per_unit))
    out = Path(tempfile.mkdtemp(prefix="vlf-bench-charts-"))
    result = run(Pipeline(source, []), RunOptions(out=out, fingerprint="bench", config=to_dict(Config())))
    ray.shutdown()
    return result.items_per_second


def extraction(copies: int) -> None:
    import pymupdf

    from sources.chart.extract import classify_figure, crop, find_figures
    from sources.corpus.make import make

    corpus = Path(tempfile.mkdtemp(prefix="vlf-bench-fig-"))
    make(corpus, copies=copies)
    pdfs = sorted(corpus.rglob("*.pdf"))
    t = time.perf_counter()
    found = pages = 0
    for path in pdfs:
        with pymupdf.open(path) as doc:
            for page in doc:
                pages += 1
                for region in find_figures(page):
                    png, _, _ = crop(page, region.bbox, dpi=200)
                    classify_figure(png, region, page)
                    found += 1
    seconds = time.perf_counter() - t
    print(f"extraction, plain loop: {found} figures on {pages} pages, {found / seconds:.1f} figures/s, "
          f"{pages / seconds:.1f} pages/s", flush=True)
    import ray

    from pipelines.recipes import build_pipeline

    ray_env.connect(num_cpus=2)
    speeds = {}
    for figures in (False, True, False, True):  # the first pair warms Ray's workers up; the second counts
        cfg = Config().replace("run", inputs=(str(corpus),), filters=False).replace("ocr", backend="none")
        cfg = cfg.replace("pdf", figures=figures).replace("dedup", enabled=False)
        cfg = cfg.replace("tagger", classify=False).replace("instructions", enabled=False)
        out = Path(tempfile.mkdtemp(prefix="vlf-bench-fig-out-"))
        result = run(build_pipeline(cfg), RunOptions.from_config(cfg, out=out))
        speeds[figures] = result.items_per_second
        kinds = result.stats.get("kept_by_kind", {})
        print(f"pdf pipeline, figures={'on' if figures else 'off'}: {result.items_per_second:.1f} pages/s, "
              f"kept {kinds}", flush=True)
    print(f"(pipeline figures/s with extraction on: {speeds[True] * found / pages:.1f})")
    ray.shutdown()
    print(f"figure extraction costs {1 - speeds[True] / speeds[False]:.0%} of the PDF pipeline's pages/s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--count", type=int, default=400)
    p.add_argument("--per-unit", type=int, default=25)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--copies", type=int, default=20, help="copies of the embedded corpus for extraction")
    p.add_argument("--skip", choices=["synthesis", "extraction"])
    args = p.parse_args()
    if args.skip != "synthesis":
        speeds = {}
        for w in args.workers:
            plain = plain_synthesis(args.count, w, args.per_unit)
            piped = pipeline_synthesis(args.count, w, args.per_unit)
            speeds[w] = piped
            print(f"synthesis workers={w}: pipeline {piped:.1f} charts/s | plain matplotlib loop {plain:.1f} charts/s"
                  f" | ratio {piped / plain:.2f}", flush=True)
        if 1 in speeds and 2 in speeds:
            print(f"synthesis scaling: 2 workers / 1 worker = {speeds[2] / speeds[1]:.2f}")
    if args.skip != "extraction":
        extraction(args.copies)


if __name__ == "__main__":
    main()
