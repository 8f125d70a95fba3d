"""The document filter on interleaved `document` rows, and every other filter and tagging stage reading
them sensibly: markers always match images after every edit."""

from __future__ import annotations

import json

import pytest

from filters.document import DocumentFilter, DocumentFilterConfig
from filters.image import ImageFilter
from filters.lang import LangFilter
from filters.pii import PiiScrubber
from filters.quality import QualityFilter
from filters.text import TextFilter
from pipelines import documents
from pipelines.schema import STATS_COL, to_table
from taxonomy.grounding.stage import GroundingBuilder
from taxonomy.instructions import InstructionBuilder
from taxonomy.tagger import Tagger, TaggerConfig
from tests.filters.docs_helpers import document, png, png_header

PROSE = ("The river runs past the old mill, where the miller kept a small garden of herbs and beans "
         "that the village children were allowed to visit on Sundays after the market.")
CHINESE = "磨坊旁边的河流每年春天都会涨水，村里的孩子们喜欢在河边玩耍。"
PROSE2 = ("In the spring the water rises and the wheel turns faster, so the mill grinds more flour than the "
          "village can use, and the surplus is sold in the town on the other side of the hill.")


def run(stage, *rows):
    out = stage.process(to_table(list(rows))).to_pylist()
    for r in out:  # the one invariant every edit keeps
        meta = json.loads(r["meta"]) if r.get("meta") else {}
        documents.check(r["text"], r["images"], meta.get("images"))
    return out


def reasons(row) -> list[str]:
    return [d["reason"] for d in json.loads(row["meta"])["dropped_images"]]


