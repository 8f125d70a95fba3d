"""Benchmark the web pipeline against a plain Playwright loop over the same local pages in the same run.

    python bench/web.py [--pages 240] [--workers 1 2]

A site of `--pages` pages (copies of the bundled sample site's articles, table, SVG chart, form and
Chinese page, each made unique) is served on 127.0.0.1 and crawled once; both sides then render
exactly those URLs in Debian's Chromium at 1024x1024. The plain loop is what one would write by hand
with Playwright: per worker process one browser and one tab; per page `goto`, wait for fonts, read
the text blocks and boxes with the same DOM script, capture the same viewport-sized tiles as PNG,
take the page's HTML, and write Parquet. The pipeline (filters, OCR and dedup off, so the work is
equal) also cleans the HTML, crops SVG charts and writes text samples. The plain loop runs in a
process pool of the same size as the pipeline's Ray CPUs.

Prints, for each worker count, screenshots/s (viewport screenshots plus tiles) and pages/s of both,
their ratio, the 2-vs-1-worker speed-up, and the peak memory of the browsers (Chromium processes'
PSS summed: all of them, and per browser). The pipeline's rate leaves out the crawl and Ray's
start-up; both include launching Chromium. Target (issue 4): ratio >= 0.8.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.memory import PssSampler  # noqa: E402
from pipelines import ray_env  # noqa: E402
from pipelines.config import Config  # noqa: E402
from pipelines.recipes import build_pipeline  # noqa: E402
from pipelines.runner import RunOptions, run  # noqa: E402
from pipelines.shards import read_shards  # noqa: E402
from sources.web.crawl import CrawlConfig, Page, crawl  # noqa: E402
from sources.web.serve import SAMPLE_SITE, SiteServer  # noqa: E402

SIZE = 1024
MAX_TILES = 4


def make_site(root: Path, pages: int) -> None:
    """`pages` unique pages cycling through the sample site's pages, and an index linking them all."""
    shutil.copy(SAMPLE_SITE / "style.css", root / "style.css")
    sources = sorted(p for p in SAMPLE_SITE.rglob("*.html") if "private" not in p.parts)
    links = []
    for i in range(pages):
        html = sources[i % len(sources)].read_text()
        html = re.sub(r"<main>", f"<main><p>Copy {i} of the harbour notes, kept for the benchmark.</p>", html, count=1)
        html = re.sub(r'href="/[^"]*\.html"', 'href="/index.html"', html)  # only the index links pages
        (root / f"p{i:04d}.html").write_text(html)
        links.append(f'<li><a href="/p{i:04d}.html">page {i}</a></li>')
    (root / "index.html").write_text(f"<html><head><title>Benchmark</title></head><body><ul>{''.join(links)}"
                                     "</ul></body></html>")


def chromium_role(p: psutil.Process) -> str | None:
    """"browser" for a browser Playwright launched, "chromium" for its other processes, None for the rest."""
    name = p.name().lower()
    if "chrom" not in name and "headless" not in name:
        return None
    cmd = " ".join(p.cmdline())
    return "browser" if "--remote-debugging-pipe" in cmd and "--type=" not in cmd else "chromium"


class BrowserMemory(PssSampler):
    """Peak summed PSS of every Chromium process on the machine, sampled every 250 ms."""

    def __init__(self):
        super().__init__(psutil.process_iter, chromium_role)

    def line(self) -> str:
        browsers = self.count_at_peak["browser"]
        per = self.peak / max(browsers, 1)
        return (f"browser memory peak {self.peak / 2**20:.0f} MiB ({browsers} browsers, "
                f"{per / 2**20:.0f} MiB each)")


