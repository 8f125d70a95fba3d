"""The crawler's frontier: which URLs are fetched, in what order, how fast, and when to stop.

Runs on the driver when a web build is planned, over plain HTTP (`fetch.py`), without a browser.
Seeds are grouped by site (host and port); each site is crawled breadth-first by one thread, so
its pages come in a stable order, and up to `parallel_sites` sites run at once. Per site:

- scope: a link is followed when its host is the site's own host or lies under an
  `allow_domains` entry (`example.org` admits `docs.example.org`); only http(s);
- dedup: every URL is normalised (`urls.normalize_url`) and fetched at most once, and a page
  reached again by a redirect is not emitted twice;
- limits: `max_depth` link hops from a seed, `max_pages` HTML pages, `max_site_bytes` bytes of
  bodies, `max_site_seconds` of wall time, `max_page_bytes` and `timeout` per request;
- robots.txt (`robots.py`) is read once per origin: a disallowed URL is not fetched and is
  recorded, Crawl-delay raises the spacing between requests (never above `max_crawl_delay`);
- politeness (`politeness.py`): requests to one host start at least `delay` seconds apart, across
  all site threads; a 429/503 with Retry-After holds the host off;
- redirects are followed hop by hop (`max_redirects`), each hop checked for scope, robots.txt and
  the address policy; a loop is a RedirectLoop;
- the address policy (`netguard.py`) refuses loopback, private and link-local hosts after DNS
  resolution unless `allow_private`.

Everything that is not a page is yielded as a `CrawlError` (one per URL, or one per trap or per
site that ran out of time or bytes), which the source turns into an errors.parquet row.

Given a `CrawlJournal` (`crawl_state.py`), each site thread writes the outcome of every URL it takes
off its frontier to the journal before acting on it, and answers from the journal every URL it
already holds: a crawl cut off by a kill continues where it stopped, and a finished one is
replayed without any request.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pipelines.stage import ConfigError
from sources.web.crawl_state import CrawlJournal
from sources.web.fetch import HTML_TYPES, FetchError, Response, decode_html, follow, looks_like_html, request
from sources.web.links import extract_links
from sources.web.politeness import HostGate
from sources.web.robots import MAX_ROBOTS_BYTES, RobotsCache
from sources.web.traps import TrapGuard
from sources.web.urls import clean_domain, domain_matches, host_of, normalize_url, origin_of, path_and_query, site_of

USER_AGENT = "vlforge-crawler/0.1 (vision-language dataset builder; obeys robots.txt)"


@dataclass(frozen=True)
class CrawlConfig:
    """[web.crawl]: the crawler's scope, limits and manners (every limit is per site)."""

    max_pages: int = 100
    max_depth: int = 3
    allow_domains: tuple[str, ...] = ()
    allow_private: bool = False
    user_agent: str = USER_AGENT
    delay: float = 1.0  # seconds between requests to one host (robots.txt Crawl-delay may raise it)
    max_crawl_delay: float = 30.0  # a larger Crawl-delay is capped here (the site time limit still applies)
    timeout: float = 15.0  # seconds for one whole request: connect, headers and body
    max_redirects: int = 5
    max_page_bytes: int = 5_000_000
    max_site_bytes: int = 200_000_000
    max_site_seconds: float = 600.0
    max_query_variants: int = 20  # distinct query strings on one path before it counts as a link trap
    parallel_sites: int = 8

    def validate(self) -> None:
        """Raise ConfigError naming the first setting out of range (Config.validate prefixes web.crawl.)."""
        for name in ("max_pages", "max_page_bytes", "max_site_bytes", "max_query_variants", "parallel_sites"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}", name)
        for name in ("max_depth", "max_redirects", "delay", "max_crawl_delay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)}", name)
        if self.timeout <= 0 or self.max_site_seconds <= 0:
            raise ConfigError("timeout and max_site_seconds must be positive", "timeout")
        if not self.user_agent.strip() or "/" not in self.user_agent:
            raise ConfigError(f"user_agent must name the crawler as product/version, got {self.user_agent!r}",
                              "user_agent")


