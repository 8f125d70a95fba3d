"""The links of an HTML page, and what its robots meta tag asks of crawlers.

Links are `<a href>` and `<area href>`, resolved against the first `<base href>` (itself resolved
against the page), plus a `<meta http-equiv="refresh">` target. Links marked `rel="nofollow"` are
left out, and a page whose `<meta name="robots">` says `nofollow` (or `none`) gives none at all:
nofollow marks user-submitted and endless links, exactly the ones a polite crawler should skip.
`noindex` is reported, not acted on: the caller decides whether such a page becomes a sample.
The stdlib parser is used because it builds no tree: a page with a million elements costs time
linear in its bytes and no memory for a DOM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from sources.web.urls import normalize_url

_REFRESH_URL = re.compile(r"url\s*=\s*['\"]?([^'\"]+)", re.I)


@dataclass(frozen=True)
class PageLinks:
    """Normalised absolute http(s) links in document order, without duplicates, and the robots meta."""

    links: tuple[str, ...]
    nofollow: bool = False
    noindex: bool = False


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.base: str | None = None
        self.robots: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("a", "area", "base", "meta"):
            return
        a = {k: v or "" for k, v in attrs}
        if tag == "base":
            if self.base is None and a.get("href"):
                self.base = a["href"]
        elif tag == "meta":
            name, equiv = a.get("name", "").lower(), a.get("http-equiv", "").lower()
            if name in ("robots", "vlforge-crawler"):
                self.robots.update(t.strip() for t in a.get("content", "").lower().split(","))
            elif equiv == "refresh" and (m := _REFRESH_URL.search(a.get("content", ""))):
                self.hrefs.append(m.group(1).strip())
        elif "href" in a and "nofollow" not in a.get("rel", "").lower().split():
            self.hrefs.append(a["href"])


def extract_links(html: str, page_url: str) -> PageLinks:
    """The links of `html`, a page fetched from `page_url` (see the module docstring)."""
    parser = _LinkParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # the parser is lenient, but keep what was found if it ever gives up
        pass
    nofollow = bool(parser.robots & {"nofollow", "none"})
    noindex = bool(parser.robots & {"noindex", "none"})
    if nofollow:
        return PageLinks((), nofollow, noindex)
    base = normalize_url(parser.base, page_url) if parser.base else None
    base = base or page_url
    links: dict[str, None] = {}
    for href in parser.hrefs:
        if (url := normalize_url(href, base)) is not None:
            links.setdefault(url)
    return PageLinks(tuple(links), nofollow, noindex)
