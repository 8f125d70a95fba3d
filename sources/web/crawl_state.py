"""A crawl's journal on disk, so that a rerun of a web build resumes its crawl instead of redoing it.

Why it exists: a web build crawls on the driver while it plans, and the plan (one unit per page,
carrying the page's HTML; sample ids hash that HTML) is all a resumed run has to match its
committed shards against. Crawling again on every rerun would be slow and impolite, and a page that
changed meanwhile would get new sample ids, so a unit cut off mid-commit could be written twice.
The runner therefore gives the source a `state_dir` inside the output folder, and the crawl keeps
its outcomes there.

What is kept, under `state_dir/crawl-<hash of the settings>/`:

- `settings.json`: the seeds, the crawl settings and the limit the state belongs to. Other
  settings get another folder (a mix may plan one source twice with two limits); a folder whose
  `settings.json` is missing or different is wiped and started over.
- `journal.jsonl`: one JSON line per URL taken off a site's frontier, appended (flushed and fsynced)
  by the site's thread as soon as its outcome is known: a page (final URL, HTML, redirects), an
  error, a duplicate reached through a redirect, or the site's time limit. Each line also holds
  what the crawler's bookkeeping took from the fetch (bytes counted, hosts a seed's redirect added,
  URLs marked seen, the site's elapsed time), and the URL's depth and seed. A line torn by a kill is
  cut off when the journal is opened, as if never written (as `pipelines/shards.py` does).
- `finished.json`: written when every site's crawl ended by itself.

The frontier (queued URLs with their depth and seed, and the set of URLs seen) is not stored: it
is re-derived. A resumed crawl runs the crawler again from the seeds, but every URL the journal
already answers is answered from it, with no request; the links of a journaled page are extracted
from its stored HTML, so the frontier, the seen set, the page and byte counts and the link traps
come out exactly as they were, and the crawl goes on over the network from the first URL the
journal lacks. Because only the journal is written, and a URL's line is written before any of its
links can be fetched, the state is consistent whenever the process is killed. A finished crawl is
replayed entirely from the journal, without any network traffic (robots.txt included).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipelines import journal

FORMAT = 1
SETTINGS = "settings.json"
JOURNAL = "journal.jsonl"
FINISHED = "finished.json"


def crawl_settings(seeds: Sequence[str], cfg: Any, limit: int | None) -> dict[str, Any]:
    """What a crawl's outcome depends on: the seeds, the crawl config (a dataclass) and the limit."""
    return {"format": FORMAT, "seeds": list(seeds), "crawl": json.loads(json.dumps(dataclasses.asdict(cfg))),
            "limit": limit}


class CrawlJournal:
    """The persisted outcomes of one crawl (see the module docstring). Site threads call `append`
    concurrently; `replay(site)` gives a site's journaled outcomes by the URL taken off its frontier."""

    def __init__(self, folder: Path, settings: dict[str, Any]):
        self.folder = Path(folder)
        self.settings = settings
        self._lock = threading.Lock()
        self._by_site: dict[str, dict[str, dict[str, Any]]] = {}
        self.records = 0
        known = journal.read_json(self.folder / SETTINGS)
        if known != settings:  # none yet, torn, or another crawl's: start over
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True)
            journal.write_json(self.folder / SETTINGS, settings)
        for record in read_journal(self.folder / JOURNAL):
            self._by_site.setdefault(record["site"], {})[record["at"]] = record
            self.records += 1
        self.finished = (self.folder / FINISHED).is_file()
        self._file = (self.folder / JOURNAL).open("ab")

    @classmethod
    def open(cls, state_dir: str | Path, seeds: Sequence[str], cfg: Any, limit: int | None = None) -> CrawlJournal:
        """The journal of the crawl with these settings under `state_dir`, created if there is none."""
        settings = crawl_settings(seeds, cfg, limit)
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        return cls(Path(state_dir) / f"crawl-{digest}", settings)

    def replay(self, site: str) -> dict[str, dict[str, Any]]:
        """The journaled outcomes of `site` (its key: the seeds' host and port), by URL taken off the frontier."""
        return dict(self._by_site.get(site, {}))

    def append(self, record: dict[str, Any]) -> None:
        """Write one outcome durably (flushed and fsynced) before the crawler acts on it."""
        with self._lock:
            journal.append(self._file, record)
            self.records += 1

    def finish(self) -> None:
        """Mark the crawl complete: later plans replay it without touching the network."""
        if not self.finished:
            journal.write_json(self.folder / FINISHED, {"records": self.records})
            self.finished = True

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CrawlJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The crawl journal's records (a torn or foreign last line is cut off the file)."""
    return journal.read(path, lambda r: isinstance(r, dict) and "site" in r and "at" in r)
