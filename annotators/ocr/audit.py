"""Audits of trusted text layers: OCR a small, fixed share of each document's pages and compare.

Under `ocr.policy = "auto"` a born-digital page takes its lines from its text layer and is not OCRed.
So that the image-text agreement filter and `quality.ocr_cer` still see the corpus, and so that a
layer that looks fine but says something else than the page shows (a wrong font encoding, an
invisible layer over a different scan) is caught, a deterministic share of each document's pages
(`ocr.audit_share`, by a hash of uri and page, at least one page with text per document) is OCRed
with the audit backend and scored. A document whose audited pages read back worse than
`ocr.audit_max_cer` is distrusted: every page of it goes to OCR.

An audited page is read line by line: up to `AUDIT_LINES` of its layer's lines, chosen by hash, each
cropped at the layer's own box and read as one line, against the layer's text for that line. That
is what an audit asks (does the layer say what the page shows, where it says it?) at about a quarter
of the cost of reading the whole page: on the 13 audited pages of six Debian manuals, 0.28 s a page
against 1.26 s with Tesseract, with the same CER to within 0.01 on 11 of them (a contents page read
0.03 instead of 0.18 without its leader lines; an index page is read whole). A layer over other
text (an invisible layer over a different scan) or in a wrong font encoding reads back as other
text either way. Lines made of dot leaders (contents and index pages: OCR reads leaders as
"0.0.6 c cece") and lines with fewer than `MIN_LINE_LETTERS` letters (page numbers) are never chosen; a
page with fewer than `MIN_AUDIT_LINES` lines left is read whole, as before.

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
from annotators.ocr.cer import cer, strip_leaders
from filters.textkit import CJK_LETTER_RE

AUDIT_DIR = "ocr_audit"
CJK_PACKS = ("chi_", "jpn", "kor")  # Tesseract language packs of CJK scripts
MAX_SEARCH = 50  # pages tried, in hash order, to find one with text
AUDIT_LINES = 12  # lines read per audited page
MIN_AUDIT_LINES = 6  # a page with fewer lines fit to audit is read whole
MIN_LINE_LETTERS = 4
LINE_PAD = 0.25  # of the line's height, at least 4 px, around each line's box: ascenders, descenders, a superscript

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in the render's pixels


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


def audit_lines(uri: str, page: int, lines: list[tuple[str, Box]]) -> list[tuple[str, Box]]:
    """The layer lines of a page an audit reads: up to `AUDIT_LINES` of those fit for it, by a hash of
    uri, page and line, in page order; none when fewer than `MIN_AUDIT_LINES` are fit."""
    fit = [i for i, (text, _) in enumerate(lines)
           if sum(c.isalpha() for c in text) >= MIN_LINE_LETTERS and strip_leaders(text) == text]
    if len(fit) < MIN_AUDIT_LINES:
        return []
    chosen = sorted(fit, key=lambda i: hashlib.blake2b(f"{uri}#page={page + 1}#line={i}".encode(),
                                                       digest_size=8).digest())[:AUDIT_LINES]
    return [lines[i] for i in sorted(chosen)]


def line_crop(image: np.ndarray, box: Box) -> np.ndarray:
    """The part of `image` around one line's box, padded by `LINE_PAD` of its height."""
    x0, y0, x1, y1 = box
    pad = max(4, int(LINE_PAD * (y1 - y0)))
    h, w = image.shape[:2]
    return np.ascontiguousarray(image[max(0, int(y0) - pad): min(h, int(y1) + pad + 1),
                                      max(0, int(x0) - pad): min(w, int(x1) + pad + 1)])


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
        self._backend: OcrBackend | None = None  # every pack asked for: pages with CJK text
        self.latin: OcrBackend | None = None  # Tesseract without its CJK packs: pages with no CJK text
        self._cache: dict[str, Verdict] = {}

    def setup(self, every_pack: bool = False) -> None:
        """Load the audit backend. Where Tesseract is asked for CJK packs too, a worker loads the latin packs
        alone and the full set only when a page with CJK text comes to audit (0.25 s a worker, which most
        corpora never need); `every_pack` loads both at once (the driver's preflight: a missing pack stops
        the run before any work)."""
        packs = self.settings.languages.split("+")
        latin = [p for p in packs if not p.startswith(CJK_PACKS)]
        self._backend = self.latin = None
        if self.name == "tesseract" and latin and len(latin) < len(packs):
            # Each pack Tesseract loads is one more model over every line: eng alone reads a page 30% faster.
            self.latin = self._load(self.name, "+".join(latin))
        if every_pack or self.latin is None:
            self._backend = self._load(self.name, self.settings.languages)

    @property
    def name(self) -> str:
        """The audit backend's name."""
        return self.settings.audit_backend or self.settings.backend

    @property
    def backend(self) -> OcrBackend:
        """The backend with every pack asked for, loaded on first use."""
        if self._backend is None:
            self._backend = self._load(self.name, self.settings.languages)
        return self._backend

    def _load(self, name: str, languages: str) -> OcrBackend:
        config = OcrConfig(backend=name, languages=languages, min_score=self.settings.min_score,
                           model_dir=self.settings.model_dir)
        backend = make_backend(config, threads=1)
        backend.load()
        return backend

    def verdict(self, uri: str, page_count: int, has_text: Callable[[int], bool],
                read_page: Callable[[int], tuple[str, np.ndarray, list[tuple[str, Box]]]],
                state_dir: str | None) -> Verdict:
        """The document's verdict: from this process's cache, the run's state folder, or computed now.
        `read_page(n)` gives page n's text layer, its render (RGB) and the layer's lines with their boxes
        in the render's pixels."""
        key = hashlib.blake2b(f"{uri}:{page_count}:{self.settings.audit_share}:lines".encode(),
                              digest_size=12).hexdigest()
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
                 read_page: Callable[[int], tuple[str, np.ndarray, list[tuple[str, Box]]]]) -> Verdict:
        assert self.latin is not None or self._backend is not None, "Auditor.setup() must run first"
        pages = {}
        for n in audit_pages(uri, page_count, self.settings.audit_share, has_text):
            text, image, layer = read_page(n)
            chosen = audit_lines(uri, n, layer)
            if chosen:
                said = "\n".join(line for line, _ in chosen)
                read = "\n".join(self._backend_for(line).read_line(line_crop(image, box)) for line, box in chosen)
            else:
                lines = reading_order(self._backend_for(text).read(image, upright=True))
                said, read = text, "\n".join(line.text for line in lines)
            pages[n] = round(cer(said, read), 4)
        return Verdict((self._backend or self.latin).version(), self.settings.audit_max_cer, pages)

    def _backend_for(self, text: str) -> OcrBackend:
        """Tesseract without its CJK packs for text with no CJK letter (30% faster), else the full backend."""
        return self.backend if self.latin is None or CJK_LETTER_RE.search(text) else self.latin
