"""robots.txt as RFC 9309 defines it, plus the Crawl-delay extension, fetched once per origin.

urllib.robotparser is not used: it applies the first matching rule instead of the longest, and it
reads `*` and `$` literally, so `Disallow: /*?session=` would let every such URL through.

Rules: the groups naming our product token (the user agent up to its first `/`, matched without
regard to case) are merged; when none does, the `*` groups are; with neither, everything is
allowed. Among the rules matching a URL's path and query, the longest pattern wins and Allow wins a
tie. `*` matches any run of characters, a final `$` anchors the end. `/robots.txt` is always allowed.

Fetch outcomes (RFC 9309 section 2.3.1, the rules Google follows too):
- 2xx: the first 500 KiB are parsed;
- redirects are followed up to 5 hops; more, or a loop, counts as unavailable;
- 4xx other than 429 (robots.txt "unavailable"): everything is allowed;
- 429 and 5xx ("unreachable"): everything is disallowed for this crawl;
- a network failure (timeout, refused connection, refused private address) is remembered and
  reported for every URL of that origin, which is then not crawled.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sources.web.fetch import FetchError, Response
from sources.web.urls import QUERY_SAFE, normalize_escapes

MAX_ROBOTS_BYTES = 500 * 1024
_AGENT_KEYS = {"user-agent", "useragent", "user agent"}


@dataclass(frozen=True)
class Rule:
    """One Allow or Disallow line, compiled."""

    allow: bool
    pattern: str
    regex: re.Pattern[str]


@dataclass(frozen=True)
class RobotsRules:
    """What robots.txt lets us fetch on one origin, and how slowly. `note` explains a blanket verdict."""

    rules: tuple[Rule, ...] = ()
    crawl_delay: float | None = None
    allow_all: bool = True
    note: str = ""

    def allows(self, target: str) -> bool:
        """May we fetch this request target (path plus `?query`)?"""
        if target == "/robots.txt":
            return True
        if not self.rules:
            return self.allow_all
        best: Rule | None = None
        for rule in self.rules:
            if rule.regex.match(target) and (best is None or len(rule.pattern) > len(best.pattern)
                                             or (len(rule.pattern) == len(best.pattern) and rule.allow)):
                best = rule
        return True if best is None else best.allow


ALLOW_ALL = RobotsRules()


def disallow_all(note: str) -> RobotsRules:
    """The verdict for an unreachable robots.txt."""
    return RobotsRules(allow_all=False, note=note)


@dataclass
class _Group:
    agents: list[str] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)


def parse_robots(text: str, agent: str) -> RobotsRules:
    """The rules of `text` that apply to the product token `agent` (e.g. "vlforge-crawler")."""
    groups: list[_Group] = []
    group: _Group | None = None
    in_agents = False
    for raw in text[:MAX_ROBOTS_BYTES].splitlines():
        key, sep, value = raw.split("#", 1)[0].partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key in _AGENT_KEYS:
            if group is None or not in_agents:
                group = _Group()
                groups.append(group)
            group.agents.append(value.split("/")[0].strip().lower())
            in_agents = True
        elif key in ("allow", "disallow", "crawl-delay"):
            in_agents = False
            if group is None:
                continue  # rules before any user-agent line belong to no group
            if key == "crawl-delay":
                try:
                    delay = float(value)
                except ValueError:
                    continue
                if delay >= 0:
                    group.delays.append(delay)
            elif value:  # an empty Disallow allows everything: no rule
                group.rules.append(_compile(key == "allow", value))
    agent = agent.lower()
    chosen = [g for g in groups if agent in g.agents] or [g for g in groups if "*" in g.agents]
    delays = [d for g in chosen for d in g.delays]
    return RobotsRules(tuple(r for g in chosen for r in g.rules), max(delays) if delays else None)


def _compile(allow: bool, pattern: str) -> Rule:
    """A rule whose pattern matches request targets spelled like `urls.normalize_url` spells them."""
    if not pattern.startswith(("/", "*")):
        pattern = "/" + pattern
    pattern = normalize_escapes(pattern, QUERY_SAFE)
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = ".*".join(re.escape(part) for part in body.split("*")) + (r"\Z" if anchored else "")
    return Rule(allow, pattern, re.compile(regex, re.S))


class RobotsCache:
    """robots.txt per origin for a whole crawl: fetched once, shared by the site threads.

    `fetch(robots_url)` performs the request (with redirects and politeness) and returns the final
    response, or raises FetchError. A FetchError is remembered and raised again for that origin."""

    def __init__(self, agent: str):
        self.agent = agent
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._verdicts: dict[str, RobotsRules | FetchError] = {}

    def rules(self, origin: str, fetch: Callable[[str], Response]) -> RobotsRules:
        """The rules for `origin` (scheme://host[:port]), fetching robots.txt on first use."""
        with self._lock:
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:
            if origin not in self._verdicts:
                self._verdicts[origin] = self._fetch(origin, fetch)
        verdict = self._verdicts[origin]
        if isinstance(verdict, FetchError):
            raise verdict
        return verdict

    def _fetch(self, origin: str, fetch: Callable[[str], Response]) -> RobotsRules | FetchError:
        try:
            resp = fetch(origin + "/robots.txt")
        except FetchError as e:
            if e.error_type in ("RedirectLoop", "TooManyRedirects"):
                return ALLOW_ALL
            return FetchError(e.error_type, f"robots.txt of {origin}: {e.message}; not crawling it")
        if 200 <= resp.status < 300:
            return parse_robots((resp.body or b"").decode("utf-8", "replace"), self.agent)
        if resp.status == 429 or resp.status >= 500:
            return disallow_all(f"robots.txt of {origin} answered HTTP {resp.status}; treating all of it as disallowed")
        return ALLOW_ALL
