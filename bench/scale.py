"""Benchmark the PDF pipeline (OCR on) as it scales out: 1 node with 1 and 2 workers, and a 2-node cluster.

    python bench/scale.py [--pages 6] [--grow 10] [--workers 1 2] [--ocr tesseract] [--no-cluster]

For a corpus of `--pages` pages (1x) and one `--grow` times larger (10x), each setting runs the CLI build
(`--source pdf --no-figures --no-report`, everything else at its defaults: OCR, filters, dedup, tags)
in its own process: on a local Ray instance of 1 and 2 CPUs, and as a `ray job submit` to a real
two-node cluster of 1 CPU per node (two network namespaces, `pipelines/local_cluster.py`; needs root).
It prints pages/s (Ray's start-up excluded, as the build's summary counts it) and the peak memory
(PSS) of the driver, of the largest Ray worker process, of Ray's own processes together, and of all
of them at once. The raw-library figure is a plain process pool doing the same per-page work
(PyMuPDF render at 144 dpi + PNG + the same OCR backend, one thread per process, model loaded once
per process, start-up included) on the 10x corpus with as many processes as workers; the ratio is
pipeline / raw. The default OCR backend here is tesseract (~0.9 s per page per core), so the default
run (6 and 60 pages) takes about five minutes on 2 cores; `--ocr rapidocr` (the build's default backend,
~4.5 s per page per core) takes five times longer; `--pages 20` makes the 10x corpus 200 pages.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.memory import PssSampler, tree_of  # noqa: E402
from pipelines.local_cluster import NamespaceCluster, unavailable_reason  # noqa: E402
from sources.corpus.make import make  # noqa: E402

PYTHON = REPO / ".venv" / "bin" / "python" if (REPO / ".venv" / "bin" / "ray").exists() else Path(sys.executable)
PACKAGES = ("pipelines", "sources", "filters", "annotators", "taxonomy")
SYSTEM = ("raylet", "gcs_server", "dashboard", "log_monitor", "monitor.py", "runtime_env", "agent", "plasma",
          "ray start", "ray/_private")


def role(p: psutil.Process) -> str | None:
    """driver, worker or ray_system by command line; None for anything else (the shell of `ip netns exec`, the job
    CLI: not the pipeline)."""
    cmd = " ".join(p.cmdline())
    if "pipelines.build" in cmd and not cmd.startswith("ray::"):
        return "driver"
    if cmd.startswith("ray::") or "default_worker.py" in cmd:
        return "worker"
    if any(s in cmd for s in SYSTEM):
        return "ray_system"
    return None


def build_flags(corpus: Path, out: Path, pages: int, ocr: str) -> list[str]:
    return ["-m", "pipelines.build", "--source", "pdf", "--input", str(corpus), "--out", str(out), "--limit",
            str(pages), "--no-figures", "--no-report", "--fresh", "--ocr", ocr]


def local_run(corpus: Path, pages: int, workers: int, ocr: str) -> tuple[dict, PssSampler]:
    out = Path(tempfile.mkdtemp(prefix="vlf-scale-"))
    env = {**os.environ, "VLFORGE_RAY_TMP": tempfile.mkdtemp(prefix="vlf-"), "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen([str(PYTHON), *build_flags(corpus, out, pages, ocr), "--num-cpus", str(workers)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with PssSampler(tree_of(proc.pid), role) as mem:
        log = proc.communicate()[0]
    if proc.returncode != 0:
        raise SystemExit(f"local build failed:\n{log[-3000:]}")
    return _stats(out), mem


def cluster_run(cluster: NamespaceCluster, workdir: Path, corpus: Path, pages: int,
                ocr: str) -> tuple[dict, PssSampler]:
    out = Path(tempfile.mkdtemp(prefix="vlf-scale-"))
    entry = [str(PYTHON), *build_flags(corpus, out, pages, ocr), "--ray-address", "auto"]
    argv = cluster.submit_argv(entry, workdir, {"env_vars": {"PYTHONUNBUFFERED": "1"}})
    with PssSampler(lambda: cluster.pids(0) + cluster.pids(1), role) as mem:
        proc = cluster.run(0, argv, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"cluster job failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    return _stats(out), mem


def _stats(out: Path) -> dict:
    stats = json.loads((out / "stats.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    return stats


# -- the raw-library baseline ---------------------------------------------------------------------------
_ocr = None


def _init(backend: str) -> None:
    global _ocr
    from annotators.ocr.backend import OcrConfig
    from annotators.ocr.stage import OcrStage

    _ocr = OcrStage(OcrConfig(backend=backend))
    _ocr.setup()
    _ocr.loaded()  # policy auto loads the model on first use; load it before the timing


def _page(job: tuple[str, int]) -> int:
    import pymupdf

    from annotators.ocr.stage import decode_rgb

    path, number = job
    with pymupdf.open(path) as doc:
        png = doc[number].get_pixmap(dpi=144, alpha=False).tobytes("png")
        doc[number].get_text("text")
    return len(_ocr.backend.read(decode_rgb(png)))


def raw_loop(corpus: Path, pages: int, workers: int, ocr: str) -> float:
    import pymupdf

    jobs = []
    for f in sorted(corpus.rglob("*.pdf")):
        with pymupdf.open(f) as doc:
            jobs += [(str(f), i) for i in range(doc.page_count)]
    jobs = jobs[:pages]
    t = time.perf_counter()
    with mp.get_context("spawn").Pool(workers, initializer=_init, initargs=(ocr,)) as pool:
        pool.map(_page, jobs, chunksize=1)
    return len(jobs) / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pages", type=int, default=6, help="pages of the 1x corpus (the embedded corpus has 6)")
    p.add_argument("--grow", type=int, default=10, help="the larger corpus is this many times the 1x one")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="CPUs of the one-node runs")
    p.add_argument("--ocr", default="tesseract", choices=("rapidocr", "tesseract"))
    p.add_argument("--no-cluster", action="store_true", help="skip the two-node cluster")
    args = p.parse_args()

    big = args.pages * args.grow
    corpus = Path(tempfile.mkdtemp(prefix="vlf-scale-corpus-"))
    make(corpus, copies=max(1, -(-big // 6)))  # 6 pages per copy of the embedded corpus
    sizes = {"1x": args.pages, f"{args.grow}x": big}
    print(f"PDF pipeline, OCR {args.ocr}, 144 dpi, figures off; corpus 1x = {args.pages} pages, "
          f"{args.grow}x = {big} pages")
    header = (f"{'setting':<22}{'corpus':>7}{'pages':>7}{'pages/s':>9}{'driver':>9}{'worker':>9}"
              f"{'workers':>9}{'ray sys':>9}{'total':>9}  (peak PSS, MiB)")
    print(header)
    rows: dict[tuple[str, str], float] = {}

    def show(setting: str, size: str, stats: dict, mem: PssSampler) -> None:
        speed = stats["this_run"]["items_per_second"]
        rows[(setting, size)] = speed
        peaks = {"driver": mem.peak_sum["driver"], "worker": mem.peak_one["worker"],
                 "ray_system": mem.peak_sum["ray_system"], "total": mem.peak}
        mib = {k: v / 2**20 for k, v in peaks.items()}
        print(f"{setting:<22}{size:>7}{stats['items']:>7}{speed:>9.2f}{mib['driver']:>9.0f}{mib['worker']:>9.0f}"
              f"{len(mem.pids.get('worker', ())):>9}{mib['ray_system']:>9.0f}{mib['total']:>9.0f}", flush=True)

    for w in args.workers:
        for size, pages in sizes.items():
            stats, mem = local_run(corpus, pages, w, args.ocr)
            show(f"1 node, {w} worker{'s' if w > 1 else ''}", size, stats, mem)
    why_not = unavailable_reason()
    if args.no_cluster or why_not:
        print(f"2-node cluster: skipped ({'--no-cluster' if args.no_cluster else why_not})")
    else:
        workdir = Path(tempfile.mkdtemp(prefix="vlf-scale-job-"))
        for name in PACKAGES:
            shutil.copytree(REPO / name, workdir / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        with NamespaceCluster(nodes=2, cpus=1, python=PYTHON, object_store_bytes=500 * 2**20) as cluster:
            for size, pages in sizes.items():
                stats, mem = cluster_run(cluster, workdir, corpus, pages, args.ocr)
                assert stats["this_run"]["cluster"]["nodes"] == 2
                show("2 nodes x 1 CPU (job)", size, stats, mem)
        shutil.rmtree(workdir, ignore_errors=True)
    large = f"{args.grow}x"
    for w in args.workers:
        raw = raw_loop(corpus, big, w, args.ocr)
        line = f"raw PyMuPDF + {args.ocr} loop, {w} process{'es' if w > 1 else ''}, {large}: {raw:.2f} pages/s"
        local = rows[(f"1 node, {w} worker" + ("s" if w > 1 else ""), large)]
        line += f" | 1 node, {w} worker(s) / raw = {local / raw:.2f}"
        if w == 2 and ("2 nodes x 1 CPU (job)", large) in rows:
            line += f" | 2 nodes / raw = {rows[('2 nodes x 1 CPU (job)', large)] / raw:.2f}"
        print(line, flush=True)
    if len(args.workers) > 1:
        a, b = (f"1 node, {w} worker" + ("s" if w > 1 else "") for w in args.workers[:2])
        print(f"speed-up {args.workers[1]} vs {args.workers[0]} workers at {large}: "
              f"{rows[(b, large)] / rows[(a, large)]:.2f}x")
    shutil.rmtree(corpus, ignore_errors=True)


if __name__ == "__main__":
    main()
