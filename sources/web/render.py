"""Chromium through Playwright: one browser and one context per worker, reused for every page.

A page is loaded, measured and captured in one visit (`Renderer.visit()` yields a `LoadedPage`):
what the DOM shows (text blocks with boxes, SVG and canvas figures), PNG captures of any band or
box of the page, and the page as static HTML. Every request the page makes passes one guard: the
crawled document is served from the crawler's copy (so the page is fetched once and the screenshot
shows exactly the text that was crawled), local documents are served from disk under a reserved
`.invalid` host that never reaches the network, other http(s) requests must pass the crawler's
address policy, and everything else is refused. Downloads and service workers are blocked, and
Chromium's background networking is off (`sources.web.browser.LAUNCH_ARGS`).

The guard fetches every image the page asks for itself, with the crawler's own client (`fetch.py`:
the address policy after DNS, one deadline, the byte limit read as the body streams) after
robots.txt allows it, and hands the bytes to Chromium; with `capture_images` (interleaved
documents) it keeps them, so the document's image is exactly the file the page showed. SVG files
are checked for `<use>` bombs before Chromium may draw one (it would hang the renderer), and so is
the inline SVG of every page served.
"""

from __future__ import annotations

import atexit
import contextlib
import html as htmllib
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from pipelines.resources import package_path
from pipelines.stage import InputError
from sources.web.browser import LAUNCH_ARGS, find_browser
from sources.web.images import ImageFetch, is_svg, snake, svg_bomb

DOM_JS = package_path("sources", "web", "dom.js").read_text()
DOC_JS = package_path("sources", "web", "doc.js").read_text()
CLEAN_JS = package_path("sources", "web", "clean.js").read_text()
# Web fonts loaded. No animation frame is awaited (it cost 32 ms a page): reading the DOM forces layout,
# and a screenshot waits for a fresh frame itself.
_SETTLE_JS = "document.fonts ? document.fonts.ready.then(() => true) : true"
MAX_DATA_URI_CHARS = 1_400_000  # a data: URI image is read out of the page only when it is small (~1 MB)
DOCUMENT_HOST = "document.vlforge.invalid"  # RFC 2606: .invalid never resolves, so nothing leaves the machine
# Chromium asks the request guard for a page's images one at a time (the guard runs on the one Playwright
# thread); fetching the <img src> files the crawled HTML names on this many threads first makes that wait
# one round trip instead of one per image (Chromium's own limit is 6 connections a host).
PREFETCH_THREADS = 6
_IMG_SRC = re.compile(r"""<img\b[^>]*?\ssrc\s*=\s*["']([^"'>]+)["']""", re.IGNORECASE)


@dataclass(frozen=True)
class RenderSettings:
    """How a worker's browser renders pages (a subset of `WebConfig`, hashable so a pool can be keyed by it)."""

    browser: str = ""
    width: int = 1024
    height: int = 1024
    page_timeout: float = 20.0  # seconds for a page to load; after it the page is captured as it stands
    settle_ms: int = 0  # extra wait after load and fonts (for pages that draw late)
    max_blocks: int = 5000  # text blocks read from the DOM (a huge DOM is truncated, and flagged)
    dom_budget_ms: int = 3000
    min_figure: int = 120  # CSS px: smaller SVG/canvas elements are icons, not figures
    max_svg_chars: int = 200_000
    allow_private: bool = False
    user_agent: str = ""
    capture_images: bool = False  # keep the bytes of every image the page loads (interleaved documents)
    max_image_bytes: int = 10_000_000
    image_timeout: float = 15.0  # seconds for one image request (the crawler's request timeout)
    image_delay: float = 0.0  # seconds between image requests to one host (the crawler's delay, or robots' Crawl-delay)
    max_kept_images: int = 200  # image bodies kept per page (the document uses the first ones)


Resolver = Callable[[str], tuple[bytes, str] | None]


