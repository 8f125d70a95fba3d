"""How well interleaved documents come out of a real site: `python -m sources.web.document_eval ROOT`.

A site nobody here wrote, with its captioned figures listed by hand or from its markup, is served
from ROOT on 127.0.0.1 and crawled through the whole web pipeline (`pipelines.build --source web`,
Ray, Chromium, filters, dedup). The score reads the shards back:

- found: a listed figure's image (by URL) is in a kept `document` of its page;
- captioned: the nearest text paragraph after its marker (or, failing that, before it, other
  markers skipped) holds the caption (NFKC, whitespace folded);
- pairs: a kept `figure`/`chart` sample holds the figure's image with its caption;
- unlisted images kept in documents, by URL, with those under the site's shared chrome folders
  (`--chrome-prefix`: navigation arrows, callout icons, logos) counted apart: these should be zero.

`real_site_figures.json` beside this file lists the 106 figure images (98 figures) of The Debian
Administrator's Handbook in English and Chinese (Debian package `debian-handbook` 11.20220922:
`apt-get download debian-handbook && dpkg -x debian-handbook_*.deb x`, ROOT =
`x/usr/share/doc/debian-handbook/html`), taken from its DocBook markup (`div.figure`: the images and
the `Figure N.`/`图 N.` title after them).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pyarrow.parquet as pq

from pipelines.documents import is_marker, paragraphs
from pipelines.resources import package_path
from sources.web.serve import SiteServer

TRUTH = package_path("sources", "web", "real_site_figures.json")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text or "")).strip().lower()


def _read(out: Path, folder: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for f in sorted((out / folder).glob("*.parquet")):
        rows += pq.read_table(f, columns=["kind", "uri", "text", "meta", "keep"]).to_pylist()
    return rows


def _caption_near(paras: list[str], marker_at: int, caption: str) -> bool:
    """Whether the nearest text paragraph after the marker (else before it) holds the caption."""
    for step in (1, -1):
        i = marker_at + step
        while 0 <= i < len(paras) and is_marker(paras[i]):
            i += step
        if 0 <= i < len(paras) and caption in _norm(paras[i]):
            return True
    return False


def score(out: Path, base: str, truth: list[dict[str, Any]], chrome_prefixes: tuple[str, ...] = ()) -> dict[str, Any]:
    """Score a finished run in `out` against the listed figures (page and image relative to `base`)."""
    docs = [r for r in _read(out, "shards") if r["kind"] == "document"]
    wanted = {urljoin(base + t["page"], t["image"]): t for t in truth}
    placed: dict[str, bool] = {}  # figure image URL -> caption next to it (in any document of its page)
    unlisted: Counter[str] = Counter()
    for doc in docs:
        meta = json.loads(doc["meta"] or "{}")
        paras = paragraphs(doc["text"])
        markers = [i for i, p in enumerate(paras) if is_marker(p)]
        for k, info in enumerate(meta.get("images", [])):
            url = info.get("url") or ""
            t = wanted.get(url)
            if t is None:
                unlisted[url] += 1
                continue
            if not (doc["uri"] or "").startswith(base + t["page"]):
                continue
            ok = k < len(markers) and _caption_near(paras, markers[k], _norm(t["caption"]))
            placed[url] = placed.get(url, False) or ok
    pairs = set()
    for r in _read(out, "shards"):
        if r["kind"] not in ("figure", "chart") or not r["text"]:
            continue
        meta = json.loads(r["meta"] or "{}")
        url = meta.get("image_url") or meta.get("src") or ""
        t = wanted.get(url)
        if t is not None and _norm(t["caption"]) in _norm(r["text"]):
            pairs.add(url)
    chrome = {u: n for u, n in unlisted.items() if any(u.startswith(base + p) or f"/{p}" in u for p in chrome_prefixes)}
    n = len(wanted)
    return {
        "documents": len(docs), "figures": n, "found": len(placed),
        "captioned": sum(placed.values()), "captioned_share": round(sum(placed.values()) / n, 4) if n else 0.0,
        "pairs": len(pairs), "pairs_share": round(len(pairs) / n, 4) if n else 0.0,
        "missing": sorted(set(wanted) - set(placed))[:20],
        "uncaptioned": sorted(u for u, ok in placed.items() if not ok)[:20],
        "unlisted_images_kept": sum(unlisted.values()), "unlisted_urls": len(unlisted),
        "chrome_images_kept": sum(chrome.values()), "chrome_urls": sorted(chrome)[:20],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="the site's folder (served on 127.0.0.1)")
    ap.add_argument("--truth", type=Path, default=TRUTH)
    ap.add_argument("--seed", action="append", help="start pages under ROOT (default: the truth file's seeds)")
    ap.add_argument("--out", type=Path, default=Path("out/document_eval"))
    ap.add_argument("--max-pages", type=int, default=400)
    ap.add_argument("--max-depth", type=int, default=10, help="link hops from a seed (a whole site: deep)")
    ap.add_argument("--ocr", default="none", help="OCR backend for the build (documents need none; default none)")
    ap.add_argument("--delay", type=float, help="the crawler's per-host delay in seconds (default: the config's)")
    ap.add_argument("--chrome-prefix", action="append", default=None,
                    help="folders of the site's shared chrome (default: the truth file's chrome list)")
    ap.add_argument("--score-only", action="store_true", help="score an existing --out run again")
    ap.add_argument("--json", type=Path, help="also write the scores here")
    args = ap.parse_args(argv)
    spec = json.loads(args.truth.read_text())
    truth = spec["figures"]
    seeds = args.seed or spec.get("seeds") or sorted({t["page"].split("/")[0] + "/index.html" for t in truth})
    server = SiteServer(args.root, spec.get("port", 47641))
    try:
        if not args.score_only:
            cmd = [sys.executable, "-m", "pipelines.build", "--source", "web", "--out", str(args.out), "--fresh",
                   "--allow-private", "--max-pages", str(args.max_pages), "--max-depth", str(args.max_depth),
                   "--no-report", "--ocr", args.ocr,
                   *(["--crawl-delay", str(args.delay)] if args.delay is not None else []),
                   *[a for s in seeds for a in ("--seed", server.url + s)]]
            subprocess.run(cmd, check=True)
        result = score(args.out, server.url, truth, tuple(args.chrome_prefix or spec.get("chrome", ())))
    finally:
        server.close()
    text = json.dumps(result, indent=1, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
