"""Dedup decisions on real renders and texts, without Ray: the runner's shuffle is one partition here."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pymupdf
import pytest

from filters.dedup.config import DedupConfig
from filters.dedup.groups import band_keys, candidate_pairs, resolve, text_bands
from filters.dedup.signatures import shingles
from filters.dedup.stage import Dedup
from pipelines.schema import SIG_COL, SIG_SCHEMA, to_table
from pipelines.stage import ConfigError

PARAGRAPH = ("The committee met on a wet Tuesday morning to review the harbour project. After a long discussion "
             "of costs, tides and the old sea wall, members agreed that the northern pier would be rebuilt first, "
             "while the southern basin waits for a survey of its silt. The engineer promised a revised schedule "
             "before the spring tides, and the treasurer asked for monthly reports on spending against budget.")


def render(pdf, page: int, dpi: int) -> dict:
    pix = pdf[page].get_pixmap(dpi=dpi)
    return {"bytes": pix.tobytes("png"), "path": None}, pix.width, pix.height


def page_row(sid: str, pdf, page: int, dpi: int = 144) -> dict:
    img, w, h = render(pdf, page, dpi)
    return {"id": sid, "source": "pdf", "kind": "page", "image": img, "width": w, "height": h,
            "text": pdf[page].get_text(), "keep": True}


def text_row(sid: str, text: str) -> dict:
    return {"id": sid, "source": "pdf", "kind": "text", "text": text, "keep": True}


def decide(rows: list[dict], config: DedupConfig | None = None) -> dict[str, tuple[str, str]]:
    """Run the whole dedup path on rows: signatures, keys, one 'shuffled' partition, resolve."""
    stage = Dedup(config)
    out = stage.process(to_table(rows)).to_pylist()
    signed = [r for r in out if r[SIG_COL] is not None]
    sigs = pa.Table.from_pylist([{"id": r["id"], "source": r["source"], "kind": r["kind"], **r[SIG_COL]}
                                 for r in signed], schema=SIG_SCHEMA)
    sigs = sigs.append_column("row", pa.array(range(sigs.num_rows), pa.int64()))
    keys = pa.concat_tables([stage.keys(sigs.slice(i, 3)) for i in range(0, sigs.num_rows, 3)])  # blocks
    decisions = stage.resolve(sigs, stage.pairs(keys))
    return {d["id"]: (d["duplicate_of"], d["method"]) for d in decisions.to_pylist()}


@pytest.fixture(scope="module")
def report(corpus):
    return pymupdf.open(corpus / "annual_report.pdf")


def test_the_same_page_twice_is_an_exact_duplicate_and_the_kept_copy_is_fixed(report):
    rows = [page_row("b", report, 0), page_row("a", report, 0), page_row("c", report, 1)]
    assert decide(rows) == {"b": ("a", "exact_image")}
    assert decide(list(reversed(rows))) == {"b": ("a", "exact_image")}  # order of arrival does not matter


def test_a_page_rendered_at_another_dpi_is_a_near_duplicate_and_the_larger_render_is_kept(report):
    rows = [page_row("small", report, 1, dpi=110), page_row("large", report, 1, dpi=150),
            page_row("other", report, 2)]
    assert decide(rows) == {"small": ("large", "near_image")}


def test_distinct_pages_of_one_document_are_not_duplicates(report, corpus):
    notes = pymupdf.open(corpus / "field_notes.pdf")
    rows = [page_row(f"r{i}", report, i) for i in range(3)] + [page_row(f"n{i}", notes, i) for i in range(2)]
    assert decide(rows) == {}


def test_a_lightly_edited_paragraph_is_a_near_duplicate_and_a_different_one_is_not():
    edited = PARAGRAPH.replace("wet Tuesday", "rainy Tuesday")  # word 5-gram Jaccard 0.85
    other = ("Bees returned to the orchard in April, later than in any year the keepers can remember. Their "
             "hives had wintered well, yet the cold nights of March kept the foragers home until the plum trees "
             "were already past their best bloom, and the honey harvest is expected to be small.")
    rows = [text_row("t1", PARAGRAPH), text_row("t2", edited), text_row("t3", other)]
    got = decide(rows)
    assert set(got) == {"t2"} or set(got) == {"t1"}
    assert next(iter(got.values()))[1] == "near_text"
    # Exact text duplicates ignore case and whitespace.
    assert decide([text_row("x", PARAGRAPH), text_row("y", "  " + PARAGRAPH.upper().replace(" ", "\n "))]) == {
        "y": ("x", "exact_text")}


def test_the_threshold_is_configurable():
    edited = " ".join(w if i % 9 else w.upper() + "s" for i, w in enumerate(PARAGRAPH.split()))
    rows = [text_row("t1", PARAGRAPH), text_row("t2", edited)]
    # Every ninth word changed: the pair is ~0.31 similar on word 5-grams. The longer text (the edited one) is kept.
    assert decide(rows, DedupConfig(text_threshold=0.3)) == {"t1": ("t2", "near_text")}
    assert decide(rows, DedupConfig(text_threshold=0.95)) == {}


def test_dropped_samples_take_no_part_and_groups_are_transitive(report):
    a, b, c = page_row("a", report, 0), page_row("b", report, 0), page_row("c", report, 0)
    dropped = dict(page_row("0", report, 0), keep=False)
    assert decide([a, b, c, dropped]) == {"b": ("a", "exact_image"), "c": ("a", "exact_image")}


def test_band_keys_find_every_pair_within_the_distance():
    """Pigeonhole: hashes at most max_phash_distance bits apart always share a band."""
    import numpy as np

    rng = np.random.default_rng(0)
    cfg = DedupConfig(max_phash_distance=8)
    base = rng.integers(0, 2, 256, dtype=np.uint8)
    rows = []
    for i in range(40):
        bits = base.copy()
        bits[rng.choice(256, size=int(rng.integers(0, 9)), replace=False)] ^= 1
        rows.append({"id": f"i{i}", "source": "s", "kind": "page", "area": 100, "text_len": 0,
                     "phash": np.packbits(bits).tobytes()})
    sigs = pa.Table.from_pylist(rows, schema=SIG_SCHEMA).append_column("row", pa.array(range(40), pa.int64()))
    pairs = candidate_pairs(band_keys(sigs, cfg), cfg)
    found = set(zip(pairs.column("a").to_pylist(), pairs.column("b").to_pylist(), strict=True))
    bits = np.unpackbits(np.frombuffer(b"".join(r["phash"] for r in rows), np.uint8).reshape(40, 32), axis=1)
    close = [(i, j) for i in range(40) for j in range(i + 1, 40) if (bits[i] != bits[j]).sum() <= 8]
    assert close and all(p in found for p in close)
    far = [(i, j) for i in range(40) for j in range(i + 1, 40) if (bits[i] != bits[j]).sum() > 8]
    linked = resolve(sigs, pairs, cfg)
    assert far and linked.num_rows == 39  # all hang together through close pairs; one copy is kept


def test_image_pages_with_different_text_are_not_merged_by_a_close_phash(report):
    """Two pages of one template (same picture, other words) stay apart when both carry text."""
    a = page_row("a", report, 0)
    b = dict(page_row("b", report, 0, dpi=143), text="Entirely different words on this copy of the page, "
             "which a reader would never confuse with the first one at all, not even briefly.")
    assert decide([a, b]) == {}
    assert decide([a, dict(b, text=a["text"])]) == {"b": ("a", "near_image")}


def test_pages_with_little_text_are_merged_only_when_their_words_are_the_same(tmp_path):
    from tests.pdfs import text_pdf

    doc = pymupdf.open(text_pdf(tmp_path / "t.pdf", ["Harbour water rose in July.", "Harbour water fell in May.",
                                                     "Harbour water rose in July."]))
    rows = [page_row(f"p{i}", doc, i) for i in range(3)]
    assert decide(rows) == {"p2": ("p0", "exact_image")}
    rows[2] = page_row("p2", doc, 2, dpi=140)
    assert decide(rows) == {"p2": ("p0", "near_image")}  # the larger render is kept


def test_one_figure_captioned_in_two_languages_is_two_samples_and_a_repeat_is_one(report):
    """A translated site serves the same picture under an English and a Chinese caption: two image-caption
    pairs. The same picture with the same caption on another page is a copy."""
    img, w, h = render(report, 1, 72)

    def fig(sid: str, caption: str) -> dict:
        return {"id": sid, "source": "web", "kind": "figure", "image": img, "width": w, "height": h,
                "text": caption, "keep": True}

    decided = decide([fig("en", "Figure 3.1. Coexistence of Debian with other systems"),
                      fig("zh", "图 3.1. Debian 与其它系统的共存"),
                      fig("en-again", "Figure 3.1. Coexistence of Debian with other systems")])
    assert set(decided) == {"en-again"} and decided["en-again"][0] == "en"


def test_near_copies_of_text_in_two_languages_are_kept_both():
    """A translated page that kept its English commands and names can share most shingles with the
    original; the language filter put them in two languages, so both stay. The same pair in one language
    is a near copy."""
    base = " ".join(f"apt-get install package{i} then run dpkg --configure for service{i}." for i in range(30))
    variant = base.replace("service29.", "service29, 然后重启。")
    en = {**text_row("en", base), "lang": "en"}
    zh = {**text_row("zh", variant), "lang": "zh"}
    assert decide([en, zh]) == {}
    same = {**text_row("en2", variant), "lang": "en"}
    assert len(decide([en, same])) == 1


def _doc_passages() -> list[str]:
    """Real documentation prose (tests/filters/data/README.md), the passages of at least 120 words."""
    lines = (Path(__file__).parent / "data" / "python_doc_passages.jsonl").read_text().splitlines()
    return [t for t in (json.loads(line)["text"] for line in lines) if len(t.split()) >= 120]


def _jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a, 5), shingles(b, 5)
    return len(sa & sb) / len(sa | sb)


def _cut_to(text: str, target: float) -> str:
    """The longest head of the text whose word 5-gram Jaccard with the whole is at most `target`."""
    words = text.split(" ")
    m = len(words)
    while m > 10 and _jaccard(text, " ".join(words[:m])) > target:
        m -= 1
    return " ".join(words[:m])


def test_a_pair_at_true_jaccard_084_is_caught_and_one_at_07_is_not_merged_even_when_minhash_collides():
    text = _doc_passages()[0]
    near, far = _cut_to(text, 0.845), _cut_to(text, 0.70)
    assert 0.83 <= _jaccard(text, near) <= 0.845 and 0.68 <= _jaccard(text, far) <= 0.70
    assert decide([text_row("a", text), text_row("b", near)]) == {"b": ("a", "near_text")}
    # The far pair, with b's MinHash made a's: every LSH band collides and the estimate says 1.0, but the
    # shingle hashes say 0.7, under the 0.8 threshold.
    stage = Dedup()
    out = stage.process(to_table([text_row("a", text), text_row("c", far)])).to_pylist()
    out[1][SIG_COL]["minhash"] = out[0][SIG_COL]["minhash"]
    sigs = pa.Table.from_pylist([{"id": r["id"], "source": r["source"], "kind": r["kind"], **r[SIG_COL]}
                                 for r in out], schema=SIG_SCHEMA)
    sigs = sigs.append_column("row", pa.array(range(sigs.num_rows), pa.int64()))
    pairs = stage.pairs(stage.keys(sigs))
    assert pairs.num_rows == text_bands(DedupConfig())[0]  # a candidate in every band...
    assert stage.resolve(sigs, pairs).num_rows == 0  # ...verified and rejected


def test_the_text_bands_catch_a_pair_at_the_threshold_with_high_probability():
    for threshold in (0.5, 0.7, 0.8, 0.9):
        b, r = text_bands(DedupConfig(text_threshold=threshold))
        assert b * r <= 128 and 1 - (1 - threshold ** r) ** b >= 0.99


BOILERPLATE = ("Navigation\nindex | modules | next | previous |\n\n", "\n\n© Copyright 2001-2023, Python Software "
               "Foundation.\nThis page is licensed under the Python Software Foundation License Version 2.\n"
               "Found a bug?\nCreated using Sphinx 5.3.0.")


def test_the_clean_original_is_kept_over_its_copy_with_boilerplate_lines():
    texts = [t for t in _doc_passages() if _jaccard(t, BOILERPLATE[0] + t + BOILERPLATE[1]) >= 0.82][:5]
    rows, copies = [], {}
    for i, text in enumerate(texts):
        # Ids that would make the copy win every other tie: "a..." sorts first and the copy is longer.
        rows += [text_row(f"b{i}", text), text_row(f"a{i}", BOILERPLATE[0] + text + BOILERPLATE[1])]
        copies[f"a{i}"] = f"b{i}"
    assert len(copies) == 5 and {k: v[0] for k, v in decide(rows).items()} == copies
    # "longest" keeps the copy with the boilerplate: the old rule, still available.
    assert {k: v[0] for k, v in decide(rows, DedupConfig(keep="longest")).items()} == {v: k for k, v in copies.items()}


def test_keep_quality_prefers_the_better_quality_prob_then_the_longer_text_and_first_keeps_run_order():
    text = _doc_passages()[1]
    cut = _cut_to(text, 0.9)

    def scored(sid: str, body: str, prob: float) -> dict:
        return {**text_row(sid, body), "quality": {"quality_prob": prob}}

    # Within one step of quality_prob (0.1), the whole text beats its truncated copy...
    assert decide([scored("a", cut, 0.82), scored("b", text, 0.80)]) == {"a": ("b", "near_text")}
    # ...and a clearly better score wins over length.
    assert decide([scored("a", cut, 0.95), scored("b", text, 0.60)]) == {"b": ("a", "near_text")}
    # "first" keeps the first row of the run, whatever its score.
    assert decide([scored("b", text, 0.1), scored("a", cut, 0.95)], DedupConfig(keep="first")) == {
        "a": ("b", "near_text")}


def test_an_unknown_keep_rule_is_a_config_error():
    with pytest.raises(ConfigError, match="keep"):
        DedupConfig(keep="newest").validate()
