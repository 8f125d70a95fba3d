"""The crawler over plain HTTP against sites served on 127.0.0.1 (no browser, no Ray: fast)."""

from __future__ import annotations

import ipaddress
import time

import pytest

from sources.web.crawl import USER_AGENT, CrawlConfig, CrawlError, Page, crawl
from sources.web.netguard import refusal_reason
from sources.web.robots import parse_robots
from sources.web.urls import normalize_url
from tests.sources.web.sites import Reply, Site, page

FAST = CrawlConfig(allow_private=True, delay=0.0, timeout=2.0)


def run(seeds, cfg=FAST):
    found = list(crawl(seeds, cfg))
    pages = {f.url: f for f in found if isinstance(f, Page)}
    errors = [f for f in found if isinstance(f, CrawlError)]
    return pages, errors


def types(errors):
    return sorted(e.error_type for e in errors)


def chain_site(n: int) -> Site:
    """/p0 -> /p1 -> ... -> /p{n-1}, each also linking back home and to itself under other spellings."""
    routes = {f"/p{i}": page(f"Page {i}", f"text of page {i}", (f"/p{i + 1}", "/p0", f"./p{i}#top", f"/p{i}?"))
              for i in range(n)}
    return Site(routes)


def test_links_are_followed_breadth_first_and_each_url_once():
    with chain_site(6) as site:
        pages, errors = run([site.url + "/p0"])
        assert [p.rsplit("/", 1)[1] for p in pages] == ["p0", "p1", "p2", "p3"]  # max_depth 3
        assert [pages[f"{site.url}/p{i}"].depth for i in range(4)] == [0, 1, 2, 3]
        assert "text of page 2" in pages[f"{site.url}/p2"].html
        # /p0#top, /p0? and ./p0 are one URL: each page was requested exactly once
        fetched = [p for p in site.paths() if p != "/robots.txt"]
        assert sorted(fetched) == ["/p0", "/p1", "/p2", "/p3"] and not errors
        assert {ua for _, _, ua in site.log} == {USER_AGENT}


def test_page_and_depth_limits():
    with chain_site(6) as site:
        pages, _ = run([site.url + "/p0"], CrawlConfig(allow_private=True, delay=0, max_pages=2))
        assert len(pages) == 2
        pages, _ = run([site.url + "/p0"], CrawlConfig(allow_private=True, delay=0, max_depth=0))
        assert list(pages) == [site.url + "/p0"]


def test_other_hosts_are_left_unless_their_domain_is_allowed():
    with Site({"/": page("Other", "elsewhere")}) as other, \
            Site({"/": page("Home", "home", (f"http://localhost:{0}/",))}) as home:
        home.routes["/"] = page("Home", "home", (f"http://localhost:{other.port}/",))
        pages, _ = run([home.url + "/"])
        assert list(pages) == [home.url + "/"] and other.log == []
        pages, _ = run([home.url + "/"], CrawlConfig(allow_private=True, delay=0, allow_domains=("localhost",)))
        assert f"http://localhost:{other.port}/" in pages


def test_robots_txt_disallow_and_crawl_delay_are_obeyed():
    routes = {"/robots.txt": Reply("User-agent: *\nDisallow: /secret\nCrawl-delay: 0.3\n", ctype="text/plain"),
              "/": page("Home", "home", ("/a", "/secret/x", "/b")),
              "/a": page("A", "a"), "/b": page("B", "b"), "/secret/x": page("S", "secret")}
    with Site(routes) as site:
        pages, errors = run([site.url + "/"])
        assert sorted(pages) == [site.url + "/", site.url + "/a", site.url + "/b"]
        assert types(errors) == ["RobotsDisallowed"] and errors[0].url == site.url + "/secret/x"
        assert "/secret/x" not in site.paths()
        assert site.paths()[0] == "/robots.txt"
        times = [t for t, p, _ in site.log if p != "/robots.txt"]
        assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.28  # Crawl-delay: 0.3


def test_redirects_are_followed_and_loops_are_errors():
    routes = {"/": page("Home", "home", ("/old", "/loop1", "/self")),
              "/old": Reply(status=301, headers={"Location": "/new"}, ctype=None),
              "/new": page("New", "moved here"),
              "/loop1": Reply(status=302, headers={"Location": "/loop2"}, ctype=None),
              "/loop2": Reply(status=302, headers={"Location": "/loop1"}, ctype=None),
              "/self": Reply(status=307, headers={"Location": "/self?"}, ctype=None)}
    with Site(routes) as site:
        pages, errors = run([site.url + "/"])
        assert pages[site.url + "/new"].redirects == (site.url + "/old",)
        assert types(errors) == ["RedirectLoop", "RedirectLoop"]
        assert any("/loop1 -> " in e.message for e in errors)


