"""The grounding stage: adds DeepSeek-VL2-style grounding turns to pages, screenshots and tiles.

Runs after the tagger and before the instruction builder (order 505), so the builder's own turns
follow these and see that the image is already placed in the first question. Each kept sample with
an image and exact boxes (see `referents`) gets up to `max_turns` turns chosen by its id hash, the
tags of the tasks they serve (`recognition.grounding`, `recognition.ocr_transcription`; score 1.0,
they are facts) and `meta.grounding`: how many turns of which task, and where the text came from
(`text_from`: "text_layer", "dom" or "ocr", with `min_ocr_score` when OCR lines were used).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from pipelines.registry import register_stage
from pipelines.schema import meta_json, set_columns
from pipelines.stage import ConfigError, Resources, Stage
from taxonomy.grounding.referents import Limits, element_referents, figure_referents, text_lines, text_referents
from taxonomy.grounding.turns import Turn, choose, turns_for
from taxonomy.instructions import IMAGE_TOKEN

KINDS = ("page", "screenshot", "tile")
_TILED = ("screenshot", "tile")  # DOM boxes clipped by a tile edge are incomplete


@dataclass(frozen=True)
class GroundingConfig:
    """[grounding]: `max_turns` per sample (0 turns the stage off); quoted texts are `min_chars` characters long at
    least and `max_chars` columns at most (a Chinese character takes two); a box covering more than
    `max_box_share` of the image is not used; a scan's OCR lines are used only at `min_ocr_score` or above."""

    max_turns: int = 4
    min_chars: int = 4
    max_chars: int = 80
    max_box_share: float = 0.5
    min_ocr_score: float = 0.9

    def validate(self) -> None:
        if not 0 <= self.max_turns <= 64:
            raise ConfigError(f"max_turns must be between 0 and 64, got {self.max_turns}", "max_turns")
        if not 1 <= self.min_chars <= self.max_chars:
            raise ConfigError(f"min_chars must be at least 1 and at most max_chars ({self.max_chars}), "
                              f"got {self.min_chars}", "min_chars")
        if not 0 < self.max_box_share <= 1:
            raise ConfigError(f"max_box_share must be above 0 and at most 1, got {self.max_box_share}",
                              "max_box_share")
        if not 0 <= self.min_ocr_score <= 1:
            raise ConfigError(f"min_ocr_score must be between 0 and 1, got {self.min_ocr_score}", "min_ocr_score")

    @property
    def limits(self) -> Limits:
        return Limits(self.min_chars, self.max_chars, self.max_box_share, self.min_ocr_score)


@register_stage(order=505, section="grounding", config=GroundingConfig)
class GroundingBuilder(Stage):
    """Adds grounding turns to `messages`, their tags to `tags`, and `meta.grounding`."""

    name = "grounding"
    version = "1"
    reads = ("id", "kind", "image", "width", "height", "ocr", "lang", "tags", "tag_scores", "messages", "meta",
             "keep")
    writes = ("messages", "tags", "tag_scores", "meta")
    resources = Resources(batch_size=256)

    def __init__(self, config: GroundingConfig | None = None):
        self.config = config or GroundingConfig()

    @classmethod
    def enabled(cls, settings: GroundingConfig) -> bool:
        return settings.max_turns > 0

    def process(self, batch: pa.Table) -> pa.Table:
        rows = batch.select(list(self.reads)).to_pylist()
        for row in rows:
            self.ground(row)
        return set_columns(batch, **{c: [r[c] for r in rows] for c in self.writes})

    def ground(self, row: dict[str, Any]) -> None:
        """Add the sample's grounding turns, tags and meta in place (a sample that has none is left as is)."""
        width, height = row.get("width") or 0, row.get("height") or 0
        if (row.get("keep") is False or row.get("kind") not in KINDS or not (row.get("image") or {}).get("bytes")
                or width <= 0 or height <= 0):
            return
        meta = json.loads(row["meta"]) if row.get("meta") else {}
        chosen, text_from = self.turns(row, meta)
        if not chosen:
            return
        turns = list(row.get("messages") or [])
        for i, t in enumerate(chosen):
            request = t.request
            if i == 0 and not any(m["role"] == "user" for m in turns):
                request = f"{IMAGE_TOKEN}\n{request}"
            turns += [{"role": "user", "content": request}, {"role": "assistant", "content": t.answer}]
        row["messages"] = turns
        row["tags"], row["tag_scores"] = with_tags(row.get("tags") or [], row.get("tag_scores") or [],
                                                   [t.tag for t in chosen])
        tasks: dict[str, int] = {}
        for t in chosen:
            tasks[t.task] = tasks.get(t.task, 0) + 1
        note: dict[str, Any] = {"turns": len(chosen), "tasks": tasks, "version": self.version}
        if text_from and any(t.task in ("text", "read") for t in chosen):
            note["text_from"] = text_from
            if text_from == "ocr":
                note["min_ocr_score"] = self.config.min_ocr_score
        meta["grounding"] = note
        row["meta"] = meta_json(meta)

    def turns(self, row: dict[str, Any], meta: dict[str, Any]) -> tuple[list[Turn], str]:
        """The turns chosen for the sample (by its id), and where its quoted text came from."""
        width, height = row["width"], row["height"]
        rng = random.Random(int.from_bytes(hashlib.blake2b(f"{row['id']}:grounding".encode(),
                                                           digest_size=8).digest(), "big"))
        limits = self.config.limits
        lang = "zh" if row.get("lang") == "zh" else "en"
        tiled = row.get("kind") in _TILED
        lines, text_from = text_lines(row, meta, limits)
        referents = [*text_referents(lines, width, height, limits, tiled),
                     *element_referents(meta, width, height, limits, tiled),
                     *figure_referents(meta, width, height, limits)]
        candidates = [t for ref in referents for t in turns_for(ref, width, height, lang, rng)]
        return choose(candidates, self.config.max_turns, rng), text_from


def with_tags(tags: list[str], scores: list[float], added: list[str]) -> tuple[list[str], list[float]]:
    """The sample's tags with `added` as facts (score 1.0) after its other facts and before the
    classifier's guesses; the last guesses make room, so a sample keeps as many tags as the tagger gave
    (a sample whose tags were all facts gains one)."""
    new = [t for t in dict.fromkeys(added) if t not in tags]
    if not new:
        return tags, scores
    pairs = list(zip(tags, scores, strict=True))
    facts = [p for p in pairs if p[1] >= 1.0] + [(t, 1.0) for t in new]
    guesses = [p for p in pairs if p[1] < 1.0]
    room = max(0, len(pairs) - len(facts))
    merged = facts + guesses[:room]
    return [t for t, _ in merged], [s for _, s in merged]
