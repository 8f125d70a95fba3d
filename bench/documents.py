"""Benchmark interleaved documents from the web against a plain Playwright + requests loop, same run.

    python bench/documents.py [--pages 60] [--workers 1 2] [--grow 10] [--only speed|memory]

A site of `--pages` article pages is served on 127.0.0.1: each has a shared logo in its header, four
paragraphs, three figures of its own (PNG and JPEG, 480x320, with a figcaption), a 16-px icon and a
lazy image (`data-src`). Both sides read exactly the crawled URLs with Debian's Chromium. The plain
loop is what one would write by hand: per worker process one browser and one tab; per page `goto`,
wait for fonts, walk the page with the same script (`sources/web/doc.js`), download every image with
`requests` (one session per worker), read its header with Pillow, join the text with one `<image>`
per image, and write Parquet. The pipeline runs `--source web` with documents only (screenshots,
HTML, text and figure samples off; OCR, filters and dedup off, so the work is equal; the tagger and
instruction stages still run): its images come from the browser's own loads, kept by the request
guard, so it downloads nothing twice.

Prints, per worker count, documents/s and images/s of both and their ratio (target >= 0.8), and the
2-vs-1 speed-up; then the pipeline's peak memory (driver, Ray and Chromium processes, PSS summed) on
the site and on one `--grow` times larger (target: flat). The pipeline's rate leaves out the crawl
and Ray's start-up; both include launching Chromium.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.memory import sampled_if  # noqa: E402
from pipelines import ray_env  # noqa: E402
from pipelines.config import Config  # noqa: E402
from pipelines.documents import IMAGE_MARKER, PARAGRAPH_SEP, marker_count  # noqa: E402
from pipelines.recipes import build_pipeline  # noqa: E402
from pipelines.runner import RunOptions, run  # noqa: E402
from pipelines.shards import read_shards  # noqa: E402
from sources.web.crawl import CrawlConfig, Page, crawl  # noqa: E402
from sources.web.serve import SiteServer  # noqa: E402

PROSE = ("The harbour survey counted every vessel twice, once at dawn and once at dusk, and the two counts "
         "agreed within a few boats on most days of the season. ")


def _picture(seed: int, fmt: str) -> bytes:
    rng = np.random.default_rng(seed)
    img = np.full((320, 480, 3), 245, np.uint8)
    for _ in range(12):
        x, y = rng.integers(0, 440), rng.integers(0, 280)
        img[y:y + rng.integers(10, 60), x:x + rng.integers(10, 60)] = rng.integers(0, 255, 3)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return buf.getvalue()


def make_site(root: Path, pages: int) -> None:
    """`pages` article pages with their own figures, a shared logo and icon, and an index linking them."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (200, 80), (20, 60, 120)).save(root / "img" / "logo.png")
    Image.new("RGB", (16, 16), (200, 30, 30)).save(root / "img" / "icon.png")
    links = []
    for i in range(pages):
        figs = []
        for j, fmt in enumerate(("PNG", "JPEG", "PNG")):
            name = f"img/p{i:04d}-{j}.{'jpg' if fmt == 'JPEG' else 'png'}"
            (root / name).write_bytes(_picture(i * 10 + j, fmt))
            figs.append(f'<figure><img src="/{name}" alt="figure {j}"><figcaption>Figure {j + 1}. Vessels '
                        f"counted at berth {i}-{j}.</figcaption></figure>")
        lazy = f"img/p{i:04d}-lazy.png"
        (root / lazy).write_bytes(_picture(i * 10 + 9, "PNG"))
        body = "".join(f"<p>{PROSE * 3}Page {i}, part {k}.</p>{figs[k] if k < 3 else ''}" for k in range(4))
        (root / f"p{i:04d}.html").write_text(
            f"<!doctype html><html lang=en><head><title>Harbour notes {i}</title></head><body>"
            f'<header><img src="/img/logo.png" alt="Harbour logo"><nav><a href="/index.html">Home</a></nav></header>'
            f"<main><h1>Harbour notes {i}</h1>{body}<p><img src=\"/img/icon.png\" alt=\"\"> note</p>"
            f'<img data-src="/{lazy}" loading="lazy" alt="the lazy view of berth {i}"></main></body></html>')
        links.append(f'<li><a href="/p{i:04d}.html">page {i}</a></li>')
    (root / "index.html").write_text(f"<html><head><title>Benchmark</title></head><body><ul>{''.join(links)}"
                                     "</ul></body></html>")


