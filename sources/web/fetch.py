"""One HTTP GET with hard limits, and the redirect walk; every failure becomes a typed FetchError.

Built on `http.client` rather than requests because the crawler needs three things a general
client hides: the connection goes to the address the policy checked (`netguard.resolve`), the
whole request (connect, headers, body) is bounded by one deadline even when a server trickles a
byte at a time (a watchdog shuts the socket down when it passes), and the body is read only when
the caller wants it and only up to `max_bytes` (Content-Length is checked first; a body without one
is cut as soon as it grows past the limit). gzip and deflate bodies are decoded with the same bound
on their decoded size. Redirects are followed by `follow`, hop by hop, so that each hop passes the
caller's checks (scope, robots.txt, politeness) and the address policy.
"""

from __future__ import annotations

import codecs
import contextlib
import http.client
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sources.web.netguard import AddressRefused, SockAddr, resolve
from sources.web.urls import DEFAULT_PORTS, normalize_url, path_and_query

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
_TLS = ssl.create_default_context()
_CHUNK = 64 * 1024


class FetchError(Exception):
    """A request that produced no usable response. `error_type` is the errors.parquet category
    (Timeout, ConnectionFailed, TooLarge, PrivateAddress, RedirectLoop, ...), `message` one line
    for a person, `url` the URL it happened at (a redirect hop may differ from the one asked for)."""

    def __init__(self, error_type: str, message: str, url: str | None = None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.url = url


@dataclass(frozen=True)
class Response:
    """Status, headers (lower-case names) and, when the caller wanted it, the body of one response."""

    url: str
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes | None = None

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-case ("" when the server sent none)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        """The charset parameter of Content-Type, if any."""
        m = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", self.headers.get("content-type", ""), re.I)
        return m.group(1) if m else None


WantBody = Callable[[int, str], bool]  # (status, content type) -> read the body?


def request(url: str, *, user_agent: str, timeout: float, max_bytes: int, allow_private: bool,
            want_body: WantBody, truncate: bool = False) -> Response:
    """GET a normalised http(s) URL within `timeout` seconds in total. The body is read when
    `want_body(status, content_type)` says so; past `max_bytes` it raises TooLarge (or, with
    `truncate`, keeps the first `max_bytes`). No redirect is followed here."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise FetchError("UnsupportedScheme", f"{parts.scheme or 'no'} scheme: only http and https are crawled", url)
    host = parts.hostname or ""
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    deadline = time.monotonic() + timeout
    try:
        addrs = resolve(host, port, allow_private)
    except AddressRefused as e:
        raise FetchError("PrivateAddress", str(e), url) from None
    except (OSError, UnicodeError) as e:
        raise FetchError("ConnectionFailed", f"cannot resolve {host}: {_reason(e)}", url) from None
    watchdog: _Watchdog | None = None
    conn: http.client.HTTPConnection | None = None
    try:
        sock = _connect(addrs, deadline)
        watchdog = _Watchdog(sock, deadline)
        if parts.scheme == "https":
            sock = watchdog.sock = _TLS.wrap_socket(sock, server_hostname=host)
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=_TLS)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.sock = sock  # already connected to a checked address: http.client must not resolve again
        conn.putrequest("GET", path_and_query(url), skip_accept_encoding=True)
        for name, value in (("User-Agent", user_agent), ("Accept", _ACCEPT),
                            ("Accept-Encoding", "gzip, deflate"), ("Connection", "close")):
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        headers: dict[str, str] = {}
        for name, value in resp.getheaders():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        response = Response(url, resp.status, resp.reason or "", headers)
        if want_body(resp.status, response.content_type):
            body = _read_body(resp, headers, max_bytes, truncate, watchdog)
            response = Response(url, resp.status, resp.reason or "", headers, body)
        return response
    except FetchError:
        raise
    except Exception as e:  # every socket, TLS and protocol failure; past the deadline they all mean Timeout
        if (watchdog and watchdog.fired) or time.monotonic() >= deadline or isinstance(e, TimeoutError):
            raise FetchError("Timeout", f"no complete response within {timeout:g} s", url) from None
        if isinstance(e, ssl.SSLError):
            raise FetchError("ConnectionFailed", f"TLS failed: {_reason(e)}", url) from None
        if isinstance(e, http.client.HTTPException):
            raise FetchError("BadResponse", f"malformed HTTP response: {_reason(e)}", url) from None
        raise FetchError("ConnectionFailed", _reason(e), url) from None
    finally:
        if watchdog:
            watchdog.cancel()
        if conn:
            conn.close()


def follow(url: str, fetch_one: Callable[[str], Response], *, max_redirects: int,
           before: Callable[[str, int], None]) -> tuple[Response, tuple[str, ...]]:
    """Fetch `url`, following redirects: `before(url, hop)` runs ahead of every request (it may
    raise FetchError to refuse the hop). Returns the final response and the URLs that led to it.
    A URL met twice is a RedirectLoop; more than `max_redirects` hops is TooManyRedirects."""
    chain = [url]
    while True:
        before(url, len(chain) - 1)
        resp = fetch_one(url)
        location = resp.headers.get("location")
        if resp.status not in REDIRECT_STATUSES or not location:
            return resp, tuple(chain[:-1])
        target = normalize_url(location, url)
        if target is None:
            scheme = location.split(":", 1)[0].lower() if ":" in location else ""
            if scheme and scheme.isalpha() and scheme not in DEFAULT_PORTS:
                raise FetchError("UnsupportedScheme", f"redirect to a {scheme}: URL ({location[:200]})", url)
            raise FetchError("BadResponse", f"unusable redirect Location {location[:200]!r}", url)
        if target in chain:
            raise FetchError("RedirectLoop", "redirect loop: " + " -> ".join([*chain[chain.index(target):], target]),
                             chain[0])
        if len(chain) > max_redirects:
            raise FetchError("TooManyRedirects", f"more than {max_redirects} redirects: "
                             + " -> ".join([*chain, target]), chain[0])
        chain.append(target)
        url = target


def decode_html(body: bytes, header_charset: str | None) -> str:
    """Text of an HTML body: a byte-order mark wins, then the header's charset, then a `<meta>`
    charset in the first 4 KiB, then UTF-8; undecodable bytes become U+FFFD."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):
        if body.startswith(bom):
            return body[len(bom):].decode(encoding, "replace")
    meta = re.search(rb"<meta[^>]{0,300}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", body[:4096], re.I)
    for candidate in (header_charset, meta.group(1).decode("ascii") if meta else None):
        if encoding := _codec(candidate):
            return body.decode(encoding, "replace")
    return body.decode("utf-8", "replace")


def _codec(label: str | None) -> str | None:
    """A Python codec for a charset label, with the WHATWG substitutions browsers make."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip()).name
    except LookupError:
        return None
    # Browsers read latin-1 and ASCII labels as windows-1252, and a UTF-16 <meta> as UTF-8.
    return {"latin-1": "cp1252", "iso8859-1": "cp1252", "ascii": "cp1252", "utf-16": "utf-8"}.get(name, name)


def looks_like_html(body: bytes) -> bool:
    """Sniff a body sent without Content-Type: markup near the start that only HTML has."""
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or any(t in head for t in (b"<html", b"<head", b"<body"))


class _Watchdog:
    """Shuts the socket down when the deadline passes, waking a read blocked on a trickling server."""

    def __init__(self, sock: socket.socket, deadline: float):
        self.fired = False
        self.sock = sock  # replaced by the TLS socket once the handshake is done
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)  # the plain socket call, also under TLS

    def cancel(self) -> None:
        self._timer.cancel()


def _connect(addrs: list[SockAddr], deadline: float) -> socket.socket:
    """A TCP connection to the first checked address that answers before the deadline."""
    error: OSError = OSError("no address")
    for family, sockaddr in addrs:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("connect timed out")
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(remaining)
            sock.connect(sockaddr)
            return sock
        except OSError as e:
            sock.close()
            error = e
    raise error


def _read_body(resp: http.client.HTTPResponse, headers: dict[str, str], max_bytes: int, truncate: bool,
               watchdog: _Watchdog) -> bytes:
    """The (decoded) body, never more than `max_bytes` of it in memory or on the wire."""
    try:
        length = int(headers.get("content-length", "-1"))
    except ValueError:
        length = -1
    if length > max_bytes and not truncate:
        raise FetchError("TooLarge", f"Content-Length {length:,} bytes is over the {max_bytes:,}-byte limit")
    decoder = _decoder(headers.get("content-encoding", "identity"))
    out = bytearray()
    received = 0
    while not watchdog.fired:
        chunk = resp.read1(_CHUNK)
        if not chunk:
            break
        received += len(chunk)
        out += decoder.decompress(chunk, max_bytes - len(out) + 1) if decoder else chunk
        if len(out) > max_bytes or received > max_bytes:
            if truncate:
                return bytes(out[:max_bytes])
            raise FetchError("TooLarge", f"body is over the {max_bytes:,}-byte limit (stopped reading)")
    if watchdog.fired:
        raise TimeoutError("deadline passed while reading the body")
    if decoder:
        out += decoder.flush()
        if len(out) > max_bytes:
            if truncate:
                return bytes(out[:max_bytes])
            raise FetchError("TooLarge", f"body is over the {max_bytes:,}-byte limit (stopped reading)")
    return bytes(out)


def _decoder(encoding: str) -> zlib._Decompress | None:
    """A bounded decompressor for the Content-Encoding (None for identity)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # accepts both gzip and zlib headers
    raise FetchError("BadResponse", f"unsupported Content-Encoding {encoding!r}")


def _reason(e: BaseException) -> str:
    """A short human reason for a low-level error."""
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(e, socket.gaierror):
        return e.strerror or str(e)
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return text.splitlines()[0][:200]