@dataclass(frozen=True)
class Page:
    """One fetched HTML page: its final URL (after redirects), text, link depth and the seed it came from."""

    url: str
    html: str
    depth: int
    seed: str
    redirects: tuple[str, ...] = ()


@dataclass(frozen=True)
class CrawlError:
    """A URL (or a trap, or a site's exhausted budget) that gave no page; `error_type` is the category."""

    url: str
    error_type: str
    message: str
    depth: int
    seed: str


Found = Page | CrawlError


def crawl(seeds: Sequence[str], cfg: CrawlConfig, journal: CrawlJournal | None = None) -> Iterator[Found]:
    """Crawl from `seeds` and yield each page and each failure as it is found. Closing the
    generator early stops the site threads at their next request. With a `journal`, outcomes are
    persisted as they come and those it already holds are replayed instead of fetched; when every
    site ends by itself the journal is marked finished (and a finished one is replayed offline)."""
    cfg.validate()
    by_site: dict[str, list[str]] = {}
    out: queue.Queue[Found | None] = queue.Queue(maxsize=256)
    for raw in seeds:
        url = normalize_url(raw)
        if url is None:
            yield CrawlError(raw, "BadSeed", f"seed {raw!r} is not an http(s) URL", 0, raw)
            continue
        by_site.setdefault(site_of(url), []).append(url)
    if not by_site:
        return
    shared = _Shared(cfg, journal)
    with ThreadPoolExecutor(max_workers=min(cfg.parallel_sites, len(by_site)), thread_name_prefix="crawl") as pool:
        for site_seeds in by_site.values():
            pool.submit(_run_site, _Site(site_seeds, cfg, shared), out)
        try:
            for _ in range(len(by_site)):
                while (item := out.get()) is not None:
                    yield item
        finally:
            shared.stop.set()  # threads notice within 0.1 s (or at their request's timeout); the pool waits
    if journal is not None and not shared.failed:
        journal.finish()


class _Shared:
    """What all site threads of one crawl share: robots.txt per origin, the per-host gate, a stop flag,
    the journal (if any) and whether it is replayed offline."""

    def __init__(self, cfg: CrawlConfig, journal: CrawlJournal | None = None):
        self.robots = RobotsCache(cfg.user_agent.split("/")[0].strip())
        self.gate = HostGate()
        self.stop = threading.Event()
        self.journal = journal
        self.offline = journal is not None and journal.finished
        self.failed = False  # a site thread crashed: its crawl did not end by itself


class _OutOfTime(Exception):
    """The site's time limit arrived while waiting for a request slot."""


def _run_site(site: _Site, out: queue.Queue[Found | None]) -> None:
    stop = site.shared.stop
    try:
        for item in site.run():
            if not _put(out, item, stop):
                return
    except Exception as e:  # a bug here must not hang the crawl: report it against the site
        site.shared.failed = True
        _put(out, CrawlError(site.seeds[0], "CrawlFailed", f"crawler error: {type(e).__name__}: {e}", 0,
                             site.seeds[0]), stop)
    finally:
        _put(out, None, stop)


