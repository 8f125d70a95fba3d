"""Benchmark the PDF pipeline against a plain PyMuPDF loop, at equal work and at the default work.

    python bench/pdf.py [--copies 300] [--input DIR] [--memory-copies 40] [--grow 10] [--workers 1 2] [--dpi 144]

The plain loop renders every page at the same dpi, encodes PNG, extracts the text layer and writes
Parquet, in a process pool of the same size as the pipeline's Ray CPUs (page ranges of at most
`RANGE_PAGES`, so one long manual does not leave a worker idle). Three pipeline runs are compared with
it on the same corpus (the generated one, or real PDFs with `--input`):
- equal work: the source with figure crops and documents off and the writer, every stage left out of the plan
  (filters, dedup, tags, grounding, instructions), so both sides render, encode, read text and write
  (the source's own checks of the text layer, which the plain loop lacks, stay);
- default work without OCR: what `python -m pipelines.build --ocr none` does (filters, dedup's
  fingerprints, figure crops, tags, instructions);
- default work with OCR (backend rapidocr, policy auto: only pages whose text layer is missing or
  unusable, and images without text lines, are OCRed), when the config has `ocr.policy`.
Prints pages/s for each, the ratios to the plain loop and to each other, and the 2-vs-1-worker speed-up
(no memory sampler runs beside any of these: neither side pays its CPU); then, in runs of their own, peak
memory (driver plus every Ray process, proportional set size summed, so shared object-store pages count
once) for a corpus and for one `--grow` times larger. A run has a fixed cost of about
1.5 s (Ray Data's start-up and the last shard's write) that small corpora do not amortise, hence the
1,800-page default. `stats.json`'s `stages` (and the build's summary table) say where the default
work's extra time goes.
Targets: equal work >= 0.85x the plain loop at equal parallelism (issue 2); 2 workers >= 1.7x 1 worker;
peak memory flat as the corpus grows 10x; default work >= 0.6x the plain loop, and the default with
OCR (policy auto) >= 0.7x the default without it.
"""

from __future__ import annotations

import argparse
import dataclasses
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

from bench.memory import own_tree, sampled_if  # noqa: E402
from pipelines import ray_env  # noqa: E402
from pipelines.config import Config  # noqa: E402
from pipelines.recipes import build_pipeline  # noqa: E402
from pipelines.runner import RunOptions, run  # noqa: E402
from sources.corpus.make import make  # noqa: E402

RANGE_PAGES = 64  # pages per plain-loop task


def plain_file(args: tuple[str, int, int, str, int]) -> int:
    """The raw-library baseline for a page range of one file: render, PNG, text, one Parquet file."""
    path, start, end, out, dpi = args
    rows = {"image": [], "text": []}
    with pymupdf.open(path) as doc:
        for number in range(start, min(end, doc.page_count)):
            page = doc.load_page(number)
            rows["image"].append(page.get_pixmap(dpi=dpi, alpha=False).tobytes("png"))
            rows["text"].append(page.get_text("text"))
    pq.write_table(pa.table(rows), Path(out) / f"{Path(path).stem}-{start}.parquet", compression="none")
    return len(rows["text"])


def plain_loop(files: list[Path], workers: int, dpi: int) -> float:
    out = tempfile.mkdtemp(prefix="vlf-plain-")
    tasks = [(str(f), start, start + RANGE_PAGES, out, dpi) for f in files
             for start in range(0, page_count(f), RANGE_PAGES)]
    t = time.perf_counter()
    with mp.get_context("spawn").Pool(workers) as pool:
        pages = sum(pool.map(plain_file, tasks, chunksize=1))
    return pages / (time.perf_counter() - t)


def page_count(path: Path) -> int:
    with pymupdf.open(path) as doc:
        return doc.page_count


def driver_and_ray() -> list[psutil.Process]:
    """This process, its descendants and every Ray process on the machine (the sampler skips repeats)."""
    return [*own_tree(), *(p for p in psutil.process_iter(["cmdline"]) if "ray" in " ".join(p.info["cmdline"] or []))]


def ocr_policy_exists() -> bool:
    """Whether this checkout's [ocr] has `policy` (the default-with-OCR run needs it)."""
    from annotators.ocr.backend import OcrConfig

    return any(f.name == "policy" for f in dataclasses.fields(OcrConfig))


