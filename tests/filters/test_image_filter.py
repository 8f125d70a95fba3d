"""The image filter on images built to pass and to fail each of its checks."""

from __future__ import annotations

import io
import json

import numpy as np
import pymupdf
import pytest
from PIL import Image, ImageFilter

from filters.image import ImageFilter as Filter
from filters.image import ImageFilterConfig
from pipelines.schema import to_table


def encode(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def judge(im_bytes: bytes, w: int, h: int, config: ImageFilterConfig | None = None) -> dict:
    row = {"id": "x", "kind": "page", "image": {"bytes": im_bytes, "path": None}, "width": w, "height": h,
           "keep": True}
    return Filter(config or ImageFilterConfig()).process(to_table([row])).to_pylist()[0]


@pytest.fixture(scope="module")
def page(corpus) -> Image.Image:
    pix = pymupdf.open(corpus / "annual_report.pdf")[0].get_pixmap(dpi=144)
    return Image.open(io.BytesIO(pix.tobytes("png"))).convert("RGB")


def test_a_rendered_page_passes_with_every_score(page):
    out = judge(encode(page), *page.size)
    assert out["keep"] is True, out["drop_reason"]
    q = out["quality"]
    assert q["pixel_std"] > 10 and 0.2 < q["entropy"] < 8 and q["blur"] > 1000 and q["content_frac"] > 0.01
    assert q["megapixels"] == pytest.approx(page.size[0] * page.size[1] / 1e6, rel=1e-3)


def test_blurred_page_fails_as_blurred(page):
    out = judge(encode(page.filter(ImageFilter.GaussianBlur(3))), *page.size)
    assert out["drop_reason"] == "image_filter:blurred" and out["quality"]["blur"] < 100


def test_blank_and_near_uniform_images_fail_as_blank():
    flat = Image.new("RGB", (300, 400), (250, 250, 250))
    assert judge(encode(flat), 300, 400)["drop_reason"] == "image_filter:blank"
    noise = np.clip(np.random.default_rng(0).normal(128, 0.6, (400, 300)), 0, 255).astype(np.uint8)
    assert judge(encode(Image.fromarray(noise)), 300, 400)["drop_reason"] == "image_filter:blank"


def test_a_page_with_a_speck_fails_as_no_content():
    im = Image.new("L", (800, 1000), 255)
    im.paste(0, (400, 500, 406, 506))  # 36 dark pixels: spread exists, content does not
    out = judge(encode(im), 800, 1000, ImageFilterConfig(min_pixel_std=0.1, min_entropy=0.0))
    assert out["drop_reason"] == "image_filter:no_content"


def test_extreme_aspect_ratio_fails(page):
    strip = page.crop((0, 0, page.width, 60))
    assert judge(encode(strip), strip.width, 60)["drop_reason"] == "image_filter:aspect"


def test_an_image_bomb_is_refused_from_its_header_without_decoding():
    """A 20000x20000 PNG is 4 kB on disk and 400 MP decoded: the filter must not decode it."""
    bomb = encode(Image.new("1", (20000, 20000), 0))
    assert len(bomb) < 100_000
    out = judge(bomb, 20000, 20000)
    assert out["drop_reason"] == "image_filter:too_many_pixels" and out["quality"]["megapixels"] == 400
    assert out["quality"]["pixel_std"] is None  # never decoded


def test_size_from_the_header_wins_over_a_lying_width_column(page):
    tiny = encode(page.resize((20, 26)))
    assert judge(tiny, 2000, 2600)["drop_reason"] == "image_filter:too_small"


def test_jpeg_pages_are_judged_too(page):
    out = judge(encode(page, "JPEG"), *page.size)
    assert out["keep"] is True and out["quality"]["blur"] > 1000


def test_undecodable_bytes_become_an_error_row_and_cost_no_other_sample(page):
    from pipelines.schema import ERROR_COL
    from pipelines.stage import run_guarded

    good = {"id": "good", "kind": "page", "image": {"bytes": encode(page), "path": None}, "width": page.width,
            "height": page.height, "keep": True}
    bad = dict(good, id="bad", image={"bytes": b"\x89PNG\r\n\x1a\n garbage", "path": None})
    out = {r["id"]: r for r in run_guarded(Filter(), to_table([good, bad])).to_pylist()}
    assert out["good"]["keep"] is True and out["good"][ERROR_COL] is None
    err = json.loads(out["bad"][ERROR_COL])
    assert err["error_type"] == "UndecodableImage" and "cannot be decoded" in err["message"]
