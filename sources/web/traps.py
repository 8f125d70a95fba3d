"""Link traps: URL spaces a site can generate without end (calendars, faceted search, relative-link
loops). Each kind is recognised by a bound, and every trap becomes one summary row, not one per URL.

- query explosion: more than `max_query_variants` distinct query strings on one host and path
  (`/cal?month=1`, `/cal?month=2`, ...);
- repeated segments: a path segment that occurs more than `max_segment_repeats` times
  (`/a/b/a/b/a/b/a/`, the signature of a relative link resolved over and over);
- overlong URLs: more than `max_url_length` characters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class _Trap:
    url: str
    context: tuple
    description: str
    skipped: int = 0


@dataclass
class TrapGuard:
    """Admits the links of one site until a pattern shows a trap; `reports()` summarises the traps."""

    max_query_variants: int = 20
    max_url_length: int = 2000
    max_segment_repeats: int = 3
    _queries: dict[str, set[str]] = field(default_factory=dict)
    _traps: dict[tuple, _Trap] = field(default_factory=dict)

    def admit(self, url: str, context: tuple = ()) -> bool:
        """True when `url` (normalised) may be crawled; False records it against its trap.
        `context` (e.g. seed and depth) is kept from a trap's first URL for its report."""
        parts = urlsplit(url)
        if len(url) > self.max_url_length:
            return self._skip(("length", parts.netloc), url[:300], context,
                              f"URLs longer than {self.max_url_length} characters")
        segments = Counter(s for s in parts.path.split("/") if s)
        repeated = next((s for s, n in segments.items() if n > self.max_segment_repeats), None)
        if repeated is not None:
            return self._skip(("repeat", parts.netloc, repeated), url, context,
                              f"paths repeating the segment {repeated!r} more than {self.max_segment_repeats} times")
        if parts.query:
            key = f"{parts.scheme}://{parts.netloc}{parts.path}"
            seen = self._queries.setdefault(key, set())
            if parts.query not in seen:
                if len(seen) >= self.max_query_variants:
                    return self._skip(("query", key), key, context,
                                      f"more than {self.max_query_variants} distinct query strings on {key}")
                seen.add(parts.query)
        return True

    def _skip(self, key: tuple, url: str, context: tuple, description: str) -> bool:
        trap = self._traps.setdefault(key, _Trap(url, context, description))
        trap.skipped += 1
        return False

    def reports(self) -> list[tuple[str, tuple, str]]:
        """(example URL, context of its first URL, message) per trap, in the order they were found."""
        return [(t.url, t.context, f"link trap: {t.description}; {t.skipped} link{'s' * (t.skipped != 1)} skipped")
                for t in self._traps.values()]