def test_http_errors_timeouts_and_binaries_are_recorded_and_the_crawl_goes_on():
    routes = {"/": page("Home", "home", ("/missing", "/broken", "/slow", "/file.bin", "/logo.png", "/ok")),
              "/broken": Reply("oops", status=500),
              "/slow": Reply(page("Slow", "late").body, delay=3.0),
              "/file.bin": Reply(bytes(range(256)) * 64, ctype="application/octet-stream"),
              "/logo.png": Reply(b"\x89PNG\r\n\x1a\n" + bytes(100), ctype="image/png"),
              "/ok": page("OK", "fine")}
    with Site(routes) as site:
        started = time.monotonic()
        pages, errors = run([site.url + "/"], CrawlConfig(allow_private=True, delay=0, timeout=0.5))
        assert time.monotonic() - started < 2.5  # the slow page cost its timeout, not its 3 s
        assert sorted(pages) == [site.url + "/", site.url + "/ok"]
        assert types(errors) == ["Http404", "Http500", "NotHtml", "NotHtml", "Timeout"]
        assert next(e for e in errors if e.error_type == "Timeout").url == site.url + "/slow"


def test_a_calendar_trap_becomes_one_error_and_stops():
    def calendar(path: str) -> Reply | None:
        if not path.startswith("/cal?month="):
            return None
        n = int(path.split("=")[1])
        return page(f"Month {n}", "events", (f"/cal?month={n + 1}", f"/cal?month={n - 1}"))

    with Site({"/": page("Home", "home", ("/cal?month=0",))}, fallback=calendar) as site:
        cfg = CrawlConfig(allow_private=True, delay=0, max_depth=1000, max_pages=1000, max_query_variants=5)
        pages, errors = run([site.url + "/"], cfg)
        assert len(pages) == 6  # home and 5 months
        assert types(errors) == ["LinkTrap"] and "more than 5 distinct query strings" in errors[0].message


def test_a_huge_page_is_bounded_by_bytes_and_a_huge_dom_is_parsed_quickly():
    huge_dom = "<html><body>" + "<div><span>x</span></div>" * 100_000 + "<a href='/end'>end</a></body></html>"
    routes = {"/": page("Home", "home", ("/big", "/dom")), "/big": Reply("<html>" + "a" * 3_000_000),
              "/dom": Reply(huge_dom), "/end": page("End", "the end")}
    with Site(routes) as site:
        started = time.monotonic()
        pages, errors = run([site.url + "/"], CrawlConfig(allow_private=True, delay=0, max_page_bytes=2_600_000))
        assert time.monotonic() - started < 5
        assert types(errors) == ["TooLarge"] and errors[0].url == site.url + "/big"
        assert site.url + "/end" in pages  # the link at the bottom of 100k elements was found


def test_private_addresses_are_refused_without_the_flag_even_behind_a_name():
    with Site({"/": page("Home", "home")}) as site:
        for seed in (site.url + "/", f"http://localhost:{site.port}/"):
            pages, errors = run([seed], CrawlConfig(delay=0))
            assert not pages and types(errors) == ["PrivateAddress"]
            assert "loopback" in errors[0].message and "--allow-private" in errors[0].message
        assert site.log == []  # not even robots.txt was asked


@pytest.mark.parametrize("address, reason", [
    ("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("192.168.0.1", "private"),
    ("169.254.169.254", "link-local"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback (IPv4 inside IPv6)"),
    ("0.0.0.0", "unspecified"), ("8.8.8.8", None), ("2606:4700:4700::1111", None)])
def test_address_policy(address, reason):
    assert refusal_reason(ipaddress.ip_address(address)) == reason


def test_url_normalisation_gives_one_spelling():
    assert normalize_url("HTTP://Example.ORG:80/a/./b/../c?#frag") == "http://example.org/a/c"
    assert normalize_url("/%7euser/a b", "https://x.org/dir/page") == "https://x.org/~user/a%20b"
    assert normalize_url("mailto:a@b.org") is None and normalize_url("javascript:alert(1)") is None
    assert normalize_url("http://bücher.de/") == "http://xn--bcher-kva.de/"


def test_robots_rules_longest_match_and_wildcards():
    rules = parse_robots("User-agent: other\nDisallow: /\n\nUser-agent: *\nDisallow: /*?session=\n"
                         "Disallow: /private/\nAllow: /private/open$\nCrawl-delay: 2", "vlforge-crawler")
    assert rules.allows("/page") and not rules.allows("/page?session=1") and not rules.allows("/private/x")
    assert rules.allows("/private/open") and not rules.allows("/private/open/more") and rules.crawl_delay == 2
    assert not parse_robots("User-agent: VLForge-Crawler\nDisallow: /\n", "vlforge-crawler").allows("/a")


def test_the_plan_has_one_unit_per_page_and_per_failure():
    from sources.web.source import WebConfig, WebSource

    routes = {"/": page("Home", "home", ("/a", "/b", "/c")), "/c": page("C", "c"),
              "/a": Reply(status=301, headers={"Location": "/gone"}, ctype=None),
              "/b": Reply(status=301, headers={"Location": "/gone"}, ctype=None)}
    with Site(routes) as site:
        units = WebSource(WebConfig(seeds=(site.url + "/",), crawl=FAST)).plan([])
    assert [u.id.removeprefix(site.url) for u in units] == ["/", "/gone#error=Http404", "/c"]  # breadth-first
    assert units[0].params["html"].startswith("<!doctype html>") and units[1].size == 0
