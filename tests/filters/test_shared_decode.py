"""One decode per image per batch: the image filter and dedup share it, and nothing they decide changes."""

from __future__ import annotations

import io

import numpy as np
import pymupdf
import pytest
from PIL import Image, ImageFilter

from filters.dedup.stage import Dedup
from filters.image import ImageFilter as Filter
from filters.image import image_scores
from pipelines import images
from pipelines.schema import to_table


def encode(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def page(corpus) -> Image.Image:
    pix = pymupdf.open(corpus / "annual_report.pdf")[0].get_pixmap(dpi=144)
    return Image.open(io.BytesIO(pix.tobytes("png"))).convert("RGB")


def table(datas: list[bytes]):
    return to_table([{"id": str(i), "kind": "page", "image": {"bytes": d, "path": None}, "width": 1000,
                      "height": 1000, "text": "", "keep": True} for i, d in enumerate(datas)])


def filter_then_dedup(batch):
    return Dedup().process(Filter().process(batch)).to_pylist()


@pytest.fixture
def decodes(monkeypatch) -> list[int]:
    """Counts full decodes (one entry per decode)."""
    seen: list[int] = []
    real = images.ImageView._decode

    def counting(self, *args, **kwargs):
        seen.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(images.ImageView, "_decode", counting)
    return seen


def test_in_a_scope_each_image_is_decoded_once_and_the_results_do_not_change(page, decodes):
    datas = [encode(page), encode(page.filter(ImageFilter.GaussianBlur(3))), encode(page.rotate(90, expand=True))]
    batch = table([*datas, datas[0]])  # the last row repeats the first image's bytes
    alone = filter_then_dedup(batch)
    assert len(decodes) == 4 + 3  # outside a scope: the filter decodes every row, dedup every row it keeps
    decodes.clear()
    with images.scope(images.products_of([Filter(), Dedup()])):
        shared = filter_then_dedup(batch)
    assert len(decodes) == 3
    assert shared == alone
    assert shared[1]["drop_reason"] == "image_filter:blurred"


def test_remembered_pixels_give_the_products_a_decode_would_without_decoding(page, decodes):
    data = encode(page)
    wanted = images.products_of([Filter(), Dedup()])
    fresh = images.view(data)
    expected = (fresh.grey(1024), fresh.digest(), fresh.phash())
    decodes.clear()
    with images.scope(wanted):
        assert images.remember(data, page)
        v = images.view(data)
        got = (v.grey(1024), v.digest(), v.phash())
    assert not decodes
    assert np.array_equal(got[0], expected[0]) and got[1:] == expected[1:]


def test_pixels_are_not_remembered_for_a_lossy_encoding_or_other_pixels(page):
    with images.scope({"digest"}):
        assert not images.remember(encode(page, "JPEG"), page)
        assert not images.remember(encode(page), page.convert("L"))
    assert not images.remember(encode(page), page)  # outside a scope there is nothing to share


def test_a_jpeg_is_judged_on_its_reduced_grey_decode_also_in_a_scope(page):
    data = encode(page, "JPEG")
    with Image.open(io.BytesIO(data)) as im:
        im.draft("L", (1024, 1024))
        expected = images.reduce_grey(im, 1024)
    with images.scope(images.products_of([Filter(), Dedup()])):
        images.view(data).digest()  # a full decode first: it must not supply the JPEG's grey
        assert np.array_equal(images.view(data).grey(1024), expected)


def test_a_scope_forgets_thumbnails_past_its_budget_but_keeps_hashes(page, decodes, monkeypatch):
    monkeypatch.setattr(images, "SCOPE_MAX_BYTES", 1)
    datas = [encode(page.rotate(a, expand=True)) for a in (0, 90, 180)]
    with images.scope(images.products_of([Filter(), Dedup()])):
        for d in datas:
            images.view(d).grey(1024)
        assert len(decodes) == 3
        for d in datas:
            images.view(d).phash()  # kept: no decode
        assert len(decodes) == 3


def test_blur_is_the_laplacian_variance_near_content_and_the_other_scores_follow_the_histogram():
    rng = np.random.default_rng(1)
    grey = np.full((61, 83), 250, np.uint8)
    grey[20:30, 10:70] = rng.integers(0, 120, (10, 60))  # a band of "text"
    grey[0, 5] = 0  # content on the edge row: its neighbourhood stays on this side
    g = grey.astype(np.int64)
    lap = (4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:])
    content = np.abs(g - 250) > 24
    near = np.zeros_like(content)
    for y, x in zip(*np.nonzero(content), strict=True):
        near[max(0, y - 2):y + 3, max(0, x - 2):x + 3] = True
    hist = np.bincount(grey.ravel(), minlength=256) / grey.size
    p = hist[hist > 0]
    scores = image_scores(grey)
    assert scores["blur"] == pytest.approx(lap[near[1:-1, 1:-1]].var(), rel=1e-9)
    assert scores["content_frac"] == pytest.approx(content.mean())
    assert scores["entropy"] == pytest.approx(-(p * np.log2(p)).sum())
    assert scores["pixel_std"] == pytest.approx(grey.std())
    assert image_scores(np.full((40, 40), 255, np.uint8))["blur"] == 0.0  # a blank page has nothing to be sharp