def _put(out: queue.Queue[Found | None], item: Found | None, stop: threading.Event) -> bool:
    """Hand one result to the consumer; False when the consumer has gone away."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class _Site:
    """The breadth-first crawl of one site from its seeds."""

    def __init__(self, seeds: list[str], cfg: CrawlConfig, shared: _Shared):
        self.seeds, self.cfg, self.shared = seeds, cfg, shared
        self.hosts = {host_of(s) for s in seeds}
        self.domains = tuple(d for d in (clean_domain(x) for x in cfg.allow_domains) if d)
        self.traps = TrapGuard(max_query_variants=cfg.max_query_variants)
        self.seen: set[str] = set(seeds)
        self.pages = 0
        self.bytes = 0
        self.deadline = 0.0
        self.key = site_of(seeds[0])  # the journal's name for this site
        self.started = 0.0  # monotonic time the site's crawl began (earlier sessions' time included)
        self._seen_now: list[str] = []  # URLs one fetch marked seen, for its journal record

    def in_scope(self, url: str) -> bool:
        host = host_of(url)
        return host in self.hosts or any(domain_matches(host, d) for d in self.domains)

    def run(self) -> Iterator[Found]:
        cfg, journal = self.cfg, self.shared.journal
        replay = journal.replay(self.key) if journal is not None else {}
        spent = max((float(r.get("elapsed", 0.0)) for r in replay.values()), default=0.0)
        self.started = time.monotonic() - spent
        self.deadline = self.started + cfg.max_site_seconds
        frontier: deque[tuple[str, int, str]] = deque((s, 0, s) for s in dict.fromkeys(self.seeds))
        while frontier and self.pages < cfg.max_pages and not self.shared.stop.is_set():
            if self.bytes >= cfg.max_site_bytes:
                yield self._budget_error(frontier, "SiteByteLimit", f"the site's {cfg.max_site_bytes:,}-byte limit")
                break
            url, depth, seed = frontier.popleft()
            record = replay.pop(url, None)
            if record is not None:  # answered by the journal of an earlier session: no request
                page = self._replayed(record, depth, seed)
                if record["kind"] == "stop":
                    frontier.appendleft((url, depth, seed))
                    yield page
                    break
            elif self.shared.offline:
                break  # a finished crawl is replayed, never fetched (its journal answers every URL)
            else:
                try:
                    page = self._visit(url, depth, seed)
                except _OutOfTime:
                    if self.shared.stop.is_set():
                        break  # the consumer went away: not a time limit, and nothing to journal
                    frontier.appendleft((url, depth, seed))
                    error = self._budget_error(frontier, "SiteTimeLimit",
                                               f"the site's {cfg.max_site_seconds:g}-second limit")
                    self._journal(url, depth, seed, error, kind="stop")
                    yield error
                    break
            if isinstance(page, CrawlError) or page is None:
                if page is not None:
                    yield page
                continue
            self.pages += 1
            links = extract_links(page.html, page.url)
            if depth < cfg.max_depth:
                for link in links.links:
                    if link in self.seen or not self.in_scope(link):
                        continue
                    self.seen.add(link)
                    if self.traps.admit(link, (seed, depth + 1)):
                        frontier.append((link, depth + 1, seed))
            if not links.noindex:
                yield page
        for example, (seed, depth), message in self.traps.reports():
            yield CrawlError(example, "LinkTrap", message, depth, seed)

    def _visit(self, url: str, depth: int, seed: str) -> Page | CrawlError | None:
        """Fetch one URL off the frontier (following redirects) and journal its outcome, with what
        the fetch changed in this site's bookkeeping, before the caller acts on it."""
        bytes_before, hosts_before = self.bytes, set(self.hosts)
        self._seen_now = []
        try:
            resp, redirects = follow(url, self._fetch_page, max_redirects=self.cfg.max_redirects,
                                     before=lambda u, hop: self._before(u, hop, depth))
        except FetchError as e:
            page: Page | CrawlError | None = CrawlError(e.url or url, e.error_type, e.message, depth, seed)
        else:
            page = self._page(resp, redirects, depth, seed)
        self._journal(url, depth, seed, page, bytes=self.bytes - bytes_before,
                      hosts=sorted(self.hosts - hosts_before), seen=self._seen_now)
        return page

    def _journal(self, url: str, depth: int, seed: str, found: Found | None, kind: str = "",
                 **bookkeeping: Any) -> None:
        if self.shared.journal is None:
            return
        record = {"site": self.key, "at": url, "depth": depth, "seed": seed,
                  "elapsed": round(time.monotonic() - self.started, 3), **bookkeeping}
        if isinstance(found, Page):
            record.update(kind="page", url=found.url, html=found.html, redirects=list(found.redirects))
        elif isinstance(found, CrawlError):
            record.update(kind=kind or "error", url=found.url, error_type=found.error_type, message=found.message)
        else:
            record.update(kind="duplicate")
        self.shared.journal.append(record)

    def _replayed(self, record: dict[str, Any], depth: int, seed: str) -> Page | CrawlError | None:
        """A journaled outcome, with its effect on the site's bookkeeping applied as the fetch applied it."""
        self.bytes += int(record.get("bytes", 0))
        self.hosts.update(record.get("hosts", ()))
        self.seen.update(record.get("seen", ()))
        kind = record["kind"]
        if kind == "page":
            return Page(record["url"], record["html"], depth, seed, tuple(record.get("redirects", ())))
        if kind in ("error", "stop"):
            return CrawlError(record["url"], record["error_type"], record["message"], depth, seed)
        return None

    def _page(self, resp: Response, redirects: tuple[str, ...], depth: int, seed: str) -> Page | CrawlError | None:
        """The page a final response holds, an error for a status or type that is not a page, or
        None for a page already emitted under another URL (reached again through a redirect)."""
        url = resp.url
        if resp.status == 429 or resp.status == 503:
            retry = _retry_after(resp.headers.get("retry-after"))
            if retry:
                self.shared.gate.hold_off(host_of(url), min(retry, self.cfg.max_crawl_delay))
        if resp.status >= 300:
            return CrawlError(url, f"Http{resp.status}", f"{url}: HTTP {resp.status} {resp.reason}".strip(), depth,
                              seed)
        body = resp.body
        if body is None:
            return CrawlError(url, "NotHtml", f"{url}: content type {resp.content_type} is not HTML", depth, seed)
        if not resp.content_type and not looks_like_html(body):
            return CrawlError(url, "NotHtml", f"{url}: no content type and the body does not look like HTML",
                              depth, seed)
        self.bytes += len(body)
        if redirects:
            if url in self.seen:
                return None  # fetched, or queued, under its own URL
            self.seen.add(url)
            self._seen_now.append(url)
        if not body.strip():
            return CrawlError(url, "EmptyPage", f"{url}: HTTP {resp.status} with an empty body", depth, seed)
        return Page(url, decode_html(body, resp.charset), depth, seed, redirects)

    def _fetch_page(self, url: str) -> Response:
        cfg = self.cfg
        limit = min(cfg.max_page_bytes, max(1, cfg.max_site_bytes - self.bytes))
        return request(url, user_agent=cfg.user_agent, timeout=cfg.timeout, max_bytes=limit,
                       allow_private=cfg.allow_private,
                       want_body=lambda status, ctype: 200 <= status < 300 and (not ctype or ctype in HTML_TYPES))

    def _before(self, url: str, hop: int, depth: int) -> None:
        """Checks ahead of every request of a page (and of each redirect hop): scope, robots.txt,
        then a politeness slot for its host. A seed's redirect moves the site (`a.org` to `www.a.org`)."""
        if hop and depth == 0:
            self.hosts.add(host_of(url))
        elif hop and not self.in_scope(url):
            raise FetchError("OffSiteRedirect", f"redirect leaves the crawl's scope to {url}", url)
        rules = self.shared.robots.rules(origin_of(url), self._fetch_robots)
        if not rules.allows(path_and_query(url)):
            note = f" ({rules.note})" if rules.note else ""
            raise FetchError("RobotsDisallowed", f"{url}: disallowed by robots.txt{note}", url)
        delay = max(self.cfg.delay, min(rules.crawl_delay or 0.0, self.cfg.max_crawl_delay))
        self._wait(url, delay)

    def _wait(self, url: str, delay: float) -> None:
        if not self.shared.gate.wait(host_of(url), delay, until=self.deadline, stop=self.shared.stop):
            raise _OutOfTime()

    def _fetch_robots(self, robots_url: str) -> Response:
        cfg = self.cfg

        def one(url: str) -> Response:
            return request(url, user_agent=cfg.user_agent, timeout=cfg.timeout, max_bytes=MAX_ROBOTS_BYTES,
                           allow_private=cfg.allow_private, want_body=lambda status, _t: 200 <= status < 300,
                           truncate=True)

        resp, _ = follow(robots_url, one, max_redirects=5, before=lambda u, _hop: self._wait(u, cfg.delay))
        return resp

    def _budget_error(self, frontier: deque[tuple[str, int, str]], error_type: str, what: str) -> CrawlError:
        url, depth, seed = frontier[0] if frontier else (self.seeds[0], 0, self.seeds[0])
        return CrawlError(url, error_type, f"{site_of(url)}: stopped at {what} after {self.pages} pages; "
                          f"{len(frontier)} queued URLs not fetched", depth, seed)


def _retry_after(value: str | None) -> float:
    """Seconds from a Retry-After header given in seconds (an HTTP date is ignored: 0)."""
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0
