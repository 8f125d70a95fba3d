"""Token sequences with their loss masks, one per sample, and their collation into a batch.

Four formats, one per kind of training signal:

- language: `<bos> text <eos>`, loss on every token; a text longer than the context is cut to a
  window whose start is fixed by the sample's key (so the same step sees the same window).
- image_text (pretraining pairs): `<bos> <image>x576 text <eos>`, loss on the text only.
- interleaved (a `document` row): `<bos> text <image>x576 text <image>x576 text <eos>`: the row's
  `text` is paragraphs joined by a blank line, an image being a paragraph that is exactly `<image>`
  (one per entry of `images`, in order; split here, from the shard format alone); each marker
  becomes its own image's visual tokens, the text between them is tokenised, loss on the text only.
  The sequence is cut at the context length (or at `max_images`) on an image boundary: an image
  whose tokens do not all fit is dropped with its marker and everything after it. It starts at the
  document's beginning, or, when the text before the first image leaves that image no room, with
  the last paragraphs of that text that do, so every interleaved sequence holds an image.
- sft: `<bos> <|user|> question <|assistant|> answer <eos> <|user|> ...`, loss on the answers and
  the `<eos>` that ends each one. An `<image>` in a user turn (the shards write one in the first
  question) expands to the visual tokens; a sample with an image but no placeholder gets one at the
  start of its first question. Turns that do not fit the context are dropped from the end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from model_ref.data.documents import PARAGRAPH_SEP, document_parts
from model_ref.model import IGNORE
from model_ref.tokenizer import ASSISTANT_ID, BOS_ID, EOS_ID, IMAGE_ID, PAD_ID, USER_ID, TextTokenizer

DEFAULT_MAX_IMAGES = 8  # images per interleaved sequence: bounds a batch's vision-encoder memory


@dataclass
class Example:
    """One sequence: token ids, labels (IGNORE where no loss), and its images in the order their
    visual tokens stand (none, one, or several for an interleaved document)."""

    ids: list[int]
    labels: list[int]
    image: np.ndarray | None = None  # (3, S, S) uint8: the one image of a pair or an sft sample
    images: list[np.ndarray] = field(default_factory=list)  # interleaved: one per run of visual tokens

    def all_images(self) -> list[np.ndarray]:
        return [self.image] if self.image is not None else list(self.images)


class SequenceBuilder:
    """Turns shard rows into Examples for a tokenizer, a visual-token count and a context length."""

    def __init__(self, tokenizer: TextTokenizer, image_tokens: int, max_len: int,
                 max_images: int = DEFAULT_MAX_IMAGES) -> None:
        if max_len < image_tokens + 8:
            raise ValueError(f"context of {max_len} tokens cannot hold an image of {image_tokens} tokens and text")
        if max_images < 1:
            raise ValueError(f"max_images must be at least 1, got {max_images}")
        self.tok = tokenizer
        self.image_tokens = image_tokens
        self.max_len = max_len
        self.max_images = max_images

    def language(self, text: str, key: str) -> Example:
        ids = [BOS_ID, *self.tok.encode(text), EOS_ID]
        if len(ids) > self.max_len:
            start = _key_int(key) % (len(ids) - self.max_len + 1)
            ids = ids[start:start + self.max_len]
        return Example(ids, list(ids))

    def image_text(self, text: str, image: np.ndarray) -> Example:
        head = [BOS_ID, *[IMAGE_ID] * self.image_tokens]
        body = [*self.tok.encode(text), EOS_ID][: self.max_len - len(head)]
        return Example(head + body, [IGNORE] * len(head) + body, image)

    def interleaved(self, text: str, images: Sequence[np.ndarray | None]) -> Example | None:
        """A document's sequence (see the module docstring). `images[k]` is the k-th image's pixels,
        read only for the images that make it into the sequence (it may decode lazily); None there
        (an image that does not decode) drops that image and its marker, the text around it stays.
        None when the markers and images disagree in number or no image is left (the caller draws
        another sample)."""
        parts = document_parts(text)
        if sum(isinstance(p, int) for p in parts) != len(images):
            return None
        if not images:
            return None
        ids, labels, pixels = [BOS_ID], [IGNORE], []
        complete = True
        for i, part in enumerate(parts):
            if isinstance(part, str):
                body = self._lead(part) if i == 0 else self._text_ids(part)
                room = self.max_len - len(ids)
                ids += body[:room]
                labels += body[:room]
                if len(body) > room:
                    complete = False
                    break
                continue
            if len(pixels) == self.max_images or len(ids) + self.image_tokens > self.max_len:
                complete = False  # cut on the image boundary: this image and what follows are dropped
                break
            image = images[part]
            if image is None:
                continue
            ids += [IMAGE_ID] * self.image_tokens
            labels += [IGNORE] * self.image_tokens
            pixels.append(image)
        if complete and len(ids) < self.max_len:
            ids.append(EOS_ID)
            labels.append(EOS_ID)
        if not pixels:
            return None
        return Example(ids, labels, images=pixels)

    def _text_ids(self, text: str) -> list[int]:
        """Tokens of a document's text run; a stray `<image>` token inside a paragraph is no image."""
        return [t for t in self.tok.encode(text) if t != IMAGE_ID]

    def _lead(self, text: str) -> list[int]:
        """Tokens of the text before a document's first image, shortened so that image still fits: its
        last paragraphs that fit (the tail of the last one when even that is too long)."""
        budget = self.max_len - 1 - self.image_tokens
        ids = self._text_ids(text)
        if len(ids) <= budget:
            return ids
        paras = text.split(PARAGRAPH_SEP)
        lengths = [len(self._text_ids(p)) + 1 for p in paras]  # +1: about the blank line between them
        keep, used = len(paras), 0
        while keep > 0 and used + lengths[keep - 1] <= budget:
            keep -= 1
            used += lengths[keep]
        ids = self._text_ids(PARAGRAPH_SEP.join(paras[min(keep, len(paras) - 1):]))
        return ids[len(ids) - budget:] if len(ids) > budget else ids

    def sft(self, messages: list[dict[str, str]], image: np.ndarray | None) -> Example | None:
        """None when no answer fits (the caller draws another sample)."""
        ids, labels = [BOS_ID], [IGNORE]
        image_placed = False
        turns = [(m["role"], m["content"] or "") for m in messages]
        for i, (role, content) in enumerate(turns):
            if role == "assistant":
                answer = [*self.tok.encode(content), EOS_ID]
                room = self.max_len - len(ids) - 1
                if room < 2:
                    break
                answer = answer[:room]
                ids += [ASSISTANT_ID, *answer]
                labels += [IGNORE, *answer]
                continue
            if i + 1 >= len(turns) or turns[i + 1][0] != "assistant":
                break  # a question nobody answers teaches nothing
            question = self.tok.encode(content)
            if image is not None and not image_placed and IMAGE_ID not in question:
                question = [IMAGE_ID, *question]
            part = [USER_ID, *self._expand(question, image is not None and not image_placed)]
            image_placed = image_placed or image is not None
            if len(ids) + len(part) + 3 > self.max_len:
                if i == 0 and image is not None:  # keep the image: cut the question instead
                    part = part[: self.max_len - len(ids) - 3]
                else:
                    break
            ids += part
            labels += [IGNORE] * len(part)
        if all(label == IGNORE for label in labels) or (image is not None and IMAGE_ID not in ids):
            return None
        return Example(ids, labels, image)

    def prompt(self, question: str, with_image: bool) -> list[int]:
        """The ids a generation starts from: a user turn, then the assistant marker."""
        q = self.tok.encode(question)
        if with_image and IMAGE_ID not in q:
            q = [IMAGE_ID, *q]
        return [BOS_ID, USER_ID, *self._expand(q, with_image), ASSISTANT_ID]

    def _expand(self, tokens: list[int], with_image: bool) -> list[int]:
        """The first `<image>` becomes the visual tokens (when there is an image); other ones are dropped."""
        out: list[int] = []
        for t in tokens:
            if t == IMAGE_ID:
                if with_image:
                    out += [IMAGE_ID] * self.image_tokens
                    with_image = False
                continue
            out.append(t)
        return out


def _key_int(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


def collate(examples: list[Example], pad_to: int = 8) -> dict[str, Any]:
    """Right-padded `input_ids` and `labels` (B, L), `images` (n, 3, S, S) uint8 or None (all
    images of all sequences, flattened in token order), and the number of labelled tokens."""
    length = max(len(e.ids) for e in examples)
    length = -(-length // pad_to) * pad_to
    ids = torch.full((len(examples), length), PAD_ID, dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE, dtype=torch.long)
    for i, e in enumerate(examples):
        ids[i, : len(e.ids)] = torch.tensor(e.ids)
        labels[i, : len(e.labels)] = torch.tensor(e.labels)
    # Every image of the batch, sequence by sequence and in token order within each: the order in
    # which the model scatters the vision encoder's outputs onto the `<image>` positions.
    images = [im for e in examples for im in e.all_images()]
    return {
        "input_ids": ids,
        "labels": labels,
        "images": torch.from_numpy(np.stack(images)) if images else None,
        "tokens": int((labels[:, 1:] != IGNORE).sum()),
        "samples": len(examples),
    }
