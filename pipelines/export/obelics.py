"""`--format obelics`: interleaved documents as OBELICS rows, aligned `texts` and `images` lists.

    DIR/part-00000.jsonl    {"id", "texts": [...], "images": [...], "metadata": "[...]", "general_metadata": "{...}"}
    DIR/images/00000/...    the images, <id>-<i>.<ext>

As in OBELICS (HuggingFaceM4/OBELICS), position i of the document is text or image: exactly one of
`texts[i]` and `images[i]` is null. Consecutive paragraphs are one text entry (joined by a blank line);
an image entry is the image file's path relative to DIR. `metadata` (a JSON string, as OBELICS
stores it) holds per position the image's record from `meta.images` (caption, alt, url or page and
box, size) or null; `general_metadata` (a JSON string) the document's id, source, uri, title, lang,
tags. Joining the entries with a blank line, an image as `<image>`, gives back the sample's `text`.
Documents (`kind = document`) are exported unless --kinds names others: an image-caption sample
then becomes a two-entry document, its image then its text.
"""

from __future__ import annotations

from typing import Any

from pipelines.documents import PARAGRAPH_SEP, is_marker, paragraphs
from pipelines.export.common import Format, ImageFiles, clear, dumps, meta_of, replace, row_images
from pipelines.schema import DOCUMENT_KIND


def interleave(row: dict[str, Any], paths: list[str]) -> tuple[list[str | None], list[str | None], list[Any]]:
    """The row as aligned (texts, images, per-position image records)."""
    texts: list[str | None] = []
    images: list[str | None] = []
    records: list[Any] = []
    meta = meta_of(row)
    infos = (meta.get("images") if isinstance(meta, dict) else None) or []
    if row.get("kind") != DOCUMENT_KIND:  # an image and its text
        for p in paths:
            texts.append(None), images.append(p), records.append(None)
        if row.get("text"):
            texts.append(row["text"]), images.append(None), records.append(None)
        return texts, images, records
    k = 0
    run: list[str] = []
    for p in paragraphs(row.get("text")):
        if not is_marker(p):
            run.append(p)
            continue
        if run:
            texts.append(PARAGRAPH_SEP.join(run)), images.append(None), records.append(None)
            run = []
        if k < len(paths):  # `pipelines.documents` keeps markers and images in step; never an empty position
            texts.append(None), images.append(paths[k]), records.append(infos[k] if k < len(infos) else None)
        k += 1
    if run:
        texts.append(PARAGRAPH_SEP.join(run)), images.append(None), records.append(None)
    return texts, images, records


class Obelics(Format):
    name = "obelics"
    light = ("kind", "tags", "text", "width")  # `width` says there is an image without reading it
    default_kinds = (DOCUMENT_KIND,)
    requirement = "text or an image"

    def accepts(self, row: dict[str, Any]) -> bool:
        return bool(row.get("text")) or row.get("width") is not None

    def begin(self, k: int) -> None:
        self.final = self.root / f"part-{k:05d}.jsonl"
        self.tmp = self.final.with_name(self.final.name + ".tmp")
        clear(self.tmp)
        self.images = ImageFiles(self.root, k)
        self.file = self.tmp.open("w", encoding="utf-8")

    def add(self, row: dict[str, Any]) -> None:
        paths = [self.images.write(row["id"], d, i) for i, d in enumerate(row_images(row))]
        texts, images, records = interleave(row, paths)
        meta = meta_of(row)
        general = {"id": row["id"], "source": row.get("source"), "kind": row.get("kind"), "uri": row.get("uri"),
                   "locator": row.get("locator"), "lang": row.get("lang"), "tags": row.get("tags"),
                   "title": meta.get("title") if isinstance(meta, dict) else None}
        self.file.write(dumps({"id": row["id"], "texts": texts, "images": images, "metadata": dumps(records),
                               "general_metadata": dumps(general)}) + "\n")

    def end(self) -> dict[str, Any]:
        self.file.close()
        size = replace(self.tmp, self.final)
        return {"name": self.final.name, "images": self.images.count, "bytes": size + self.images.bytes}
