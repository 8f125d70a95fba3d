"""Image preprocessing as DeepSeek-VL does it: resize the long side, pad to a square with the mean
colour, keep uint8 (the model normalises per tower on the device, so workers ship 4x fewer bytes)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

FILL = (127, 127, 127)  # SigLIP's mean colour (0.5 * 255)


def square(image: Image.Image, size: int, fill: tuple[int, int, int] = FILL) -> np.ndarray:
    """The image resized so its long side is `size`, centred on a `size` x `size` canvas: (3, size, size) uint8."""
    image = image.convert("RGB")
    w, h = image.size
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = image.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
    canvas = Image.new("RGB", (size, size), fill)
    canvas.paste(resized, ((size - nw) // 2, (size - nh) // 2))
    return np.asarray(canvas).transpose(2, 0, 1).copy()


def decode_square(data: bytes, size: int) -> np.ndarray:
    """Encoded image bytes (PNG, JPEG, ...) to the model's square uint8 input."""
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (size, size))  # JPEG decodes at a reduced scale when it can; no-op for PNG
        return square(im, size)


def load_square(path: str, size: int) -> np.ndarray:
    """An image file on disk to the model's square uint8 input (for generation)."""
    with open(path, "rb") as f:
        return decode_square(f.read(), size)
