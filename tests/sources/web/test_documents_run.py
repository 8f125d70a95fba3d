"""Interleaved documents through the real runner (local Ray, Chromium in the workers) on a site served
on 127.0.0.1: every page is one `document` row in the shards, with a logo repeated on every page kept
by the source (dedup across documents is the global pass's business), and Hugging Face `datasets`
decodes the `images` column into PIL images."""

from __future__ import annotations

import json

import pytest

from pipelines.config import Config
from pipelines.documents import check
from pipelines.recipes import build_pipeline
from pipelines.runner import RunOptions, run
from pipelines.shards import read_shards
from sources.web.crawl import CrawlConfig
from tests.sources.web import docsite
from tests.sources.web.docsite import FILES, sha
from tests.sources.web.sites import Reply, Site

pytestmark = pytest.mark.usefixtures("ray_session")


def page(n: int) -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Station {n}</title></head><body>"
            f"<div class='top'><img src='/img/logo.png' alt='Lighthouse society logo'></div>"
            f"<h1>Station {n}</h1><p>{docsite.TEXT}</p>"
            f"<figure><img src='/img/n/{n}.png'><figcaption>Figure {n}: Gauge at station {n}.</figcaption></figure>"
            f"<p>More about station {n}.</p><a href='/s{n % 4 + 1}'>next</a></body></html>")


def test_a_crawl_through_ray_writes_document_rows_with_the_sites_images(tmp_path):
    routes = {f"/s{n}": Reply(page(n)) for n in range(1, 5)}
    routes["/img/logo.png"] = Reply(FILES["/img/logo.png"][0], ctype="image/png")
    with Site(routes, fallback=docsite.numbered) as site:
        crawl = CrawlConfig(allow_private=True, delay=0.0, max_depth=5)
        cfg = (Config().replace("run", source="web", filters=False).replace("dedup", enabled=False)
               .replace("ocr", backend="none")
               .replace("web", seeds=(site.url + "/s1",), crawl=crawl, max_tiles=1))
        result = run(build_pipeline(cfg), RunOptions.from_config(cfg, out=tmp_path / "out"))
    assert result.stats["errors"] == 0
    table = read_shards(tmp_path / "out")
    rows = table.to_pylist()
    docs = {r["uri"].removeprefix(site.url): r for r in rows if r["kind"] == "document"}
    assert set(docs) == {"/s1", "/s2", "/s3", "/s4"}
    for n in range(1, 5):
        doc = docs[f"/s{n}"]
        meta = json.loads(doc["meta"])
        check(doc["text"], doc["images"], meta["images"])
        logo, fig = meta["images"]
        assert logo["sha256"] == sha(FILES["/img/logo.png"][0]) and not logo["caption"]  # "... logo" is no caption
        assert fig["sha256"] == sha(docsite.numbered(f"/img/n/{n}.png").body)
        assert f"<image>\n\nFigure {n}: Gauge at station {n}.\n\nMore about station {n}." in doc["text"]
    figs = [r for r in rows if r["kind"] in ("figure", "chart")]
    assert sorted(r["text"] for r in figs if r["text"].startswith("Figure")) == [
        f"Figure {n}: Gauge at station {n}." for n in range(1, 5)]
    # The shards read as a Hugging Face dataset: `images` is Sequence(Image()), decoded to PIL.
    import datasets

    shards = sorted(str(p) for p in (tmp_path / "out").glob("shards/*.parquet"))
    ds = datasets.load_dataset("parquet", data_files=shards, split="train")
    doc = next(r for r in ds if r["kind"] == "document")
    assert [im.size for im in doc["images"]][0] == (180, 48)
