"""Shards for the trainer's tests, written in the one sample schema (pipelines.schema) in a second.

The rows are small but carry learnable structure: text-only paragraphs from a tiny grammar (the
`language` pool), pages whose image shows their text in a colour the text names (`image_text`,
and `sft_image` through a transcription question), and text-only question/answer pairs
(`sft_text`). Two shards in one folder, so the second is the held-out shard.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw

from pipelines.schema import SAMPLE_SCHEMA, image_value, sample_id, to_table

COLOURS = {"red": (200, 40, 40), "green": (40, 160, 60), "blue": (40, 70, 200), "yellow": (220, 200, 40)}
ANIMALS = ["cat", "dog", "fox", "owl", "bee", "cow"]
VERBS = ["sees", "chases", "likes", "finds"]
THINGS = ["ball", "tree", "river", "house", "stone"]


def sentence(rng: random.Random) -> str:
    colour = rng.choice(list(COLOURS))
    return f"The {colour} {rng.choice(ANIMALS)} {rng.choice(VERBS)} the {rng.choice(THINGS)}."


def page_png(text: str, colour: str, size: tuple[int, int] = (160, 120)) -> bytes:
    im = Image.new("RGB", size, COLOURS[colour])
    draw = ImageDraw.Draw(im)
    for i, line in enumerate(text.split(". ")[:6]):
        draw.text((6, 6 + 18 * i), line, fill=(255, 255, 255))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def rows(seed: int, n: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = ("text", "page", "qa", "page")[i % 4]
        text = " ".join(sentence(rng) for _ in range(rng.randint(3, 6)))
        row = {"source": "test", "kind": kind, "uri": f"test://{seed}", "locator": f"row={i}", "lang": "en",
               "keep": True, "meta": "{}"}
        if kind == "text":
            row["text"] = text
        elif kind == "page":
            colour = text.split()[1]
            data = page_png(text, colour)
            row.update(image=image_value(data), width=160, height=120, text=text, messages=[
                {"role": "user", "content": "<image>\nWhat colour is this page?"},
                {"role": "assistant", "content": colour},
                {"role": "user", "content": "What does it say?"},
                {"role": "assistant", "content": text}])
        else:
            row.update(kind="text", text=None, messages=[
                {"role": "user", "content": f"Repeat after me: {text}"}, {"role": "assistant", "content": text}])
        row["id"] = sample_id("test", row["uri"], row["locator"], text)
        out.append(row)
    return out


def write_shards(folder: Path, counts: tuple[int, ...] = (96, 32), extra=lambda part: [],
                 row_group_size: int = 32) -> Path:
    """Shards of `rows(part, n)` for each count (the last one is held out), after `extra(part)`'s rows."""
    (folder / "shards").mkdir(parents=True, exist_ok=True)
    for part, n in enumerate(counts):
        table = to_table(extra(part) + rows(part, n), SAMPLE_SCHEMA)
        pq.write_table(table, folder / "shards" / f"part-{part:05d}.parquet", row_group_size=row_group_size)
    return folder


@pytest.fixture(scope="session")
def shards(tmp_path_factory) -> Path:
    """A vlforge-style output folder with two shards (the second is held out)."""
    return write_shards(tmp_path_factory.mktemp("mr") / "data")


@pytest.fixture(scope="session")
def page_image(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "page.png"
    path.write_bytes(page_png("The red fox sees the tree. The blue owl likes the ball", "red"))
    return path