def pipeline(corpus: Path, workers: int, dpi: int, work: str, memory: bool = False) -> tuple[float, int]:
    """Pages/s of the pipeline on a Ray instance of `workers` CPUs (start-up excluded), and, with `memory`,
    peak memory (else 0).

    Speed runs are not sampled: one PSS sample of the driver and Ray's ~20 processes costs 60-75 ms of CPU
    (process list and smaps_rollup), so sampling every 0.25 s took ~15% of a 2-core machine from the
    pipeline, a tax the plain loop never paid. Peak memory is the memory half's job.

    `work` is "equal" (the plain loop's work: render, PNG, text layer, Parquet), "default" (the default
    build without OCR) or "auto" (the default build with rapidocr under the auto policy)."""
    import ray

    ray_env.connect(num_cpus=workers)
    cfg = Config().replace("run", inputs=(str(corpus),)).replace("pdf", dpi=dpi)
    if work == "auto":
        cfg = cfg.replace("ocr", backend="rapidocr", policy="auto")
    else:
        cfg = cfg.replace("ocr", backend="none")  # OCR alone has its own benchmark, bench/ocr.py
    if work == "equal":
        cfg = cfg.replace("run", filters=False).replace("dedup", enabled=False)
        cfg = cfg.replace("pdf", figures=False, documents=False)
    plan = build_pipeline(cfg)
    if work == "equal":
        plan.stages = []  # tags, grounding and instructions are no part of the plain loop's work either
    out = Path(tempfile.mkdtemp(prefix="vlf-bench-"))
    with sampled_if(memory, driver_and_ray) as mem:
        result = run(plan, RunOptions.from_config(cfg, out=out, fresh=True))
    ray.shutdown()
    return result.items_per_second, mem.peak if mem else 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--copies", type=int, default=300, help="copies of each sample document (2 pages each on average)")
    p.add_argument("--input", type=Path, help="a folder of real PDFs to use instead of the generated corpus "
                                              "(speed only)")
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
    if args.input:
        corpus, files = args.input, sorted(p for p in args.input.rglob("*") if p.suffix.lower() == ".pdf")
    else:
        corpus = Path(tempfile.mkdtemp(prefix="vlf-corpus-"))
        files = make(corpus, copies=args.copies)
    pages = sum(page_count(f) for f in files)
    print(f"corpus: {len(files)} PDFs, {pages} pages, {args.dpi} dpi")
    plain, equal = {}, {}
    for w in args.workers:
        plain[w] = plain_loop(files, w, args.dpi)
        equal[w], _ = pipeline(corpus, w, args.dpi, "equal")
        print(f"workers={w}: plain PyMuPDF loop {plain[w]:6.1f} pages/s | pipeline, equal work {equal[w]:6.1f} | "
              f"ratio {equal[w] / plain[w]:.2f} (target >= 0.85)")
    if 1 in equal and 2 in equal:
        print(f"scaling: 2 workers / 1 worker = {equal[2] / equal[1]:.2f} (target >= 1.7)")
    w = max(args.workers)
    default, _ = pipeline(corpus, w, args.dpi, "default")
    print(f"workers={w}: pipeline, default work without OCR {default:6.1f} pages/s | ratio to plain "
          f"{default / plain[w]:.2f} (target >= 0.6) | to equal work {default / equal[w]:.2f}")
    if ocr_policy_exists():
        auto, _ = pipeline(corpus, w, args.dpi, "auto")
        print(f"workers={w}: pipeline, default work with OCR (rapidocr, policy auto) {auto:6.1f} pages/s | "
              f"ratio to plain {auto / plain[w]:.2f} (target >= 0.6) | to default without OCR "
              f"{auto / default:.2f} (target >= 0.7)")
    else:
        print("(no ocr.policy in this checkout: the default run with OCR is skipped)")


def memory(args: argparse.Namespace, w: int) -> None:
    small = Path(tempfile.mkdtemp(prefix="vlf-corpus-small-"))
    pages = sum(page_count(f) for f in make(small, copies=args.memory_copies))
    big = Path(tempfile.mkdtemp(prefix="vlf-corpus-big-"))
    big_pages = sum(page_count(f) for f in make(big, copies=args.memory_copies * args.grow))
    _, small_peak = pipeline(small, w, args.dpi, "equal", memory=True)
    rate, big_peak = pipeline(big, w, args.dpi, "equal", memory=True)
    print(f"memory: {pages} pages peak {small_peak / 2**30:.2f} GiB | {big_pages} pages peak "
          f"{big_peak / 2**30:.2f} GiB | growth x{big_peak / small_peak:.2f} for x{big_pages / pages:.0f} "
          f"pages ({rate:.1f} pages/s)")

if __name__ == "__main__":
    main()
