"""Find a Chromium for Playwright without downloading one.

Order: an explicit path (`--browser`), the `VLFORGE_BROWSER` environment variable, a browser
Playwright itself downloaded earlier (`playwright install chromium`), then Debian's
`/usr/bin/chromium` (which `scripts/setup.sh` installs). With none, `BrowserNotFound` says how to get one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DEBIAN_CHROMIUM = "/usr/bin/chromium"
ENV_VAR = "VLFORGE_BROWSER"
# Chromium flags for a headless worker: no sandbox (CI runs as root), no background traffic.
LAUNCH_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
               "--disable-default-apps", "--disable-sync", "--metrics-recording-only", "--no-first-run",
               "--disable-dev-shm-usage"]


class BrowserNotFound(RuntimeError):
    """No Chromium could be found; the message says how to install one."""


def find_browser(explicit: str | None = None) -> str:
    """The path of the Chromium to launch, by the order in the module docstring."""
    for candidate, origin in ((explicit, "--browser"), (os.environ.get(ENV_VAR), ENV_VAR)):
        if candidate:
            if not Path(candidate).is_file():
                raise BrowserNotFound(f"{origin} points at {candidate}, which does not exist")
            return candidate
    own = _playwright_chromium()
    if own:
        return own
    found = shutil.which("chromium") or (DEBIAN_CHROMIUM if Path(DEBIAN_CHROMIUM).is_file() else None)
    if found:
        return found
    raise BrowserNotFound("no Chromium found: run `apt-get install chromium` (scripts/setup.sh does), or "
                          f"`playwright install chromium`, or point {ENV_VAR} or --browser at one")


def _playwright_chromium() -> str | None:
    """Playwright's own downloaded Chromium, if `playwright install` was ever run (never downloads)."""
    root = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or Path.home() / ".cache" / "ms-playwright")
    for exe in sorted(root.glob("chromium-*/chrome-linux*/chrome"), reverse=True):
        if exe.is_file():
            return str(exe)
    return None
