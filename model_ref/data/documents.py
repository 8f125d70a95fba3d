"""Interleaved documents as the shards write them, read here from the format alone.

A `document` row's `text` is its paragraphs joined by a blank line; an image is a paragraph that is
exactly `<image>`, one per entry of the row's `images`, in the same order. The trainer splits on
that itself (it knows the shard format, not the pipeline that wrote it).
"""

from __future__ import annotations

IMAGE_MARKER = "<image>"  # an image's paragraph in a document's text (the shard format)
PARAGRAPH_SEP = "\n\n"


def document_parts(text: str | None) -> list[str | int]:
    """A document's text in reading order: runs of text (paragraphs joined by a blank line) and, for
    each `<image>` paragraph, the index of its image in `images`."""
    parts: list[str | int] = []
    run: list[str] = []
    images = 0
    for p in (text or "").split(PARAGRAPH_SEP):
        if p == IMAGE_MARKER:
            if run:
                parts.append(PARAGRAPH_SEP.join(run))
                run = []
            parts.append(images)
            images += 1
        elif p:
            run.append(p)
    if run:
        parts.append(PARAGRAPH_SEP.join(run))
    return parts


def marker_count(text: str | None) -> int:
    """How many images a document's text places (its `<image>` paragraphs)."""
    return sum(1 for p in (text or "").split(PARAGRAPH_SEP) if p == IMAGE_MARKER)
