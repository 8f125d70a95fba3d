"""The language filter sets `lang` from text (or OCR text) and keeps the configured languages."""

from __future__ import annotations

from filters.lang import LangFilter, LangFilterConfig
from pipelines.schema import to_table


def ready(config: LangFilterConfig | None = None) -> LangFilter:
    """A filter set up as a worker sets it up (the model loads in setup(), once per worker)."""
    stage = LangFilter(config) if config else LangFilter()
    stage.setup()
    return stage

EN = "The library opens at eight in the morning and closes at ten in the evening on weekdays."
ZH = "图书馆每天上午八点开放，晚上十点关闭，读者可以凭有效证件借阅图书。"
DE = "Die Bibliothek öffnet werktags um acht Uhr morgens und schließt um zehn Uhr abends."


def test_english_and_chinese_are_kept_and_other_languages_dropped_with_their_code():
    rows = [{"id": "en", "kind": "text", "text": EN, "keep": True},
            {"id": "zh", "kind": "text", "text": ZH, "keep": True},
            {"id": "de", "kind": "text", "text": DE, "keep": True}]
    out = {r["id"]: r for r in ready().process(to_table(rows)).to_pylist()}
    assert (out["en"]["lang"], out["en"]["keep"]) == ("en", True)
    assert (out["zh"]["lang"], out["zh"]["keep"]) == ("zh", True)
    assert (out["de"]["lang"], out["de"]["drop_reason"]) == ("de", "lang_filter:lang_de")
    assert all(r["quality"]["lang_score"] > 0.5 for r in out.values())


def test_scans_are_judged_by_their_ocr_text_and_tiny_texts_are_undetermined_and_kept():
    rows = [{"id": "scan", "kind": "page", "text": "", "ocr_text": DE, "keep": True},
            {"id": "figure", "kind": "figure", "text": "Fig. 3", "keep": True}]
    out = {r["id"]: r for r in ready().process(to_table(rows)).to_pylist()}
    assert out["scan"]["lang"] == "de" and out["scan"]["keep"] is False
    assert out["figure"]["lang"] == "und" and out["figure"]["keep"] is True
    assert out["figure"]["quality"] is None or out["figure"]["quality"]["lang_score"] is None


def test_an_empty_keep_list_keeps_every_language():
    rows = [{"id": "de", "kind": "text", "text": DE, "keep": True}]
    out = ready(LangFilterConfig(keep=())).process(to_table(rows)).to_pylist()[0]
    assert out["lang"] == "de" and out["keep"] is True