def plain_worker(args: tuple[list[str], str]) -> tuple[int, int]:
    """The hand-written Playwright loop for one worker: (pages, screenshots)."""
    urls, out = args
    from playwright.sync_api import sync_playwright

    from sources.web.browser import LAUNCH_ARGS, find_browser
    from sources.web.render import DOM_JS

    rows: dict[str, list] = {"url": [], "tile": [], "image": [], "text": [], "html": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_browser(), args=LAUNCH_ARGS, headless=True)
        page = browser.new_context(viewport={"width": SIZE, "height": SIZE}, device_scale_factor=1).new_page()
        for url in urls:
            page.goto(url, wait_until="load")
            page.evaluate("document.fonts.ready.then(() => true)")
            dom = page.evaluate(DOM_JS, {"maxBlocks": 5000, "budgetMs": 3000, "minFigure": 120,
                                         "maxSvgChars": 200_000})
            html = page.content()
            height = int(min(max(dom["height"], 1), SIZE * MAX_TILES))
            for i, top in enumerate(range(0, height, SIZE)):
                h = min(SIZE, height - top)
                if i and h < SIZE // 4:
                    break
                png = page.screenshot(full_page=True, clip={"x": 0, "y": top, "width": SIZE, "height": h})
                text = "\n".join(b["text"] for b in dom["blocks"]
                                 if top <= (b["box"][1] + b["box"][3]) / 2 < top + h)
                for k, v in (("url", url), ("tile", i), ("image", png), ("text", text),
                             ("html", html if i == 0 else None)):
                    rows[k].append(v)
        browser.close()
    pq.write_table(pa.table(rows), Path(out) / f"{abs(hash(urls[0]))}.parquet")
    return len(urls), len(rows["url"])


def plain_loop(urls: list[str], workers: int) -> tuple[float, float, BrowserMemory]:
    """(pages/s, screenshots/s, memory) of the plain loop over `urls` in `workers` processes."""
    out = tempfile.mkdtemp(prefix="vlf-plain-")
    chunks = [urls[i::workers] for i in range(workers)]
    t = time.perf_counter()
    with BrowserMemory() as mem, mp.get_context("spawn").Pool(workers) as pool:
        done = pool.map(plain_worker, [(c, out) for c in chunks], chunksize=1)
    seconds = time.perf_counter() - t
    return sum(d[0] for d in done) / seconds, sum(d[1] for d in done) / seconds, mem


def pipeline(seed: str, pages: int, workers: int) -> tuple[float, float, BrowserMemory]:
    """(pages/s, screenshots/s, memory) of the pipeline on a Ray instance of `workers` CPUs."""
    import ray

    ray_env.connect(num_cpus=workers)
    crawl_cfg = CrawlConfig(allow_private=True, delay=0.0, max_pages=pages + 1, max_depth=1)
    cfg = (Config().replace("run", source="web", filters=False).replace("ocr", backend="none")
           .replace("dedup", enabled=False).replace("web", seeds=(seed,), crawl=crawl_cfg))
    out = Path(tempfile.mkdtemp(prefix="vlf-bench-"))
    with BrowserMemory() as mem:
        result = run(build_pipeline(cfg), RunOptions.from_config(cfg, out=out, fresh=True))
    ray.shutdown()
    kinds = read_shards(out, "shards").column("kind").to_pylist()
    shots = sum(k in ("screenshot", "tile") for k in kinds)
    return result.items_per_second, shots / result.work_seconds, mem


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pages", type=int, default=240, help="pages of the local site (a run has ~2.5 s of fixed "
                   "cost: Ray's worker processes start, import and launch Chromium)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()

    root = Path(tempfile.mkdtemp(prefix="vlf-site-"))
    make_site(root, args.pages)
    server = SiteServer(root)
    seed = server.url + "index.html"
    urls = [f.url for f in crawl([seed], CrawlConfig(allow_private=True, delay=0.0, max_pages=args.pages + 1,
                                                     max_depth=1)) if isinstance(f, Page)]
    print(f"site: {len(urls)} pages on {server.url} (the index and {args.pages} copies of the sample pages), "
          f"{SIZE}x{SIZE} viewport, up to {MAX_TILES} tiles a page")
    speeds = {}
    for w in args.workers:
        plain_pages, plain_shots, plain_mem = plain_loop(urls, w)
        piped_pages, piped_shots, piped_mem = pipeline(seed, args.pages, w)
        speeds[w] = piped_shots
        print(f"workers={w}: pipeline {piped_shots:5.2f} screenshots/s ({piped_pages:5.2f} pages/s) | plain "
              f"Playwright loop {plain_shots:5.2f} screenshots/s ({plain_pages:5.2f} pages/s) | ratio "
              f"{piped_shots / plain_shots:.2f} (target >= 0.8)")
        print(f"           pipeline {piped_mem.line()} | plain loop {plain_mem.line()}")
    if 1 in speeds and 2 in speeds:
        print(f"scaling: 2 workers / 1 worker = {speeds[2] / speeds[1]:.2f}")
    server.close()


if __name__ == "__main__":
    main()