def plain_worker(args: tuple[list[str], str]) -> tuple[int, int]:
    """The hand-written loop for one worker: (documents, images)."""
    urls, out = args
    import requests
    from playwright.sync_api import sync_playwright

    from sources.web.browser import LAUNCH_ARGS, find_browser
    from sources.web.render import DOC_JS

    rows: dict[str, list] = {"url": [], "text": [], "images": []}
    session = requests.Session()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_browser(), args=LAUNCH_ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1024, "height": 1024}, device_scale_factor=1).new_page()
        for url in urls:
            page.goto(url, wait_until="load")
            page.evaluate("document.fonts.ready.then(() => true)")
            walk = page.evaluate(DOC_JS, {"maxItems": 5000, "budgetMs": 3000, "maxCaptionChars": 1000,
                                          "maxTableRows": 500, "maxDataChars": 1 << 20})
            parts, images = [], []
            for item in walk["items"]:
                if item["t"] != "img":
                    parts.append(item["text"])
                    continue
                src = item.get("src") or ""
                if not src.startswith("http"):
                    continue
                r = session.get(src, timeout=20)
                if r.status_code != 200:
                    continue
                Image.open(io.BytesIO(r.content)).size  # noqa: B018 - the header check the pipeline does too
                parts.append(IMAGE_MARKER)
                images.append({"bytes": r.content, "path": None})
            rows["url"].append(url)
            rows["text"].append(PARAGRAPH_SEP.join(parts))
            rows["images"].append(images)
        browser.close()
    pq.write_table(pa.table(rows), Path(out) / f"{abs(hash(urls[0]))}.parquet")
    return len(urls), sum(len(i) for i in rows["images"])


def plain_loop(urls: list[str], workers: int) -> tuple[float, float]:
    """(documents/s, images/s) of the plain loop over `urls` in `workers` processes."""
    out = tempfile.mkdtemp(prefix="vlf-plain-")
    chunks = [urls[i::workers] for i in range(workers)]
    t = time.perf_counter()
    with mp.get_context("spawn").Pool(workers) as pool:
        done = pool.map(plain_worker, [(c, out) for c in chunks], chunksize=1)
    seconds = time.perf_counter() - t
    return sum(d[0] for d in done) / seconds, sum(d[1] for d in done) / seconds


def pipeline(seed: str, pages: int, workers: int, memory: bool = False) -> tuple[float, float, int]:
    """(documents/s, images/s, peak PSS bytes or, without `memory`, 0) of the pipeline on a Ray instance of
    `workers` CPUs. Speed runs are not sampled: PSS samples cost tens of ms of CPU each (see bench/pdf.py),
    which the plain loop never paid."""
    import ray

    ray_env.connect(num_cpus=workers)
    crawl_cfg = CrawlConfig(allow_private=True, delay=0.0, max_pages=pages + 1, max_depth=1)
    cfg = (Config().replace("run", source="web", filters=False).replace("ocr", backend="none")
           .replace("dedup", enabled=False)
           .replace("web", seeds=(seed,), crawl=crawl_cfg, screenshots=False, html_samples=False,
                    text_samples=False, figures=False))
    out = Path(tempfile.mkdtemp(prefix="vlf-bench-"))
    with sampled_if(memory) as mem:
        result = run(build_pipeline(cfg), RunOptions.from_config(cfg, out=out, fresh=True))
    ray.shutdown()
    rows = read_shards(out, "shards").select(["kind", "text"]).to_pylist()
    docs = [r for r in rows if r["kind"] == "document"]
    images = sum(marker_count(r["text"]) for r in docs)
    return len(docs) / result.work_seconds, images / result.work_seconds, mem.peak if mem else 0


def serve(pages: int) -> tuple[SiteServer, str, list[str]]:
    root = Path(tempfile.mkdtemp(prefix="vlf-docsite-"))
    make_site(root, pages)
    server = SiteServer(root)
    seed = server.url + "index.html"
    urls = [f.url for f in crawl([seed], CrawlConfig(allow_private=True, delay=0.0, max_pages=pages + 1,
                                                     max_depth=1)) if isinstance(f, Page)]
    return server, seed, urls


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pages", type=int, default=60)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--grow", type=int, default=10, help="memory check: a site this many times larger")
    p.add_argument("--only", choices=("speed", "memory"))
    args = p.parse_args()

    if args.only != "memory":
        server, seed, urls = serve(args.pages)
        print(f"site: {len(urls)} pages on {server.url} (an index and {args.pages} articles with 3 figures, "
              "a lazy image, a logo and an icon each)")
        speeds = {}
        for w in args.workers:
            plain_docs, plain_imgs = plain_loop(urls, w)
            docs, imgs, _ = pipeline(seed, args.pages, w)
            speeds[w] = docs
            print(f"workers={w}: pipeline {docs:5.2f} documents/s ({imgs:6.2f} images/s) | plain Playwright + "
                  f"requests loop {plain_docs:5.2f} documents/s ({plain_imgs:6.2f} images/s) | ratio "
                  f"{docs / plain_docs:.2f} (target >= 0.8)")
        if 1 in speeds and 2 in speeds:
            print(f"scaling: 2 workers / 1 worker = {speeds[2] / speeds[1]:.2f}")
        server.close()
    if args.only != "speed":
        w = max(args.workers)
        peaks = []
        for n in (args.pages, args.pages * args.grow):
            server, seed, _ = serve(n)
            peaks.append((n, pipeline(seed, n, w, memory=True)[2]))
            server.close()
        (n0, p0), (n1, p1) = peaks
        print(f"memory ({w} workers): {n0} pages peak {p0 / 2**30:.2f} GiB | {n1} pages peak {p1 / 2**30:.2f} GiB "
              f"| ratio {p1 / p0:.2f} (target: flat)")


if __name__ == "__main__":
    main()
