"""`--format llava`: the JSON list of conversations and the image files that LLaVA-style trainers read.

    DIR/llava.json          [{"id", "image": "images/00000/<id>.png", "conversations": [{"from", "value"}]}]
    DIR/images/00000/...    the images, named after the sample ids (a document's: <id>-<i>.<ext>)

Train with `--data_path DIR/llava.json --image_folder DIR`. Conversations come from `messages` (user
-> human, assistant -> gpt). LLaVA's convention is one `<image>` placeholder per image in the human
turns, in order; vlforge's messages already open with it, and the export makes the count exact
(a missing one goes first in the first human turn, a surplus or one in a gpt turn is written
`<image >`, the way `pipelines/documents.py` defuses a literal marker). A multi-image document gives
`"image": [...]`; one without messages becomes one exchange, its text up to its last image (each image
a placeholder where it stands) from the human and the rest from gpt. A sample without an image gives
a text-only entry (no "image" key), as LLaVA's mixtures hold.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pipelines.documents import IMAGE_MARKER, PARAGRAPH_SEP, defuse, is_marker, paragraphs
from pipelines.export.common import Format, ImageFiles, clear, replace, row_images
from pipelines.schema import DOCUMENT_KIND

ROLES = {"user": "human", "assistant": "gpt", "system": "system"}
_PLACEHOLDER = re.compile(re.escape(IMAGE_MARKER))
PARTS = ".parts"  # one JSON list per finished shard; merged into llava.json when the last one is done


def document_turns(text: str | None) -> list[dict[str, str]] | None:
    """A document without messages as one exchange: up to its last image from the human, the rest from gpt
    (None without images, a text for `--format jsonl`, or when no text follows its last image)."""
    paras = paragraphs(text)
    last = max((i for i, p in enumerate(paras) if is_marker(p)), default=-1)
    human, answer = PARAGRAPH_SEP.join(paras[:last + 1]), PARAGRAPH_SEP.join(paras[last + 1:]).strip()
    if last < 0 or not answer:
        return None
    return [{"from": "human", "value": human}, {"from": "gpt", "value": answer}]


def conversations(row: dict[str, Any], images: int) -> list[dict[str, str]] | None:
    """The row's turns in LLaVA's form, with exactly `images` placeholders in the human turns."""
    turns = [{"from": ROLES.get(m["role"], m["role"]), "value": m["content"] or ""} for m in row.get("messages") or []]
    if not turns and row.get("kind") == DOCUMENT_KIND:
        turns = document_turns(row.get("text")) or []
    if not turns:
        return None
    seen = 0
    for t in turns:
        if t["from"] != "human":
            t["value"] = defuse(t["value"])
            continue
        pieces = _PLACEHOLDER.split(t["value"])
        value = pieces[0]
        for piece in pieces[1:]:
            seen += 1
            value += (IMAGE_MARKER if seen <= images else "<image >") + piece
        t["value"] = value
    if seen < images:
        first = next((t for t in turns if t["from"] == "human"), None)
        if first is None:
            return None
        first["value"] = f"{IMAGE_MARKER}\n" * (images - seen) + first["value"]
    return turns


class Llava(Format):
    name = "llava"
    light = ("kind", "tags", "messages", "text")
    requirement = "a conversation: messages, or a document with text after an image"

    def accepts(self, row: dict[str, Any]) -> bool:
        if row.get("messages"):
            return True
        return row.get("kind") == DOCUMENT_KIND and document_turns(row.get("text")) is not None

    def begin(self, k: int) -> None:
        self.k = k
        self.final = self.root / PARTS / f"part-{k:05d}.json"
        self.tmp = self.final.with_name(self.final.name + ".tmp")
        self.final.parent.mkdir(parents=True, exist_ok=True)
        clear(self.tmp)
        self.images = ImageFiles(self.root, k)
        self.file = self.tmp.open("w", encoding="utf-8")
        self.file.write("[")
        self.first = True

    def add(self, row: dict[str, Any]) -> None:
        data = row_images(row)
        turns = conversations(row, len(data))
        if turns is None:  # `accepts` saw the same columns: not reached
            raise ValueError(f"sample {row['id']} has no conversation")
        entry: dict[str, Any] = {"id": row["id"]}
        paths = [self.images.write(row["id"], d, i if len(data) > 1 else None) for i, d in enumerate(data)]
        if paths:
            entry["image"] = paths if row.get("kind") == DOCUMENT_KIND else paths[0]
        entry["conversations"] = turns
        self.file.write(("\n" if self.first else ",\n") + json.dumps(entry, ensure_ascii=False))
        self.first = False

    def end(self) -> dict[str, Any]:
        self.file.write("\n]\n")
        self.file.close()
        size = replace(self.tmp, self.final)
        return {"name": f"{PARTS}/{self.final.name}", "images": self.images.count, "bytes": size + self.images.bytes}

    def finish(self, shards: list[dict[str, Any]]) -> list[str]:
        """Join the shards' lists into one llava.json, streaming (one shard's list in memory at a time)."""
        final = self.root / "llava.json"
        tmp = final.with_name("llava.json.tmp")
        with tmp.open("w", encoding="utf-8") as out:
            out.write("[")
            first = True
            for s in shards:
                for entry in json.loads((self.root / s["name"]).read_text(encoding="utf-8")):
                    out.write(("\n" if first else ",\n") + json.dumps(entry, ensure_ascii=False))
                    first = False
            out.write("\n]\n")
        replace(tmp, final)
        return ["llava.json", "images/"]

    def cleanup(self) -> None:
        clear(self.root / PARTS)
