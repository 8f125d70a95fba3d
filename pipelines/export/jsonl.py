"""`--format jsonl`: text-only rows for LLM text pipelines (DataTrove's and Dolma's readers take them).

    DIR/part-00000.jsonl    {"id", "text", "source", "kind", "lang", "uri", "locator", "tags", "meta"}

`text` is the sample's text; a document's without its `<image>` markers (its paragraphs joined by a
blank line); a sample with no `text` gives its OCR text. Text-only samples and documents are exported
unless --kinds names others (a page's text layer is also its own `text` sample, so taking both would
repeat it).
"""

from __future__ import annotations

from typing import Any

from pipelines.documents import plain_text
from pipelines.export.common import Format, clear, dumps, meta_of, replace
from pipelines.schema import DOCUMENT_KIND


def text_of(row: dict[str, Any]) -> str:
    """The text a row gives (as stored: a text pipeline does its own normalising); '' when it has none."""
    if row.get("kind") == DOCUMENT_KIND:
        return plain_text(row.get("text"))
    text = row.get("text") or ""
    return text if text.strip() else (row.get("ocr_text") or "")


class Jsonl(Format):
    name = "jsonl"
    light = ("kind", "tags", "text", "ocr_text")
    default_kinds = ("text", DOCUMENT_KIND)
    requirement = "text"

    def accepts(self, row: dict[str, Any]) -> bool:
        return bool(text_of(row).strip())

    def begin(self, k: int) -> None:
        self.final = self.root / f"part-{k:05d}.jsonl"
        self.tmp = self.final.with_name(self.final.name + ".tmp")
        clear(self.tmp)
        self.file = self.tmp.open("w", encoding="utf-8")

    def add(self, row: dict[str, Any]) -> None:
        record = {"id": row["id"], "text": text_of(row),
                  **{k: row.get(k) for k in ("source", "kind", "lang", "uri", "locator", "tags")},
                  "meta": meta_of(row)}
        self.file.write(dumps(record) + "\n")

    def end(self) -> dict[str, Any]:
        self.file.close()
        return {"name": self.final.name, "images": 0, "bytes": replace(self.tmp, self.final)}
