"""Image copies on real renders: a border cut off, re-encoded, resized; when a different text still
makes a copy (pages) and when it does not (figures). The whole dedup path, without Ray."""

from __future__ import annotations

import io
import random

import numpy as np
import pymupdf
import pytest
from PIL import Image

from filters.dedup import crops
from filters.dedup.config import DedupConfig
from pipelines import images
from tests.filters.test_dedup import decide, page_row

CUT = (0.06, 0.03, 0.04, 0.07)  # left, top, right, bottom: a hand-made crop, 3-7% a side


def recoded(row: dict, sid: str, how: str) -> dict:
    """`row` with its image cut, re-encoded or resized, as a copy found elsewhere would be."""
    im = Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")
    w, h = im.size
    fmt, kw = "PNG", {}
    if how == "crop":
        im = im.crop((round(w * CUT[0]), round(h * CUT[1]), w - round(w * CUT[2]), h - round(h * CUT[3])))
    elif how == "jpeg":
        fmt, kw = "JPEG", {"quality": 70}
    elif how == "resize":
        im = im.resize((round(w * 0.8), round(h * 0.8)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return dict(row, id=sid, image={"bytes": buf.getvalue(), "path": None}, width=im.width, height=im.height)


def figure_row(sid: str, pdf, page: int, caption: str) -> dict:
    """The largest drawing of a page (the report's chart) cropped tight, as a figure with its caption."""
    rect = max(pdf[page].cluster_drawings(), key=lambda r: r.width * r.height)
    pix = pdf[page].get_pixmap(dpi=144, clip=rect)
    return {"id": sid, "source": "pdf", "kind": "figure", "image": {"bytes": pix.tobytes("png"), "path": None},
            "width": pix.width, "height": pix.height, "text": caption, "keep": True}


@pytest.fixture(scope="module")
def report(corpus):
    return pymupdf.open(corpus / "annual_report.pdf")


@pytest.fixture(scope="module")
def pages(report, corpus):
    notes = pymupdf.open(corpus / "field_notes.pdf")
    return [page_row(f"r{i}", report, i, dpi=100) for i in range(3)] + [page_row(f"n{i}", notes, i, dpi=100)
                                                                     for i in range(2)]


def test_a_page_with_its_border_cut_off_is_a_copy_and_other_pages_are_not(pages):
    cut = recoded(pages[0], "r0-cut", "crop")
    assert decide([*pages, cut]) == {"r0-cut": ("r0", "near_image")}  # the larger, uncut page is kept
    # The whole-picture pHash alone misses it: the crop hashes are what catch it.
    assert decide([*pages, cut], DedupConfig(crop_images=False)) == {}
    # Cut pages of one document are not taken for each other, nor for the other document's pages.
    others = [recoded(p, f"{p['id']}-cut", "crop") for p in pages[1:]]
    assert decide([pages[0], *others]) == {}


def test_a_figure_cut_into_its_content_is_a_copy(report):
    caption = "Figure 2. Revenue by quarter, in thousands of euros."
    fig = figure_row("fig", report, 1, caption)
    cut = recoded(fig, "fig-cut", "crop")
    other = figure_row("other", report, 2, caption)
    assert decide([fig, cut, other]) == {"fig-cut": ("fig", "near_image")}


@pytest.mark.parametrize("how", ["jpeg", "resize"])
def test_re_encoded_and_resized_pages_are_still_copies(pages, how):
    copy = recoded(pages[1], "r1-copy", how)
    assert decide([*pages, copy]) == {"r1-copy": ("r1", "near_image")}
    exact = dict(pages[1], id="r1-same")
    assert decide([*pages, exact]) == {"r1-same": ("r1", "exact_image")}


def test_the_same_page_read_twice_is_a_copy_unless_pages_must_agree_on_text(pages):
    """A page's text is read off its pixels: the same render under an OCR'd text (a scan of it) is the
    same page. With `page` in image_text_agreement the texts must overlap, and these do not."""
    ocr = pages[0]["text"].replace("e", "c").replace("o", "0").replace("\n", " ")
    again = dict(pages[0], id="r0-ocr", text=ocr)
    assert decide([*pages, again]) == {"r0-ocr": ("r0", "exact_image")}
    assert decide([*pages, again], DedupConfig(image_text_agreement=("page", "figure", "chart"))) == {}


def test_one_picture_under_two_captions_is_two_pairs_unless_figures_are_deduplicated_by_image(report):
    fig = figure_row("fig", report, 1, "Figure 2. Revenue by quarter, in thousands of euros.")
    other = dict(fig, id="fig-2", text="Chart: harbour staff since 2019.")
    assert decide([fig, other]) == {}
    assert decide([fig, other], DedupConfig(image_text_agreement=())) == {"fig-2": ("fig", "exact_image")}


def test_pruned_crop_verdicts_equal_the_full_distance():
    """The driver decides crop-hash pairs with a bound that skips most window comparisons; it must say
    exactly what the full distance says, for copies a few bits apart and for unrelated pictures."""
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (200, crops.BYTES), dtype=np.uint8)
    noise = (rng.random(base.shape) < 0.03) * rng.integers(1, 256, base.shape)
    prints = np.concatenate([base, base ^ noise.astype(np.uint8)])
    ia = np.concatenate([rng.integers(0, 400, 30_000), np.arange(200)])
    ib = np.concatenate([rng.integers(0, 400, 30_000), np.arange(200) + 200])
    full = crops.distance(prints[ia], prints[ib])
    for limit in (0, 12, 40, 110, 125, 256):
        assert (crops.pairs_within(prints, ia, ib, limit) == (full <= limit)).all()
    assert 0 < (full <= 40).sum() < len(full)  # both verdicts occur


def test_text_blocks_cut_a_few_percent_a_side_mostly_stay_within_reach(corpus):
    """A block of text cut 3-7% a side (a tile, a hand-made crop of a screenshot) is mostly still within
    `max_crop_distance` of its original. Measured on the corpus's 10 blocks at least 60 pt on a side, 4 cuts
    each: 31 of 40 with each window reduced to 64 x 64 by Lanczos, 11 of 40 with area averaging (the
    reduction that lost 14 of the peers bench's 70 cropped copies of real manuals)."""

    def prints(png: bytes) -> np.ndarray:
        return np.frombuffer(crops.crop_hashes(images.view(png).grey(crops.SIDE)), np.uint8)[None]

    rng = random.Random(0)
    limit = DedupConfig().max_crop_distance
    near = total = 0
    for name in ("annual_report.pdf", "field_notes.pdf", "library_guide_zh.pdf"):
        for page in pymupdf.open(corpus / name):
            for block in page.get_text("blocks"):
                rect = pymupdf.Rect(block[:4])
                if min(rect.width, rect.height) < 60:
                    continue
                png = page.get_pixmap(dpi=144, clip=rect).tobytes("png")
                im = Image.open(io.BytesIO(png))
                w, h = im.size
                for _ in range(4):
                    cut = [rng.uniform(0.03, 0.07) for _ in range(4)]
                    buf = io.BytesIO()
                    im.crop((round(w * cut[0]), round(h * cut[1]), w - round(w * cut[2]),
                             h - round(h * cut[3]))).save(buf, "PNG")
                    near += int(crops.distance(prints(png), prints(buf.getvalue()))[0] <= limit)
                    total += 1
    assert total == 40 and near >= 28
