"""URL normalisation and site scope: one spelling per page, so the frontier deduplicates.

Normalisation keeps to changes that cannot alter which resource a server returns (RFC 3986
section 6, plus the fragment, which never reaches the server):

- relative references are resolved against the page (or its `<base href>`);
- only `http` and `https` survive; anything else (`mailto:`, `javascript:`, `ftp:`) or an
  unparseable URL gives None;
- scheme and host are lower-cased, an internationalised host becomes its IDNA (punycode) form,
  a trailing dot on the host is dropped, an IPv6 host is written in its compressed form;
- user name and password are dropped (a link's credentials are never sent);
- the default port (80 for http, 443 for https) is dropped;
- dot segments are removed (`/a/./b/../c` is `/a/c`), an empty path becomes `/`;
- percent-escapes are upper-cased, escapes of unreserved characters are decoded (`%7E` is `~`),
  and characters that must be escaped (spaces, non-ASCII) are escaped as UTF-8;
- the fragment is dropped, and so is an empty query (`/a?` is `/a`).

Query parameters are *not* sorted and no parameter is removed: some servers redirect to their own
parameter order, and sorting would turn that into a redirect loop. Query explosions are bounded by
the trap guard instead (`sources/web/traps.py`).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote, urljoin, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_STRIPPED = re.compile(r"[\t\n\r]")  # browsers delete these anywhere in a URL
_HOST_CHARS = re.compile(r"^[a-z0-9._-]+$")
PATH_SAFE = "/:@!$&'()*+,;=%"
QUERY_SAFE = "/?:@!$&'()*+,;=%"


def normalize_url(url: str, base: str | None = None) -> str | None:
    """The canonical absolute form of `url` (resolved against `base`), or None when it is not a
    valid http(s) URL. See the module docstring for the rules."""
    url = _STRIPPED.sub("", url).strip(" \x0c\x00")
    try:
        if base:
            url = urljoin(base, url)
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        return None
    host = _normalize_host(parts.hostname or "")
    if host is None:
        return None
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = remove_dot_segments(normalize_escapes(parts.path, PATH_SAFE)) or "/"
    if not path.startswith("/"):
        path = "/" + path
    query = normalize_escapes(parts.query, QUERY_SAFE)
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def _normalize_host(host: str) -> str | None:
    """Lower-case ASCII host (IDNA for international names, brackets for IPv6), or None if invalid."""
    host = host.rstrip(".")
    if not host:
        return None
    if ":" in host:  # urlsplit only lets an IPv6 literal through with a colon
        try:
            return f"[{ipaddress.IPv6Address(host.split('%')[0]).compressed}]"
        except ValueError:
            return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    host = host.lower()
    return host if _HOST_CHARS.match(host) else None


def normalize_escapes(text: str, safe: str) -> str:
    """Upper-case escapes, decode escaped unreserved characters, escape what must be escaped."""
    def fix(m: re.Match[str]) -> str:
        char = chr(int(m.group(1), 16))
        return char if char in _UNRESERVED else "%" + m.group(1).upper()

    return quote(_ESCAPE.sub(fix, text), safe=safe)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: `/a/b/../c/./d` becomes `/a/c/d`; never climbs above the root."""
    if "." not in path:
        return path
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/".join(out)


def host_of(url: str) -> str:
    """The host of a normalised URL (no port, no brackets for IPv6)."""
    return urlsplit(url).hostname or ""


def site_of(url: str) -> str:
    """The site a normalised URL belongs to: its host, plus the port when that is not the default
    for the scheme. http and https of one host are one site (sites move to https by redirect)."""
    return urlsplit(url).netloc


def origin_of(url: str) -> str:
    """scheme://host[:port] of a normalised URL: what robots.txt applies to (RFC 9309)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def path_and_query(url: str) -> str:
    """The request target of a normalised URL: path plus `?query` when there is one."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def domain_matches(host: str, domain: str) -> bool:
    """True when `host` is `domain` or one of its subdomains (`a.example.org` matches `example.org`)."""
    return host == domain or host.endswith("." + domain)


def clean_domain(domain: str) -> str:
    """An `--allow-domain` value as a bare lower-case host: a pasted URL or a leading dot is accepted."""
    domain = domain.strip()
    if "://" in domain:
        domain = urlsplit(domain).hostname or ""
    return domain.strip(".").lower()
