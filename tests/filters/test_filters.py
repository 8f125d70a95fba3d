"""Filters mark, never delete; a stage that raises on one sample costs only that sample."""

import io
import json

import pyarrow as pa
from PIL import Image, ImageDraw

from filters.image import ImageFilter, ImageFilterConfig
from filters.text import TextFilter
from pipelines.schema import ERROR_COL, to_table
from pipelines.stage import Stage, run_guarded


def png(size=(200, 260), blank=False) -> bytes:
    im = Image.new("RGB", size, "white")
    if not blank:
        ImageDraw.Draw(im).text((10, 10), "Some words on a page", fill="black")
        ImageDraw.Draw(im).rectangle((20, 60, 150, 200), outline="black", width=3)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def page(i, data, w=200, h=260):
    return {"id": f"p{i}", "kind": "page", "image": {"bytes": data, "path": None}, "width": w, "height": h,
            "keep": True}


def test_blank_pages_are_marked_with_a_reason_not_deleted():
    batch = to_table([page(0, png()), page(1, png(blank=True))])
    out = ImageFilter().process(batch).to_pylist()
    assert len(out) == 2
    assert out[0]["keep"] is True and out[0]["quality"]["pixel_std"] > 10
    assert out[1]["keep"] is False and out[1]["drop_reason"] == "image_filter:blank"
    assert out[1]["quality"]["pixel_std"] < 1


def test_tiny_images_are_dropped_without_being_decoded():
    out = ImageFilter(ImageFilterConfig(min_side=32)).process(
        to_table([page(0, b"not even an image", w=10, h=500)])).to_pylist()
    assert out[0]["keep"] is False and out[0]["drop_reason"] == "image_filter:too_small"


def test_short_text_samples_are_dropped_and_image_samples_left_alone():
    rows = [{"id": "t1", "kind": "text", "text": "The quick brown fox jumps over the lazy dog.", "keep": True},
            {"id": "t2", "kind": "text", "text": "  hi \n", "keep": True},
            {"id": "p", "kind": "page", "text": "", "keep": True}]
    out = TextFilter().process(to_table(rows)).to_pylist()
    assert [r["keep"] for r in out] == [True, False, True]
    assert out[1]["drop_reason"] == "text_filter:too_short" and out[1]["quality"]["text_chars"] == 2
    assert out[2]["quality"] is None or out[2]["quality"]["text_chars"] is None


def test_the_first_failing_filter_keeps_its_reason():
    blank_with_short_text = dict(page(0, png(blank=True)), kind="text", text="x")
    batch = to_table([blank_with_short_text])
    out = TextFilter().process(ImageFilter().process(batch)).to_pylist()[0]
    assert out["drop_reason"] == "image_filter:blank" and out["quality"]["text_chars"] == 1


class Fussy(Stage):
    name, version = "fussy", "1"

    def process(self, batch: pa.Table) -> pa.Table:
        if "poison" in batch.column("text").to_pylist():
            raise ValueError("cannot digest poison")
        return batch.set_column(batch.schema.get_field_index("lang"), "lang", pa.array(["en"] * batch.num_rows))


def test_a_stage_failing_on_one_row_costs_only_that_row():
    batch = to_table([{"id": str(i), "text": t, "keep": True} for i, t in enumerate(["a", "poison", "b"])])
    out = run_guarded(Fussy(), batch).to_pylist()
    good = [r for r in out if r[ERROR_COL] is None]
    bad = [r for r in out if r[ERROR_COL] is not None]
    assert sorted(r["id"] for r in good) == ["0", "2"] and all(r["lang"] == "en" for r in good)
    (err,) = bad
    assert err["id"] == "1" and err["keep"] is False
    assert json.loads(err[ERROR_COL]) == {"stage": "fussy/1", "error_type": "ValueError",
                                          "message": "cannot digest poison"}


def test_error_rows_pass_later_stages_untouched():
    batch = to_table([{"id": "e", "keep": False, ERROR_COL: '{"stage":"s","error_type":"X","message":"m"}'},
                      {"id": "ok", "text": "fine", "keep": True}])
    out = {r["id"]: r for r in run_guarded(Fussy(), batch).to_pylist()}
    assert out["e"]["lang"] is None and out["ok"]["lang"] == "en"
