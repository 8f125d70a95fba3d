"""`--source web` through the real runner (local Ray, Chromium in the workers) on a site served on 127.0.0.1."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from pipelines.config import Config
from pipelines.recipes import build_pipeline
from pipelines.runner import RunOptions, run
from pipelines.shards import read_shards
from sources.web.crawl import CrawlConfig
from tests.sources.web.sites import Reply, Site, page

pytestmark = pytest.mark.usefixtures("ray_session")

TEXT = ("The lighthouse keeper climbs one hundred and twelve steps every evening to light the lamp, and "
        "writes the weather, the ships that passed and the state of the sea in a log kept since 1871. ")


def site_routes() -> dict:
    return {
        "/robots.txt": Reply("User-agent: *\nDisallow: /private/\n", ctype="text/plain"),
        "/": page("Lighthouse", TEXT * 3, ("/log", "/private/keys", "/missing", "/loop", "/slow", "/manual.pdf",
                                           "/cal?d=1")),
        "/log": page("The log", TEXT * 4 + " 灯塔日志。", ("/",)),
        "/private/keys": page("Keys", "secret"),
        "/loop": Reply(status=302, headers={"Location": "/loop?again"}, ctype=None),
        "/loop?again": Reply(status=302, headers={"Location": "/loop"}, ctype=None),
        "/slow": Reply(page("Slow", "late").body, delay=3.0),
        "/manual.pdf": Reply(b"%PDF-1.4\n" + bytes(2000), ctype="application/pdf"),
    }


def calendar(path: str) -> Reply | None:
    if path.startswith("/cal?d="):
        n = int(path.split("=")[1])
        return page(f"Day {n}", "nothing on", (f"/cal?d={n + 1}",))
    return None


def test_a_crawl_builds_screenshots_and_records_every_failure(tmp_path):
    with Site(site_routes(), fallback=calendar) as site:
        crawl = CrawlConfig(allow_private=True, delay=0.0, timeout=1.0, max_depth=20, max_query_variants=3)
        cfg = (Config().replace("run", source="web", filters=False).replace("ocr", backend="none")
               .replace("web", seeds=(site.url + "/",), crawl=crawl))
        result = run(build_pipeline(cfg), RunOptions.from_config(cfg, out=tmp_path / "out"))
    rows = read_shards(tmp_path / "out").to_pylist()
    errors = pq.read_table(tmp_path / "out" / "errors.parquet").to_pylist()
    assert sorted(e["error_type"] for e in errors) == ["Http404", "LinkTrap", "NotHtml", "RedirectLoop",
                                                       "RobotsDisallowed", "Timeout"]
    assert all(e["message"] and e["source"] == "web" for e in errors)
    shots = {r["uri"].removeprefix(site.url): r for r in rows if r["kind"] == "screenshot"}
    assert set(shots) == {"/", "/log", "/cal?d=1", "/cal?d=2", "/cal?d=3"}
    log = shots["/log"]
    assert TEXT.split(".")[0] in log["text"] and "灯塔日志。" in log["text"]
    assert log["html"].startswith("<!doctype html>") and "灯塔日志" in log["html"]
    assert json.loads(log["meta"])["title"] == "The log" and log["image"]["bytes"][:4] == b"\x89PNG"
    assert "conversion.image_to_code" in log["tags"]
    texts = [r for r in rows if r["kind"] == "text"]
    assert {r["uri"].removeprefix(site.url) for r in texts} == {"/", "/log"}  # pages with >= 200 characters
    assert result.stats["errors"] == 6
