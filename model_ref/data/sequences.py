"""Token sequences with their loss masks, one per sample, and their collation into a batch.

Three formats, one per kind of training signal:

- language: `<bos> text <eos>`, loss on every token; a text longer than the context is cut to a
  window whose start is fixed by the sample's key (so the same step sees the same window).
- image_text (pretraining pairs): `<bos> <image>x576 text <eos>`, loss on the text only.
- sft: `<bos> <|user|> question <|assistant|> answer <eos> <|user|> ...`, loss on the answers and
  the `<eos>` that ends each one. An `<image>` in a user turn (the shards write one in the first
  question) expands to the visual tokens; a sample with an image but no placeholder gets one at the
  start of its first question. Turns that do not fit the context are dropped from the end.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from model_ref.model import IGNORE
from model_ref.tokenizer import ASSISTANT_ID, BOS_ID, EOS_ID, IMAGE_ID, PAD_ID, USER_ID, TextTokenizer


@dataclass
class Example:
    """One sequence: token ids, labels (IGNORE where no loss), and its image if it has one."""

    ids: list[int]
    labels: list[int]
    image: np.ndarray | None = None  # (3, S, S) uint8


class SequenceBuilder:
    """Turns shard rows into Examples for a tokenizer, a visual-token count and a context length."""

    def __init__(self, tokenizer: TextTokenizer, image_tokens: int, max_len: int) -> None:
        if max_len < image_tokens + 8:
            raise ValueError(f"context of {max_len} tokens cannot hold an image of {image_tokens} tokens and text")
        self.tok = tokenizer
        self.image_tokens = image_tokens
        self.max_len = max_len

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
    """Right-padded `input_ids` and `labels` (B, L), `images` (n, 3, S, S) uint8 or None, in
    sequence order, and the number of labelled tokens."""
    length = max(len(e.ids) for e in examples)
    length = -(-length // pad_to) * pad_to
    ids = torch.full((len(examples), length), PAD_ID, dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE, dtype=torch.long)
    for i, e in enumerate(examples):
        ids[i, : len(e.ids)] = torch.tensor(e.ids)
        labels[i, : len(e.labels)] = torch.tensor(e.labels)
    images = [e.image for e in examples if e.image is not None]
    return {
        "input_ids": ids,
        "labels": labels,
        "images": torch.from_numpy(np.stack(images)) if images else None,
        "tokens": int((labels[:, 1:] != IGNORE).sum()),
        "samples": len(examples),
    }
