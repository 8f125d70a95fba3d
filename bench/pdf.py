"""Benchmark the PDF pipeline against a plain PyMuPDF loop doing the same work in the same run.

    python bench/pdf.py [--copies 300] [--memory-copies 40] [--grow 10] [--workers 1 2] [--dpi 144]

Both sides render every page at the same dpi, encode PNG, extract the text layer and write Parquet
(the pipeline's filters, dedup and figure crops are off, so the work is equal; a last line shows the
default pipeline without OCR: filters, dedup, figures, tags). The plain loop uses a process pool of
the same size as the pipeline's Ray CPUs.
Prints pages/s for each, their ratio, the 2-worker speed-up, and peak memory (driver plus every
Ray process, proportional set size summed, so shared object-store pages count once) for a corpus and
for one `--grow` times larger. A run has a fixed cost of about 1.5 s (Ray Data's start-up and the
last shard's write) that small corpora do not amortise, hence the 1,800-page default.
Targets (issue 2): pipeline >= 0.85x plain loop at equal parallelism; 2 workers >= 1.7x 1 worker;
peak memory flat as the corpus grows 10x.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pymupdf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.memory import PssSampler, own_tree  # noqa: E402
from pipelines import ray_env  # noqa: E402
from pipelines.config import Config  # noqa: E402
from pipelines.recipes import build_pipeline  # noqa: E402
from pipelines.runner import RunOptions, run  # noqa: E402
from sources.corpus.make import make  # noqa: E402


def plain_file(args: tuple[str, str, int]) -> int:
    """The raw-library baseline for one file: render, PNG, text, one Parquet file."""
    path, out, dpi = args
    rows = {"image": [], "text": []}
    with pymupdf.open(path) as doc:
        for page in doc:
            rows["image"].append(page.get_pixmap(dpi=dpi, alpha=False).tobytes("png"))
            rows["text"].append(page.get_text("text"))
    pq.write_table(pa.table(rows), Path(out) / (Path(path).stem + ".parquet"), compression="none")
    return len(rows["text"])


def plain_loop(files: list[Path], workers: int, dpi: int) -> float:
    out = tempfile.mkdtemp(prefix="vlf-plain-")
    t = time.perf_counter()
    with mp.get_context("spawn").Pool(workers) as pool:
        pages = sum(pool.map(plain_file, [(str(f), out, dpi) for f in files], chunksize=1))
    return pages / (time.perf_counter() - t)


def driver_and_ray() -> list[psutil.Process]:
    """This process, its descendants and every Ray process on the machine (the sampler skips repeats)."""
    return [*own_tree(), *(p for p in psutil.process_iter(["cmdline"]) if "ray" in " ".join(p.info["cmdline"] or []))]


def pipeline(corpus: Path, workers: int, dpi: int, filters: bool) -> tuple[float, int]:
    """Pages/s of the pipeline on a Ray instance of `workers` CPUs (start-up excluded), and peak memory.

    Without `filters` the pipeline does the plain loop's work (render, PNG, text layer, Parquet; dedup's
    fingerprints and figure crops off, which cost as much again: measured per stage in stats.json);
    with them it is the default build without OCR."""
    import ray

    ray_env.connect(num_cpus=workers)
    cfg = Config().replace("run", inputs=(str(corpus),), filters=filters).replace("pdf", dpi=dpi)
    cfg = cfg.replace("ocr", backend="none")  # OCR has its own benchmark, bench/ocr.py
    if not filters:
        cfg = cfg.replace("dedup", enabled=False).replace("pdf", figures=False)
    out = Path(tempfile.mkdtemp(prefix="vlf-bench-"))
    with PssSampler(driver_and_ray) as mem:
        result = run(build_pipeline(cfg), RunOptions.from_config(cfg, out=out, fresh=True))
    ray.shutdown()
    return result.items_per_second, mem.peak


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--copies", type=int, default=300, help="copies of each sample document (2 pages each on average)")
    p.add_argument("--memory-copies", type=int, default=100,
                   help="copies for the memory check's smaller corpus (600 pages: past the first full shard, "
                        "below which the object store is still filling)")
    p.add_argument("--only", choices=("speed", "memory"), help="run one half of the benchmark")
    p.add_argument("--grow", type=int, default=10, help="memory check: a corpus this many times larger")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--dpi", type=int, default=144)
    args = p.parse_args()

    w = max(args.workers)
    if args.only != "memory":
        speed(args)
    if args.grow > 1 and args.only != "speed":
        memory(args, w)


def speed(args: argparse.Namespace) -> None:
    corpus = Path(tempfile.mkdtemp(prefix="vlf-corpus-"))
    files = make(corpus, copies=args.copies)
    pages = sum(pymupdf.open(f).page_count for f in files)
    print(f"corpus: {len(files)} PDFs, {pages} pages, {args.dpi} dpi")
    speeds = {}
    for w in args.workers:
        plain = plain_loop(files, w, args.dpi)
        piped, peak = pipeline(corpus, w, args.dpi, filters=False)
        speeds[w] = piped
        print(f"workers={w}: pipeline {piped:6.1f} pages/s | plain PyMuPDF loop {plain:6.1f} pages/s | "
              f"ratio {piped / plain:.2f} (target >= 0.85) | peak memory {peak / 2**30:.2f} GiB")
    if 1 in speeds and 2 in speeds:
        print(f"scaling: 2 workers / 1 worker = {speeds[2] / speeds[1]:.2f} (target >= 1.7)")
    w = max(args.workers)
    with_filters, _ = pipeline(corpus, w, args.dpi, filters=True)
    print(f"workers={w}: pipeline with filters on {with_filters:6.1f} pages/s")


def memory(args: argparse.Namespace, w: int) -> None:
    small = Path(tempfile.mkdtemp(prefix="vlf-corpus-small-"))
    pages = sum(pymupdf.open(f).page_count for f in make(small, copies=args.memory_copies))
    big = Path(tempfile.mkdtemp(prefix="vlf-corpus-big-"))
    big_pages = sum(pymupdf.open(f).page_count for f in make(big, copies=args.memory_copies * args.grow))
    _, small_peak = pipeline(small, w, args.dpi, filters=False)
    rate, big_peak = pipeline(big, w, args.dpi, filters=False)
    print(f"memory: {pages} pages peak {small_peak / 2**30:.2f} GiB | {big_pages} pages peak "
          f"{big_peak / 2**30:.2f} GiB | growth x{big_peak / small_peak:.2f} for x{big_pages / pages:.0f} "
          f"pages ({rate:.1f} pages/s)")

if __name__ == "__main__":
    main()