def test_each_bad_image_leaves_the_document_with_its_marker_and_a_reason():
    good = png(200, 150, 1)
    row = document([PROSE, (good, {"url": "photo.png", "alt": "the mill"}),
                    (png(16, 16, 2), {"url": "icon.png"}),  # an icon
                    (png(600, 64, 3), {"url": "banner.png"}),  # a banner: 64 px high passes, 9.4:1 does not
                    (png_header(100_000, 100_000), {"url": "bomb.png"}),  # Pillow's guard fires on the header
                    (png_header(9000, 9000), {"url": "huge.png"}),  # 81 MP: refused from the header
                    (b"<html>404 not found</html>", {"url": "gone.png"}),
                    (good[: len(good) // 2], {"url": "cut.png"}),  # a valid header, truncated data
                    PROSE2])
    out = run(DocumentFilter(), row)[0]
    assert out["keep"] is True and len(out["images"]) == 1 and out["images"][0]["bytes"] == good
    assert documents.paragraphs(out["text"]) == [PROSE, documents.IMAGE_MARKER, PROSE2]
    meta = json.loads(out["meta"])
    assert [i["url"] for i in meta["images"]] == ["photo.png"]
    assert {d["url"]: d["reason"] for d in meta["dropped_images"]} == {
        "icon.png": "document_filter:too_small", "banner.png": "document_filter:aspect",
        "bomb.png": "document_filter:too_many_pixels", "huge.png": "document_filter:too_many_pixels",
        "gone.png": "document_filter:format", "cut.png": "document_filter:undecodable"}
    assert out["quality"]["doc_images"] == 1 and out["quality"]["doc_dropped_images"] == 6
    stats = json.loads(out[STATS_COL])["document_filter"]
    assert stats["images_removed:too_many_pixels"] == 2 and stats["images_removed:too_small"] == 1


def test_byte_limit_is_checked_before_the_image_is_opened():
    big = png(300, 300, 4)
    row = document([PROSE, (big, {"url": "big.png"})])
    out = run(DocumentFilter(DocumentFilterConfig(max_image_bytes=len(big) - 1)), row)[0]
    assert reasons(out) == ["document_filter:too_many_bytes"] and out["images"] == []
    assert documents.marker_count(out["text"]) == 0


def test_paragraph_rules_remove_boilerplate_garbled_and_repeated_paragraphs():
    row = document(["Cookies help us deliver our services. By using them you accept our cookie policy.",
                    PROSE, (png(200, 200, 5), {"url": "a.png"}),
                    "Ã©tÃ© Ã  la plage, trÃ¨s bien, cÃ©tait gÃ©nial pour nous",  # mojibake
                    "#travel #mill #river #bread #village #sunday",
                    "© 2024 Mill Press. All rights reserved.",
                    PROSE,  # the same paragraph again
                    "https://example.org/a/very/long/path https://example.org/another/very/long/path/here "
                    "https://example.org/yet/another/path https://example.org/and/more https://e.org/x/y/z",
                    PROSE2])
    out = run(DocumentFilter(), row)[0]
    assert documents.paragraphs(out["text"]) == [PROSE, documents.IMAGE_MARKER, PROSE2]
    assert json.loads(out["meta"])["dropped_paragraphs"] == {
        "document_filter:boilerplate": 2, "document_filter:garbled": 1, "document_filter:mean_word_len": 1,
        "document_filter:repeated": 1, "document_filter:symbols": 1}
    assert out["quality"]["doc_dropped_paragraphs"] == 6 and len(out["images"]) == 1


@pytest.mark.parametrize(("config", "parts", "lang", "why"), [
    (DocumentFilterConfig(max_images=2), [PROSE, *[(png(100, 100, i), {}) for i in range(3)]], None,
     "too_many_images"),
    (DocumentFilterConfig(min_images=1), [PROSE, (png(16, 16, 1), {})], None, "too_few_images"),
    (DocumentFilterConfig(min_words=50), [PROSE, (png(100, 100, 1), {})], None, "too_few_words"),
    (DocumentFilterConfig(max_words=10), [PROSE, (png(100, 100, 1), {})], None, "too_many_words"),
    (DocumentFilterConfig(), [(png(16, 16, 1), {})], None, "empty"),
    (DocumentFilterConfig(languages=("en",)), [CHINESE, (png(99, 99, 1), {})],
     None, "lang_zh"),  # no lang filter ran: the filter identifies the language itself
    (DocumentFilterConfig(languages=("en", "zh")), [PROSE, (png(99, 99, 1), {})], "fr", "lang_fr"),
    (DocumentFilterConfig(languages=("en",)), [PROSE, (png(99, 99, 1), {})], "en", None),
])
def test_document_rules_set_keep_and_drop_reason(config, parts, lang, why):
    out = run(DocumentFilter(config), document(parts, lang=lang))[0]
    assert out["keep"] is (why is None)
    assert out["drop_reason"] == (f"document_filter:{why}" if why else None)


def test_a_document_left_without_images_is_kept_only_as_good_text():
    short = document(["Read the story.", (png(16, 16, 1), {"url": "icon.png"})], doc_id="short")
    prose = document([PROSE, PROSE2, (png(16, 16, 1), {"url": "icon.png"})], doc_id="prose")
    pictured = document(["Read the story.", (png(120, 90, 1), {"url": "photo.png"})], doc_id="pictured")
    rows = run(DocumentFilter(DocumentFilterConfig(min_words=0)), short, prose, pictured)
    assert [len(r["images"]) for r in rows] == [0, 0, 1] and all(r["kind"] == "document" for r in rows)
    rows = run(TextFilter(), *rows)
    # No image left: every text rule applies (too short goes); with an image only the garbled rule.
    assert [(r["keep"], r["drop_reason"]) for r in rows] == [
        (False, "text_filter:too_short"), (True, None), (True, None)]
    assert rows[1]["quality"]["words"] > 50 and rows[2]["quality"]["words"] is None


def test_text_rules_and_language_read_the_text_without_markers():
    imgs = [(png(100, 100, i), {}) for i in range(40)]
    row = document([CHINESE, *imgs])
    lang = LangFilter()
    lang.setup()
    out = run(lang, row)[0]
    assert out["lang"] == "zh" and out["keep"] is True
    out = run(TextFilter(), document([PROSE, *imgs[:3], PROSE2]))[0]
    assert out["keep"] is True and out["quality"]["garbled_frac"] == 0.0


def test_pii_scrubbing_keeps_every_marker_in_place():
    row = document(["Write to anna.berg@example.org or call +44 20 7946 0958.",
                    (png(100, 100, 1), {"url": "a.png", "alt": "mail anna.berg@example.org",
                                        "caption": "Figure 1: call 415-555-0100"}),
                    "<image> is written literally here, and the server is 192.168.10.20 today.", PROSE])
    out = run(PiiScrubber(), row)[0]
    paras = documents.paragraphs(out["text"])
    assert paras[0] == "Write to <EMAIL> or call <PHONE>." and paras[1] == documents.IMAGE_MARKER
    assert paras[2] == "<image > is written literally here, and the server is <IP> today."  # defused, not a marker
    meta = json.loads(out["meta"])
    assert meta["images"][0]["alt"] == "mail <EMAIL>" and meta["images"][0]["caption"] == "Figure 1: call <PHONE>"
    assert meta["pii"] == {"email": 2, "ip": 1, "phone": 2} and out["images"] == row["images"]


def test_image_agreement_and_quality_filters_treat_documents_right():
    row = document([PROSE, (png(16, 16, 1), {}), PROSE2])
    out = run(ImageFilter(), row)[0]  # no `image` column value: not the image filter's
    assert out["keep"] is True and out["quality"]["megapixels"] is None
    quality = QualityFilter()
    quality.setup()
    bad = document(["click here click here buy now cheap cheap cheap click here login register cart"] * 1)
    out = run(quality, row, bad)
    assert out[0]["quality"]["quality_prob"] is not None and out[0]["keep"] is True
    assert out[1]["quality"]["quality_prob"] is not None  # a text document: the classifier decides


def test_tagger_instructions_and_grounding_pass_documents():
    row = document([PROSE, (png(100, 100, 1), {}), PROSE2])
    tagger = Tagger(TaggerConfig(classify=False))
    tagger.setup()
    out = run(tagger, row)
    assert out[0]["tags"] == []
    out = run(InstructionBuilder(), out[0])
    assert out[0]["messages"] is None
    grounding = GroundingBuilder()
    out = run(grounding, out[0])
    assert out[0]["text"] == row["text"] and out[0]["messages"] is None
    classified = Tagger()
    classified.preflight()
    classified.setup()
    tagged = run(classified, row)[0]  # the classifier reads the text without markers
    assert all(t != "recognition.ocr_transcription" for t in tagged["tags"])


def test_web_image_caption_samples_follow_the_image_rules_and_pdf_figures_do_not():
    """A captioned <img> of a web page is also a figure sample: a navigation arrow with alt text (192x50)
    goes as its document's copy does; a wide PDF table crop (no `origin: img`) is not judged here."""
    import io

    from PIL import Image

    from pipelines.schema import meta_json

    def png(w: int, h: int) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (w, h), (90, 120, 200)).save(buf, "PNG")
        return buf.getvalue()

    rows = [
        {"id": "nav", "kind": "chart", "image": {"bytes": png(192, 50), "path": None}, "text": "Product Site",
         "meta": meta_json({"origin": "img", "caption_source": "alt"})},
        {"id": "fig", "kind": "figure", "image": {"bytes": png(480, 320), "path": None}, "text": "Figure 1. A map",
         "meta": meta_json({"origin": "img", "caption_source": "title"})},
        {"id": "table", "kind": "figure", "image": {"bytes": png(1365, 329), "path": None}, "text": "Table 1",
         "meta": meta_json({"caption_source": "pdf_caption"})},
    ]
    out = DocumentFilter().process(to_table(rows)).to_pylist()
    verdict = {r["id"]: (r["keep"], r["drop_reason"]) for r in out}
    assert verdict["nav"] == (False, "document_filter:too_small")
    assert verdict["fig"][0] is not False and verdict["table"][0] is not False
