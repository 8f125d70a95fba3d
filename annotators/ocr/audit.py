"""Audits of trusted text layers: OCR a small, fixed share of each document's pages and compare.

Under `ocr.policy = "auto"` a born-digital page takes its lines from its text layer and is not OCRed.
So that the image-text agreement filter and `quality.ocr_cer` still see the corpus, and so that a
layer that looks fine but says something else than the page shows (a wrong font encoding, an
invisible layer over a different scan) is caught, a deterministic share of each document's pages
(`ocr.audit_share`, by a hash of uri and page, at least one page with text per document) is OCRed
with the audit backend and scored. A document whose audited pages read back worse than
`ocr.audit_max_cer` is distrusted: every page of it goes to OCR.

The verdict is needed before any page of the document leaves the source, and a long document is
expanded in many units on many workers, so the first worker to need it computes it under a file
lock in the run's state folder and the others read it: once per document per run, and a resumed
run reuses it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotators.ocr.backend import OcrBackend, OcrConfig, make_backend, reading_order
from annotators.ocr.cer import cer
from filters.textkit import CJK_LETTER_RE

AUDIT_DIR = "ocr_audit"
CJK_PACKS = ("chi_", "jpn", "kor")  # Tesseract language packs of CJK scripts
MAX_SEARCH = 50  # pages tried, in hash order, to find one with text


@dataclass(frozen=True)
class Verdict:
    """What the audit of one document found: CER per audited page (0-based page numbers)."""

    backend: str
    max_cer: float
    pages: dict[int, float] = field(default_factory=dict)

    @property
    def trusted(self) -> bool:
        """The document's text layer reads back like its pages (or nothing could be audited)."""
        return not self.pages or float(np.mean(list(self.pages.values()))) <= self.max_cer


def page_rank(uri: str, page: int) -> float:
    """A page's place in [0, 1) in the audit order: the same on every run and every machine."""
    digest = hashlib.blake2b(f"{uri}#page={page + 1}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def audit_pages(uri: str, page_count: int, share: float, has_text: Callable[[int], bool]) -> list[int]:
    """The pages of a document to audit: those whose rank falls under `share`, and at least the
    first page in rank order that has text, in page order."""
    ranked = sorted(range(page_count), key=lambda n: page_rank(uri, n))
    chosen = {n for n in ranked if page_rank(uri, n) < share and has_text(n)}
    if not chosen:
        chosen.update(next(([n] for n in ranked[:MAX_SEARCH] if has_text(n)), []))
    return sorted(chosen)


class Auditor:
    """Computes (once per document per run) and caches audit verdicts; lives in a PDF source worker."""

    def __init__(self, settings: OcrConfig):
        self.settings = settings
        self.backend: OcrBackend | None = None  # reads every audited page
        self.latin: OcrBackend | None = None  # Tesseract without its CJK packs: pages with no CJK text
        self._cache: dict[str, Verdict] = {}

    def setup(self) -> None:
        name = self.settings.audit_backend or self.settings.backend
        self.backend = self._load(name, self.settings.languages)
        packs = self.settings.languages.split("+")
        latin = [p for p in packs if not p.startswith(CJK_PACKS)]
        if name == "tesseract" and latin and len(latin) < len(packs):
            # Each pack Tesseract loads is one more model over every line: eng alone reads a page 30% faster.
            self.latin = self._load(name, "+".join(latin))

    def _load(self, name: str, languages: str) -> OcrBackend:
        config = OcrConfig(backend=name, languages=languages, min_score=self.settings.min_score,
                           model_dir=self.settings.model_dir)
        backend = make_backend(config, threads=1)
        backend.load()
        return backend

    def verdict(self, uri: str, page_count: int, has_text: Callable[[int], bool],
                read_page: Callable[[int], tuple[str, np.ndarray]], state_dir: str | None) -> Verdict:
        """The document's verdict: from this process's cache, the run's state folder, or computed now.
        `read_page(n)` gives page n's text layer and its render (RGB)."""
        key = hashlib.blake2b(f"{uri}:{page_count}:{self.settings.audit_share}".encode(), digest_size=12).hexdigest()
        if key in self._cache:
            return self._cache[key]
        if state_dir is None:
            found = self._compute(uri, page_count, has_text, read_page)
        else:
            folder = Path(state_dir) / AUDIT_DIR
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / f"{key}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # another worker computing it: wait, then read its verdict
                path = folder / f"{key}.json"
                if path.exists():
                    saved = json.loads(path.read_text())
                    found = Verdict(saved["backend"], saved["max_cer"], {int(k): v for k, v in saved["pages"].items()})
                else:
                    found = self._compute(uri, page_count, has_text, read_page)
                    tmp = path.with_suffix(".tmp")
                    tmp.write_text(json.dumps({"uri": uri, "backend": found.backend, "max_cer": found.max_cer,
                                               "pages": found.pages}))
                    tmp.replace(path)
        self._cache[key] = found
        return found

    def _compute(self, uri: str, page_count: int, has_text: Callable[[int], bool],
                 read_page: Callable[[int], tuple[str, np.ndarray]]) -> Verdict:
        assert self.backend is not None, "Auditor.setup() must run first"
        pages = {}
        for n in audit_pages(uri, page_count, self.settings.audit_share, has_text):
            text, image = read_page(n)
            backend = self.backend if self.latin is None or CJK_LETTER_RE.search(text) else self.latin
            lines = reading_order(backend.read(image, upright=True))
            pages[n] = round(cer(text, "\n".join(line.text for line in lines)), 4)
        return Verdict(self.backend.version(), self.settings.audit_max_cer, pages)
