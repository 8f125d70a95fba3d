"""Web plans that resume: the crawl journaled under the runner's `state_dir`, replayed on a rerun
(no browser, no Ray: sites served on 127.0.0.1, no politeness delay)."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

import sources.web.source as web_source
from sources.web.crawl import CrawlConfig, Page, crawl
from sources.web.crawl_state import FINISHED, JOURNAL, SETTINGS, CrawlJournal
from sources.web.source import WebConfig, WebSource
from tests.sources.web.sites import Reply, Site, page

FAST = CrawlConfig(allow_private=True, delay=0.0, timeout=2.0, max_depth=10, max_query_variants=2)


@pytest.fixture(autouse=True)
def _no_browser_needed(monkeypatch):
    """plan() checks for a Chromium before it crawls; these tests only plan, so none is launched."""
    monkeypatch.setattr(web_source, "find_browser", lambda explicit=None: "/usr/bin/chromium")


def source(seeds, state_dir, cfg=FAST) -> WebSource:
    src = WebSource(WebConfig(seeds=tuple(seeds), crawl=cfg))
    src.state_dir = state_dir
    return src


def snapshot(units) -> dict:
    """What a resumed plan must reproduce: unit ids and the HTML (so the sample ids) or the error."""
    assert len({u.id for u in units}) == len(units)
    return {u.id: u.params.get("html", u.params.get("error")) for u in units}


def fetched(site: Site) -> list[str]:
    return [p for p in site.paths() if p != "/robots.txt"]


def state_folder(state_dir):
    (folder,) = state_dir.glob("crawl-*")
    return folder


def lines(folder) -> list[bytes]:
    return (folder / JOURNAL).read_bytes().splitlines(keepends=True)


def calendar(path: str) -> Reply | None:
    if path.startswith("/cal?d="):
        n = int(path.split("=")[1])
        return page(f"Day {n}", "nothing on", (f"/cal?d={n + 1}",))
    return None


def mixed_routes() -> dict:
    """Pages, a redirect to a new page, a redirect to a page queued later (a duplicate), a 404, a
    robots.txt refusal, a noindex page whose links are still followed, and a calendar trap."""
    return {
        "/robots.txt": Reply("User-agent: *\nDisallow: /private/\n", ctype="text/plain"),
        "/": page("Home", "home", ("/a", "/old", "/again", "/missing", "/private/x", "/hidden", "/b", "/cal?d=1")),
        "/a": page("A", "text of a", ("/a1", "/")),
        "/a1": page("A1", "text of a1"),
        "/b": page("B", "text of b", ("/b1",)),
        "/b1": page("B1", "text of b1"),
        "/old": Reply(status=301, headers={"Location": "/moved"}, ctype=None),
        "/moved": page("Moved", "moved here"),
        "/again": Reply(status=301, headers={"Location": "/b"}, ctype=None),
        "/hidden": page("Hidden", "not indexed", ("/h1",), head="<meta name='robots' content='noindex'>"),
        "/h1": page("H1", "behind a noindex page"),
    }


def chain_routes(n: int, tag: str = "") -> dict:
    """/p0 -> /p1 -> ... -> /p{n-1}, each also linking home."""
    return {f"/p{i}": page(f"Page {i}{tag}", f"text of page {i}{tag}",
                         ("/p0",) if i + 1 == n else (f"/p{i + 1}", "/p0")) for i in range(n)}


def test_a_finished_crawl_is_replayed_without_requests_even_when_the_site_changed(tmp_path):
    state = tmp_path / ".plan"
    with Site(mixed_routes(), fallback=calendar) as site:
        first = snapshot(source([site.url + "/"], state).plan(()))
        ids = {i.removeprefix(site.url) for i in first}
        assert {"/", "/a", "/a1", "/b", "/b1", "/moved", "/h1", "/cal?d=1", "/cal?d=2"} <= ids
        assert "/hidden" not in ids and {"/missing#error=Http404", "/private/x#error=RobotsDisallowed"} <= ids
        folder = state_folder(state)
        assert (folder / FINISHED).is_file()
        assert json.loads((folder / SETTINGS).read_text())["seeds"] == [site.url + "/"]
        before = len(site.log)
        site.routes.update(chain_routes(1))
        site.routes["/a"] = page("A, rewritten", "new text of a", ("/new",))
        site.routes["/"] = page("Home", "home, moved on", ("/p0",))
        again = snapshot(source([site.url + "/"], state).plan(()))
        assert len(site.log) == before  # not one request, robots.txt included
        assert again == first
        changed = snapshot(source([site.url + "/"], None).plan(()))  # without the state: the new site
        assert changed != first and site.url + "/p0" in changed


@pytest.mark.parametrize("kept", [0, 1, 3, 6, 9, 12])
def test_a_crawl_cut_off_anywhere_continues_to_the_same_pages_without_refetching(tmp_path, kept):
    """Cut the journal of a finished crawl to its first `kept` records, as a kill would leave it."""
    with Site(mixed_routes(), fallback=calendar) as site:
        full = snapshot(source([site.url + "/"], tmp_path / "full").plan(()))
        records = lines(state_folder(tmp_path / "full"))
        assert len(records) > 12
        shutil.copytree(tmp_path / "full", tmp_path / "cut")
        folder = state_folder(tmp_path / "cut")
        (folder / JOURNAL).write_bytes(b"".join(records[:kept]))
        (folder / FINISHED).unlink()
        site.log.clear()
        resumed = snapshot(source([site.url + "/"], tmp_path / "cut").plan(()))
        assert resumed == full
        journaled = {json.loads(r)["at"].removeprefix(site.url) for r in records[:kept]}
        assert fetched(site) and not journaled & set(fetched(site))  # none of the journaled URLs asked again
        after = lines(folder)
        assert [json.loads(r)["at"] for r in after] == [json.loads(r)["at"] for r in records]  # the same crawl
        assert (folder / FINISHED).is_file()


def test_a_killed_crawl_of_two_sites_continues_from_its_frontier(tmp_path):
    state = tmp_path / ".plan"
    slow = CrawlConfig(allow_private=True, delay=0.1, timeout=2.0, max_depth=10)  # a page per 0.1 s per site
    with Site(chain_routes(6, " of one")) as one, Site(chain_routes(6, " of two")) as two:
        seeds = [one.url + "/p0", two.url + "/p0"]
        with CrawlJournal.open(state, seeds, slow) as journal:  # what plan() opens for these settings
            stream = crawl(seeds, slow, journal)
            got = [next(stream) for _ in range(3)]
            stream.close()  # the run is killed: the site threads stop at their next request
        assert all(isinstance(p, Page) for p in got)
        folder = state_folder(state)
        cut = len(lines(folder))
        assert 3 <= cut < 12 and not (folder / FINISHED).exists()
        resumed = snapshot(source(seeds, state, slow).plan(()))
        assert len(lines(folder)) == 12 and (folder / FINISHED).is_file()
        for site in (one, two):  # each page asked once over both sessions
            assert Counter(fetched(site)) == Counter(f"/p{i}" for i in range(6))
        assert resumed == snapshot(source(seeds, None, slow).plan(()))
        assert len(resumed) == 12 and "text of page 5 of two" in resumed[two.url + "/p5"]


def test_a_torn_last_line_is_ignored(tmp_path):
    state = tmp_path / ".plan"
    with Site(chain_routes(5)) as site:
        full = snapshot(source([site.url + "/p0"], state).plan(()))
        folder = state_folder(state)
        records = lines(folder)
        (folder / JOURNAL).write_bytes(b"".join(records) + b'{"site": "127.0.0.1", "at": "http://127.0.0')
        site.log.clear()
        assert snapshot(source([site.url + "/p0"], state).plan(())) == full and site.log == []
        assert lines(folder) == records  # the torn bytes are cut off the file

        # killed while writing the last record of an unfinished crawl: only that page is asked again
        (folder / JOURNAL).write_bytes(b"".join(records[:-1]) + records[-1][:40])
        (folder / FINISHED).unlink()
        assert snapshot(source([site.url + "/p0"], state).plan(())) == full
        assert fetched(site) == [json.loads(records[-1])["at"].removeprefix(site.url)]
        assert [(r["at"], r["html"]) for r in map(json.loads, lines(folder))] == \
            [(r["at"], r["html"]) for r in map(json.loads, records)]


def test_state_of_other_settings_is_not_used(tmp_path):
    state = tmp_path / ".plan"
    with Site(chain_routes(5)) as site:
        full = snapshot(source([site.url + "/p0"], state).plan(()))
        site.log.clear()
        small = CrawlConfig(allow_private=True, delay=0.0, timeout=2.0, max_depth=10, max_pages=2)
        assert len(source([site.url + "/p0"], state, small).plan(())) == 2 and fetched(site) == ["/p0", "/p1"]
        assert len(list(state.glob("crawl-*"))) == 2  # one state per settings: both resume
        site.log.clear()
        assert snapshot(source([site.url + "/p0"], state).plan(())) == full and site.log == []
        for folder in state.glob("crawl-*"):  # a settings file that does not match: started over
            (folder / SETTINGS).write_text('{"seeds": []}')
        assert snapshot(source([site.url + "/p0"], state).plan(())) == full and len(fetched(site)) == 5


def test_a_site_time_limit_is_replayed_as_it_happened(tmp_path):
    state = tmp_path / ".plan"
    timed = CrawlConfig(allow_private=True, delay=0.3, timeout=2.0, max_site_seconds=0.5)
    with Site(chain_routes(5)) as site:
        first = snapshot(source([site.url + "/p0"], state, timed).plan(()))
        assert any(i.endswith("#error=SiteTimeLimit") for i in first) and site.url + "/p0" in first
        before = len(site.log)
        assert snapshot(source([site.url + "/p0"], state, timed).plan(())) == first and len(site.log) == before
