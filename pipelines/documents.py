"""The interleaved document: one sample holding a document's text with its images where they stand.

DeepSeek-VL's largest pretraining slice is interleaved image-text data (MMC4, Wikipedia, WikiHow,
PDF and EPUB textbooks). A `document` sample keeps it in three aligned places:

- `images`: the images in reading order (`{bytes, path}` each, HF `Sequence(Image())`);
- `text`: paragraphs joined by a blank line; an image is a paragraph of its own that is exactly
  `IMAGE_MARKER`, one marker per entry of `images`, in the same order (a literal marker in the
  source text is defused, so the count always matches);
- `meta.images`: per image where it came from (`url`, or `page` and `bbox`), `alt`, `caption`,
  `caption_source`, `width`, `height`, `format`, `sha256`; and per document `title`, `headings`,
  and `dropped_images` (what an image rule removed, with its reason).

Sources build documents with `DocumentBuilder`; filters and dedup edit them with `remove()`, which
keeps the three in step. Nothing here knows about Ray or a source; the trainer reads only the shard
format (it splits `text` on the marker itself).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.schema import image_value

IMAGE_MARKER = "<image>"
PARAGRAPH_SEP = "\n\n"
_MARKER_RE = re.compile(re.escape(IMAGE_MARKER), re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n\s*\n+")


def defuse(text: str) -> str:
    """Source text with any literal `<image>` written so it is no longer a marker (`<image >`)."""
    return _MARKER_RE.sub("<image >", text)


def paragraphs(text: str | None) -> list[str]:
    """The paragraphs of a document's text, markers included (a marker is a paragraph of its own)."""
    return [p for p in (text or "").split(PARAGRAPH_SEP) if p != ""]


def is_marker(paragraph: str) -> bool:
    return paragraph == IMAGE_MARKER


def marker_count(text: str | None) -> int:
    return sum(1 for p in paragraphs(text) if is_marker(p))


def plain_text(text: str | None) -> str:
    """The document's text without its markers: what text filters, language id and dedup read."""
    return PARAGRAPH_SEP.join(p for p in paragraphs(text) if not is_marker(p))


def word_count(text: str | None) -> int:
    return len(plain_text(text).split())


@dataclass
class DocumentBuilder:
    """Collects a document in reading order: text paragraphs and images, then gives the sample's
    `text`, `images` and `meta` fields. Empty text is skipped; consecutive text is kept as
    separate paragraphs (a heading, a list item, a table each stay one paragraph)."""

    parts: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    infos: list[dict[str, Any]] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)

    def text(self, text: str, heading: bool = False) -> None:
        """Add a paragraph (blank lines inside it are folded to single line breaks, so it stays one)."""
        text = _BLANK_LINES.sub("\n", defuse(text)).strip()
        if not text:
            return
        self.parts.append(text)
        if heading:
            self.headings.append(text)

    def image(self, data: bytes, info: dict[str, Any], path: str | None = None) -> None:
        """Add an image where the reading has got to, with what is known of it (`url` or `page`/`bbox`,
        `alt`, `caption`, `caption_source`, `width`, `height`, `format`)."""
        self.parts.append(IMAGE_MARKER)
        self.images.append(image_value(data, path))
        self.infos.append({**info, "sha256": hashlib.sha256(data).hexdigest()})

    def drop(self, info: dict[str, Any], reason: str) -> None:
        """Record an image that was found but not kept (a 404, over the byte limit, an icon)."""
        self.dropped.append({**info, "reason": reason})

    @property
    def empty(self) -> bool:
        return not self.parts

    def fields(self) -> dict[str, Any]:
        """`text` and `images` columns, and the document's part of `meta` (`images`, `headings`,
        `dropped_images`), to merge into the source's provenance."""
        return {"text": PARAGRAPH_SEP.join(self.parts), "images": list(self.images),
                "meta": {"images": list(self.infos), "headings": list(self.headings),
                         "dropped_images": list(self.dropped)}}


def check(text: str | None, images: Sequence[Any] | None, infos: Sequence[Any] | None = None) -> None:
    """Raise ValueError unless markers, images (and per-image meta, when given) agree in number."""
    n, m = marker_count(text), len(images or [])
    if n != m or (infos is not None and len(infos) != m):
        raise ValueError(f"document has {n} {IMAGE_MARKER} markers, {m} images"
                         + ("" if infos is None else f" and {len(infos)} image records"))


def remove(text: str | None, images: Sequence[Any] | None, infos: Sequence[dict[str, Any]] | None, *,
           image_indices: Iterable[int] = (), paragraph_indices: Iterable[int] = ()
           ) -> tuple[str, list[Any], list[dict[str, Any]]]:
    """The document without some of its images (by index in `images`) and some text paragraphs (by
    index in `paragraphs(text)`, markers counted), keeping markers, images and records in step.
    A removed image's marker goes; a paragraph index that names a marker removes that image too."""
    images, infos = list(images or []), list(infos or [])
    drop_images, drop_paras = set(image_indices), set(paragraph_indices)
    out: list[str] = []
    kept_images: list[Any] = []
    kept_infos: list[dict[str, Any]] = []
    k = 0
    for i, p in enumerate(paragraphs(text)):
        if is_marker(p):
            if k not in drop_images and i not in drop_paras and k < len(images):
                out.append(p)
                kept_images.append(images[k])
                if k < len(infos):
                    kept_infos.append(infos[k])
            k += 1
        elif i not in drop_paras:
            out.append(p)
    return PARAGRAPH_SEP.join(out), kept_images, kept_infos
