"""Writes the sample dataset that `configs/mix.toml` mixes in: printed lines of text and their transcription.

An OCR-style set in the layout users bring (JSON Lines with image paths relative to the file), so a
mix runs out of the box: `python -m sources.dataset.sample.make` regenerates `lines.jsonl` and `images/`.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).parent
LINES = [
    "The library opens at nine in the morning and closes at six in the evening.",
    "Please return borrowed books to the front desk before the end of the month.",
    "Our annual report shows that sales grew by twelve percent over the last year.",
    "The river flooded twice this spring, and the old bridge was closed for repairs.",
    "Students who wish to join the chess club should sign up with their teacher.",
    "A short walk from the station brings you to the museum and the city park.",
    "The recipe calls for two cups of flour, one egg and a pinch of salt.",
    "Heavy rain is expected in the north of the country during the weekend.",
    "The committee will meet on Tuesday to discuss the budget for the new school.",
    "Each visitor may bring one guest, provided that the guest signs the register.",
    "Solar panels on the roof now provide most of the power the building needs.",
    "The train to the coast leaves every hour and takes about forty minutes.",
    "Field notes from the survey describe the birds seen near the northern lake.",
    "Keep the receipt, since it is needed for any exchange or refund of the goods.",
    "The orchestra will play music by three young composers at the spring concert.",
    "Volunteers cleaned the beach on Saturday and collected over forty bags of litter.",
]


def make(folder: Path = HERE) -> Path:
    """Render each line (wrapped in two) onto a white card and write the JSON Lines file that maps them."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    font = ImageFont.load_default(size=22)
    rows = []
    for i, line in enumerate(LINES):
        words = line.split()
        halves = [" ".join(words[: len(words) // 2]), " ".join(words[len(words) // 2:])]
        width = int(max(font.getlength(h) for h in halves)) + 40
        im = Image.new("L", (width, 96), 255)
        ImageDraw.Draw(im).multiline_text((20, 16), "\n".join(halves), fill=0, font=font, spacing=12)
        name = f"images/line-{i:02d}.png"
        im.save(folder / name, optimize=True)
        rows.append({"id": f"line-{i:02d}", "image": name, "text": line})
    path = folder / "lines.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


if __name__ == "__main__":
    print(make())