@dataclass
class LoadedPage:
    """A page open in the browser: measure its DOM, capture any band of it, read it as HTML."""

    renderer: Renderer
    page: Any
    url: str
    width: int
    status: int | None
    timed_out: bool

    def dom(self, lines: bool = True) -> dict[str, Any]:
        """What the page shows (dom.js); `lines` = False skips the per-line text and boxes (only
        screenshots and tiles use them: ~half the script's time on a text-heavy page)."""
        s = self.renderer.settings
        return self.page.evaluate(DOM_JS, {"maxBlocks": s.max_blocks, "maxLines": 4 * s.max_blocks, "lines": lines,
                                           "budgetMs": s.dom_budget_ms,
                                           "minFigure": s.min_figure, "maxSvgChars": s.max_svg_chars})

    def capture(self, top: int, height: int) -> bytes:
        """PNG of the page band [top, top + height) at the viewport's width."""
        return self.capture_box(0, top, self.width, top + height)

    def capture_box(self, x0: int, y0: int, x1: int, y1: int) -> bytes:
        """PNG of a region of the whole page, in CSS pixels (= image pixels: the scale factor is 1).
        Chromium encodes it, so no capture is decoded and re-encoded in Python."""
        beyond = y1 > self.renderer._viewport[1]  # a full-page capture resizes the view first: ~10 ms
        return self.page.screenshot(full_page=beyond, clip={"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0},
                                    animations="disabled", caret="hide", type="png")

    @property
    def blocked(self) -> list[str]:
        """Requests of this page that the guard refused."""
        return list(self.renderer._blocked)

    def html(self) -> str:
        return self.page.evaluate(CLEAN_JS, {"maxDataUri": 4096})

    def walk(self, max_items: int = 0, max_caption_chars: int = 1000, max_data_chars: int = 0) -> dict[str, Any]:
        """The page's main content in document order for an interleaved document (see doc.js), at
        most `max_items` paragraphs and images (default: `max_blocks`, the bound on the DOM's text)."""
        s = self.renderer.settings
        data_chars = max_data_chars or min(s.max_image_bytes * 4 // 3 + 64, MAX_DATA_URI_CHARS)
        return self.page.evaluate(DOC_JS, {"maxItems": max_items or s.max_blocks, "budgetMs": s.dom_budget_ms,
                                           "maxCaptionChars": max_caption_chars, "maxTableRows": 500,
                                           "maxDataChars": data_chars})

    def image(self, url: str) -> ImageFetch:
        """The image at `url` as this page loaded it, or (a lazy image the page never loaded) fetched
        now under the same rules."""
        return self.renderer.fetch_image(url)

    def rasterise(self, index: int, timeout: float, load: str | None = None) -> bytes:
        """PNG of the image element doc.js numbered `index` as the page draws it (an SVG or a canvas),
        within `timeout` seconds; `load` first points an unloaded <img> at that URL and waits for it."""
        selector = f'[data-vlf-img="{index}"]'
        if load:
            self.page.evaluate("""([sel, src]) => { const el = document.querySelector(sel); if (!el) return false;
                el.loading = "eager"; el.removeAttribute("srcset"); el.src = src;
                return el.decode().then(() => true, () => false); }""", [selector, load])
        return self.page.locator(selector).screenshot(timeout=timeout * 1000, animations="disabled", caret="hide",
                                                      type="png")


class Renderer:
    """A Chromium with one browser context, serving pages one at a time (one per worker process)."""

    def __init__(self, settings: RenderSettings):
        self.settings = settings
        self.browser = _browser(find_browser(settings.browser or None))
        ctx_args: dict[str, Any] = {"viewport": {"width": settings.width, "height": settings.height},
                                    "device_scale_factor": 1, "accept_downloads": False,
                                    "service_workers": "block", "locale": "en-US"}
        if settings.user_agent:
            ctx_args["user_agent"] = settings.user_agent
        self.context = self.browser.new_context(**ctx_args)
        self.context.route("**/*", self._guard)
        self._page: Any = None
        self._viewport = (settings.width, settings.height)
        self._served: dict[str, tuple[bytes, str]] = {}
        self._resolver: Resolver | None = None
        self._blocked: list[str] = []
        self._allowed_hosts: dict[tuple[str, int], bool] = {}
        self._images: dict[str, ImageFetch] = {}  # what this page's image requests gave
        self._robots: Any = None
        self._gate: Any = None

    # -- requests ---------------------------------------------------------------------------------
    def _guard(self, route: Any) -> None:
        """Answer one request of a page (an exception here would leave the request hanging, so any
        failure aborts the request instead)."""
        try:
            self._answer(route)
        except Exception:  # noqa: BLE001 - a request we cannot judge is a request we refuse
            self._blocked.append(route.request.url)
            with contextlib.suppress(Exception):
                route.abort("blockedbyclient")

    def _answer(self, route: Any) -> None:
        url = route.request.url
        if url in self._served:
            body, ctype = self._served[url]
            route.fulfill(status=200, body=body, headers={"content-type": ctype})
            return
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            route.continue_()
            return
        # Images always pass our own client: an SVG bomb must be refused before Chromium draws it.
        image = route.request.resource_type == "image"
        if parts.hostname == DOCUMENT_HOST:
            got = self.fetch_image(url) if image else None
            found = self._resolver(parts.path) if self._resolver and not image else None
            if image and got is not None and got.body is not None:
                found = (got.body, got.ctype)
            elif found is not None and svg_bomb(found[0], html=not is_svg(found[1])):
                found = None  # a chapter or image whose <use> references would hang the renderer
            if found is None:
                route.fulfill(status=404, body=b"", headers={"content-type": "text/plain"})
            else:
                route.fulfill(status=200, body=found[0], headers={"content-type": found[1]})
            return
        if parts.scheme in ("http", "https") and parts.hostname and self._host_allowed(parts):
            if not image:
                route.continue_()
                return
            got = self.fetch_image(url)
            if got.body is not None:
                ctype = got.ctype or "application/octet-stream"
                route.fulfill(status=200, body=got.body, headers={"content-type": ctype})
            elif got.status:
                route.fulfill(status=got.status, body=b"", headers={"content-type": "text/plain"})
            else:
                route.abort("blockedbyclient")
            return
        self._blocked.append(url)
        route.abort("blockedbyclient")

    def _host_allowed(self, parts: Any) -> bool:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        key = (parts.hostname, port)
        if key not in self._allowed_hosts:
            from sources.web.netguard import AddressRefused, check_host

            try:
                check_host(parts.hostname, port, self.settings.allow_private)
                self._allowed_hosts[key] = True
            except AddressRefused:
                self._allowed_hosts[key] = False
            except OSError:  # does not resolve: let Chromium fail the request on its own
                self._allowed_hosts[key] = True
        return self._allowed_hosts[key]

    # -- images -----------------------------------------------------------------------------------
    def fetch_image(self, url: str) -> ImageFetch:
        """One image of the current page, fetched once: from the document's files under
        `DOCUMENT_HOST`, else over HTTP with the crawler's client after robots.txt allows it (every
        redirect hop checked again), at most `max_image_bytes`. SVG with a `<use>` bomb is refused."""
        if url in self._images:
            return self._images[url]
        if urlsplit(url).hostname == DOCUMENT_HOST:
            return self._document_file(url)
        if len(self._images) >= self.settings.max_kept_images:
            return ImageFetch(url, None, reason="too_many_images", message="past the images one page may fetch")
        from sources.web.fetch import FetchError, follow

        try:
            resp, _ = follow(url, self._request_image, max_redirects=5, before=self._image_allowed)
        except FetchError as e:
            got = ImageFetch(url, None, reason=snake(e.error_type), message=e.message)
        else:
            ctype = resp.headers.get("content-type", "")
            if resp.status >= 300 or resp.body is None:
                got = ImageFetch(url, None, ctype, f"http_{resp.status}", f"{url}: HTTP {resp.status} {resp.reason}",
                                 resp.status)
            elif is_svg(ctype, resp.body) and svg_bomb(resp.body):
                got = ImageFetch(url, None, ctype, "svg_bomb", f"{url}: SVG whose <use> references expand without "
                                 "bound", 403)
            else:
                got = ImageFetch(url, resp.body, ctype, status=resp.status)
        return self._remember(got)

    def _document_file(self, url: str) -> ImageFetch:
        found = self._resolver(urlsplit(url).path) if self._resolver else None
        if found is None:
            got = ImageFetch(url, None, reason="missing_file", message=f"{urlsplit(url).path}: not in the document",
                             status=404)
        elif len(found[0]) > self.settings.max_image_bytes:
            got = ImageFetch(url, None, found[1], "too_large", f"{len(found[0]):,} bytes is over the "
                             f"{self.settings.max_image_bytes:,}-byte limit", 403)
        elif is_svg(found[1], found[0]) and svg_bomb(found[0]):
            got = ImageFetch(url, None, found[1], "svg_bomb", "SVG whose <use> references expand without bound", 403)
        else:
            got = ImageFetch(url, found[0], found[1], status=200)
        return self._remember(got)

    def _remember(self, got: ImageFetch) -> ImageFetch:
        """Keep what an image request gave for the document (bodies only up to `max_kept_images`; a
        later one the document wants is fetched again)."""
        kept = sum(1 for g in self._images.values() if g.body is not None)
        if got.body is None or (self.settings.capture_images and kept < self.settings.max_kept_images):
            self._images[got.url] = got
        return got

    def _request_image(self, url: str) -> Any:
        from sources.web.fetch import request

        s = self.settings
        return request(url, user_agent=s.user_agent or "vlforge-crawler/0.1", timeout=s.image_timeout,
                       max_bytes=s.max_image_bytes, allow_private=s.allow_private,
                       want_body=lambda status, _ctype: 200 <= status < 300)

    def _image_allowed(self, url: str, _hop: int) -> None:
        """robots.txt of the image's origin, read once per worker with the crawler's rules."""
        from sources.web.fetch import FetchError, follow, request
        from sources.web.robots import MAX_ROBOTS_BYTES, RobotsCache
        from sources.web.urls import origin_of, path_and_query

        s = self.settings
        agent = s.user_agent or "vlforge-crawler/0.1"
        if self._robots is None:
            self._robots = RobotsCache(agent.split("/")[0].strip())

        def one(u: str) -> Any:
            return request(u, user_agent=agent, timeout=s.image_timeout, max_bytes=MAX_ROBOTS_BYTES,
                           allow_private=s.allow_private, want_body=lambda status, _t: 200 <= status < 300,
                           truncate=True)

        rules = self._robots.rules(origin_of(url), lambda robots_url: follow(robots_url, one, max_redirects=5,
                                                                             before=lambda _u, _h: None)[0])
        if not rules.allows(path_and_query(url)):
            raise FetchError("RobotsDisallowed", f"{url}: disallowed by robots.txt", url)
        # Politeness, as the crawler's: requests to one host `image_delay` apart (Crawl-delay may raise it).
        delay = max(s.image_delay, min(rules.crawl_delay or 0.0, 30.0))
        if delay > 0:
            import time

            from sources.web.politeness import HostGate
            from sources.web.urls import host_of

            self._gate = self._gate or HostGate()
            if not self._gate.wait(host_of(url), delay, until=time.monotonic() + s.page_timeout,
                                   stop=threading.Event()):
                raise FetchError("Timeout", f"{url}: no polite request slot within {s.page_timeout:g} s", url)

    def _prefetch(self, url: str, html: str) -> None:
        """Fetch the images the page's HTML names (`<img src>`, in order, up to `max_kept_images`) in
        parallel, under the same rules as `fetch_image` (robots, address policy, per-host delay, byte
        limit, SVG bombs), so the guard answers Chromium from memory. The first goes alone: it reads the
        host's robots.txt and starts its politeness gate, which the threads then share."""
        wanted: list[str] = []
        for m in _IMG_SRC.finditer(html):
            src = urljoin(url, htmllib.unescape(m.group(1).strip()))
            parts = urlsplit(src)
            if parts.scheme in ("http", "https") and parts.hostname and src not in wanted:
                if not self._host_allowed(parts):
                    continue
                wanted.append(src)
            if len(wanted) >= self.settings.max_kept_images:
                break
        if not wanted:
            return
        self.fetch_image(wanted[0])
        if len(wanted) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(PREFETCH_THREADS, len(wanted) - 1)) as pool:
                list(pool.map(self.fetch_image, wanted[1:]))

    # -- pages ------------------------------------------------------------------------------------
    def _tab(self) -> Any:
        """The renderer's one tab, reused from page to page: opening a tab costs ~130 ms, more than
        loading a simple page (measured on Debian's Chromium)."""
        if self._page is None or self._page.is_closed():
            self._page = self.context.new_page()
            self._page.set_default_timeout(self.settings.page_timeout * 1000)
            self._viewport = (self.settings.width, self.settings.height)
        return self._page

    @contextmanager
    def visit(self, url: str, html: str | None = None, *, resolver: Resolver | None = None,
              style: str = "", width: int | None = None, height: int | None = None) -> Iterator[LoadedPage]:
        """Load `url` (serving `html` for it when given, and `DOCUMENT_HOST` paths from `resolver`),
        add `style`, wait for fonts, and yield it for measuring and capturing. A visit
        that fails closes the tab, so the next page starts in a fresh one."""
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        s = self.settings
        if html is not None:
            if svg_bomb(html, html=True):
                raise InputError("SvgBomb", f"{url}: inline SVG whose <use> references expand without bound "
                                 "(it would hang the browser)")
            self._served[url] = (html.encode("utf-8"), "text/html; charset=utf-8")
        self._resolver, self._blocked, self._images = resolver, [], {}
        if html is not None and s.capture_images:
            self._prefetch(url, html)
        page = self._tab()
        ok = False
        try:
            size = (width or s.width, height or s.height)
            if size != self._viewport:
                page.set_viewport_size({"width": size[0], "height": size[1]})
                self._viewport = size
            timed_out, status = False, None
            try:
                response = page.goto(url, wait_until="load", timeout=s.page_timeout * 1000)
                status = response.status if response else None
            except PlaywrightTimeout:
                timed_out = True
                if page.evaluate("document.readyState") == "loading":
                    raise InputError("PageTimeout", f"{url} did not load within {s.page_timeout:g} s") from None
            except PlaywrightError as e:
                raise InputError("PageLoadFailed", f"{url}: {str(e).splitlines()[0]}") from None
            if status is not None and status >= 400:
                raise InputError("HttpStatus", f"{url}: HTTP {status}")
            if style:
                page.add_style_tag(content=style)
            page.evaluate(_SETTLE_JS)
            if s.settle_ms:
                page.wait_for_timeout(s.settle_ms)
            yield LoadedPage(self, page, url, size[0], status, timed_out)
            ok = True
        finally:
            self._served.pop(url, None)
            self._resolver, self._images = None, {}
            if not ok:
                with contextlib.suppress(Exception):
                    page.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # best effort at exit; the process is going away
            self.context.close()


# One Playwright and one Chromium per (worker) process, shared by a context per RenderSettings: the sync
# API allows one Playwright per thread, and a browser costs ~1 s and ~150 MB to start.
_pool: dict[RenderSettings, Renderer] = {}
_browsers: dict[str, Any] = {}
_playwright: Any = None
_lock = threading.Lock()


def _browser(executable: str) -> Any:
    global _playwright
    if _playwright is None:
        from playwright.sync_api import sync_playwright

        _playwright = sync_playwright().start()
    browser = _browsers.get(executable)
    if browser is None or not browser.is_connected():
        browser = _browsers[executable] = _playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS,
                                                                      headless=True)
    return browser


def renderer_for(settings: RenderSettings) -> Renderer:
    """The worker's renderer for these settings, started on first use (and again if its browser
    crashed), closed at process exit."""
    with _lock:
        r = _pool.get(settings)
        if r is None or not r.browser.is_connected():
            r = _pool[settings] = Renderer(settings)
        return r


@atexit.register
def _close_all() -> None:
    global _playwright
    for r in _pool.values():
        r.close()
    _pool.clear()
    for browser in _browsers.values():
        with contextlib.suppress(Exception):
            browser.close()
    _browsers.clear()
    if _playwright is not None:
        with contextlib.suppress(Exception):
            _playwright.stop()
        _playwright = None


def browser_memory_bytes() -> int:
    """Resident memory of this process's Chromium processes (for the benchmark's browser memory)."""
    import psutil

    me = psutil.Process()
    total = 0
    for child in me.children(recursive=True):
        try:
            if "chrom" in child.name().lower() or "headless" in child.name().lower():
                total += child.memory_info().rss
        except psutil.Error:
            continue
    return total
