"""Sites the web tests serve on 127.0.0.1: each path answers with a scripted reply, every request is logged."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Reply:
    """What the server sends for one path: status, body, content type, extra headers, a delay first."""

    body: bytes | str = b""
    status: int = 200
    ctype: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def page(title: str, body: str, links: tuple[str, ...] = (), head: str = "") -> Reply:
    """A small HTML page with a title, a paragraph of text and links."""
    anchors = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return Reply(f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>{head}</head>"
                 f"<body><main><h1>{title}</h1><p>{body}</p><ul>{anchors}</ul></main></body></html>")


Route = Reply | Callable[[str], Reply | None]


class Site:
    """A threaded HTTP server on 127.0.0.1 answering `routes` (path with query -> Reply, or a function
    of the path that returns one); anything else is a 404. `log` holds (monotonic time, path, user agent)."""

    def __init__(self, routes: dict[str, Route], fallback: Callable[[str], Reply | None] | None = None):
        self.routes, self.fallback = routes, fallback
        self.log: list[tuple[float, str, str]] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                site.log.append((time.monotonic(), self.path, self.headers.get("User-Agent", "")))
                reply = site.reply(self.path)
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body.encode() if isinstance(reply.body, str) else reply.body
                try:
                    self.send_response(reply.status)
                    if reply.ctype:
                        self.send_header("Content-Type", reply.ctype)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def reply(self, path: str) -> Reply:
        route = self.routes.get(path)
        if callable(route):
            route = route(path)
        if route is None and self.fallback:
            route = self.fallback(path)
        return route or Reply("<html><body>not found</body></html>", status=404)

    def paths(self) -> list[str]:
        return [p for _, p, _ in self.log]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Site:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
