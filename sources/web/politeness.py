"""Per-host politeness: requests to one host start at least `delay` seconds apart, across threads."""

from __future__ import annotations

import threading
import time


class HostGate:
    """Hands out request slots per host. A slot is reserved under a lock before sleeping, so two
    site threads that share a host (a seed and an allowed domain, say) still keep the spacing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def wait(self, host: str, delay: float, *, until: float, stop: threading.Event) -> bool:
        """Sleep until `host` may be asked again, then claim the slot. False (without a request
        slot) when that moment is later than `until` (monotonic time) or `stop` is set meanwhile."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(host, 0.0))
            if start > until:
                return False
            self._next[host] = start + delay
        return not stop.wait(start - now) if start > now else not stop.is_set()

    def hold_off(self, host: str, seconds: float) -> None:
        """Keep away from `host` for `seconds` (a 429 or 503 with Retry-After)."""
        with self._lock:
            self._next[host] = max(self._next.get(host, 0.0), time.monotonic() + seconds)
