"""Serve a folder over HTTP on 127.0.0.1: the bundled sample site, and the sites tests build.

`--source web` with no `--seed` crawls the sample site served this way, so the command shows the
whole web pipeline offline. The server binds loopback only and lives in a daemon thread of the
driver for as long as the run.
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

from pipelines.resources import package_path

SAMPLE_SITE = package_path("sources", "web", "site")
SAMPLE_PORT = 47631  # a fixed port keeps the sample site's URLs, and so its sample ids, the same across runs


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass


class SiteServer:
    """A static file server on 127.0.0.1 in a background thread; `url` is its root."""

    def __init__(self, root: Path = SAMPLE_SITE, port: int = 0):
        handler = functools.partial(_QuietHandler, directory=str(root))
        try:
            self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError:  # the preferred port is taken: any free one
            self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="vlforge-site", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


_sample: SiteServer | None = None


def sample_site() -> SiteServer:
    """The bundled sample site, started once per process."""
    global _sample
    if _sample is None:
        _sample = SiteServer(SAMPLE_SITE, SAMPLE_PORT)
    return _sample
