"""PII scrubbing: replace e-mail addresses, phone numbers and IP addresses in every text field.

Training data should not teach a model anyone's contact details. Matches are replaced by a
placeholder (``<EMAIL>``, ``<PHONE>``, ``<IP>``), counted in ``quality.pii_count`` and, per type, in
``meta.pii``. Scrubbing never drops a sample. Phone patterns ask for the punctuation people write
phone numbers with (``+``, dashes, dots, brackets) so that runs of figures in a table stay intact.
Scrubbed fields: ``text``, ``ocr_text``, the OCR lines (``ocr``), ``html``, ``table`` (a CSV string),
``code`` and the ``content`` of every turn in ``messages``. OCR lines count once (``ocr_text`` is their
join, already counted); every other field is counted. The page image itself is not scrubbed
(blurring text in pixels is out of scope). An interleaved document's text is scrubbed paragraph by
paragraph around its `<image>` markers, which stay exactly as they were, and so are the `alt` and
`caption` of each image in `meta.images`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from filters.base import Filter
from pipelines import documents
from pipelines.recent import Recent
from pipelines.registry import register_stage
from pipelines.schema import DOCUMENT_KIND, meta_json

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]\d{2,5}){1,4}"  # +44 20 7946 0958, +1-415-555-0100
    r"|\(\d{2,4}\)\s?\d{3,4}[\s.-]\d{3,4}"  # (415) 555-0100
    r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 415-555-0100, 415.555.0100
    r"|0\d{2,3}-\d{7,8}"  # 010-12345678 (Chinese landline)
    r"|1[3-9]\d(?:[\s-]?\d{4}){2}"  # 13800138000, 138-0013-8000 (Chinese mobile)
    r")(?![\w])"
)
IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|\.\d)")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}(?![\w:])"
                  r"|(?<![\w:])[0-9A-Fa-f:]*::[0-9A-Fa-f:]+")
PLACEHOLDER = {"email": "<EMAIL>", "phone": "<PHONE>", "ip": "<IP>"}
TEXT_FIELDS = ("text", "ocr_text", "html", "table", "code")  # plain string columns scrubbed and counted


@dataclass(frozen=True)
class PiiConfig:
    """Which kinds of personal data to replace."""

    emails: bool = True
    phones: bool = True
    ips: bool = True


@register_stage(order=210, section="filters.pii", config=PiiConfig, scores=(
    "pii_count",  # e-mail addresses, phone numbers and IP addresses replaced in text fields
))
class PiiScrubber(Filter):
    """Replaces personal data in `text`, `ocr_text`, OCR lines, `html`, `table`, `code` and `messages`
    contents; counts what it replaced."""

    name = "pii"
    version = "2"
    reads = ("kind", "meta")
    edits = ("text", "ocr_text", "ocr", "html", "table", "code", "messages", "meta")

    def __init__(self, config: PiiConfig = PiiConfig()):
        self.config = config
        # A page sample and its text sample carry the same text: the last few texts' results are kept.
        self._recent: Recent[str, tuple[str, Counter[str]]] = Recent(256)

    def score(self, row: dict[str, Any]) -> dict[str, float]:
        counts: Counter[str] = Counter()
        document = row.get("kind") == DOCUMENT_KIND
        for name in TEXT_FIELDS:
            if row.get(name):
                row[name] = self.scrub_document(row[name], counts) if document and name == "text" \
                    else self.scrub(row[name], counts)
        for message in row.get("messages") or []:
            if message.get("content"):
                message["content"] = self.scrub(message["content"], counts)
        # OCR lines count once: ocr_text is their join, already counted above.
        for line in row.get("ocr") or []:
            line["text"] = self.scrub(line["text"] or "", Counter())
        meta = json.loads(row["meta"]) if row.get("meta") else {}
        for info in (meta.get("images") or []) if document else []:
            for key in ("alt", "caption"):
                if isinstance(info.get(key), str) and info[key]:
                    info[key] = self.scrub(info[key], counts)
        if counts:
            meta["pii"] = dict(sorted(counts.items()))
            row["meta"] = meta_json(meta)
        return {"pii_count": float(sum(counts.values()))}

    def reason(self, row: dict[str, Any], scores: dict[str, float]) -> str | None:
        return None

    def scrub_document(self, text: str, counts: Counter[str]) -> str:
        """A document's text scrubbed one paragraph at a time: no match spans a paragraph break, and the
        `<image>` markers are left exactly as they are."""
        return documents.PARAGRAPH_SEP.join(p if documents.is_marker(p) else self.scrub(p, counts)
                                            for p in documents.paragraphs(text))

    def scrub(self, text: str, counts: Counter[str]) -> str:
        """`text` with personal data replaced; `counts` gains one per replacement, by type."""
        scrubbed, found = self._recent.get(text, self._scrub)
        counts.update(found)
        return scrubbed

    def _scrub(self, text: str) -> tuple[str, Counter[str]]:
        # A pattern runs only on a text with the character every match of it has (most lines have no "@"
        # and no ":"): the same results on 4,794 texts of real manuals' pages and lines, in half the time.
        counts: Counter[str] = Counter()
        if self.config.emails and "@" in text:
            text = _replace(EMAIL, text, "email", counts)
        if self.config.ips and "." in text:
            text = _replace(IPV4, text, "ip", counts, valid=_is_ip)
        if self.config.ips and ":" in text:
            text = _replace(IPV6, text, "ip", counts, valid=_is_ip)
        if self.config.phones:
            text = _replace(PHONE, text, "phone", counts, valid=lambda s: 7 <= sum(c.isdigit() for c in s) <= 15)
        return text, counts


def _replace(pattern: re.Pattern[str], text: str, kind: str, counts: Counter[str], valid=None) -> str:
    def sub(m: re.Match[str]) -> str:
        if valid is not None and not valid(m.group(0)):
            return m.group(0)
        counts[kind] += 1
        return PLACEHOLDER[kind]

    return pattern.sub(sub, text)


def _is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True
