"""Dedup of interleaved documents: whole documents by their text, and boilerplate (a logo, a footer)
shared by too many documents removed from every one of them, through the runner on Ray and resumed."""

from __future__ import annotations

import hashlib
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filters.dedup.config import DedupConfig
from filters.dedup.stage import Dedup
from filters.document import DocumentFilter
from pipelines import documents
from pipelines.runner import Pipeline, RunOptions, run
from pipelines.schema import SIG_COL, to_table
from pipelines.shards import read_shards
from pipelines.stage import Source, Unit
from tests.filters.docs_helpers import document, png

LOGO = png(120, 80, 999)
FOOTER = "Mill Press, 12 River Lane. Sitemap, contact and opening hours of the mill museum."
TOPICS = ["bread", "water", "stone", "wheat", "barley", "oats", "rye", "millet", "spelt", "corn", "rice", "sorghum",
          "buckwheat", "quinoa"]


def article(i: int, with_logo: bool = True) -> dict:
    """A page of the site: the logo, a photo of its own, its own text and the site's footer."""
    topic = TOPICS[i]
    body = (f"This page tells the story of {topic} at the mill: how the {topic} arrived by cart from farm number "
            f"{i}, how it was weighed, stored in the loft and ground between the stones into flour for {i + 2} "
            f"bakeries in the valley.")
    parts = [(LOGO, {"url": "/logo.png"})] if with_logo else []
    parts += [f"The {topic} page", body, (png(160, 120, i), {"url": f"/photo{i}.png", "caption": topic}), FOOTER]
    return document(parts, doc_id=f"doc{i:02d}")


def sigs_of(rows: list[dict], config: DedupConfig) -> pa.Table:
    stage = Dedup(config)
    table = stage.process(to_table(rows))
    sig = table.column(SIG_COL).combine_chunks()
    return pa.table({"id": table.column("id"), "source": table.column("source"), "kind": table.column("kind"),
                     **{f.name: sig.field(f.name) for f in sig.type}, "row": pa.array(range(len(rows)), pa.int64())})


def decide(rows: list[dict], config: DedupConfig) -> pa.Table:
    sigs = sigs_of(rows, config)
    stage = Dedup(config)
    return stage.resolve(sigs, stage.pairs(stage.keys(sigs)))


def test_an_image_or_paragraph_in_more_than_max_docs_documents_is_an_edit_for_each():
    rows = [article(i) for i in range(12)]
    decisions = decide(rows, DedupConfig(max_image_docs=10, max_paragraph_docs=10))
    edits = decisions.filter(pa.compute.equal(decisions.column("action"), "edit")).to_pylist()
    logo = hashlib.sha256(LOGO).hexdigest()
    assert {(e["method"], e["target"]) for e in edits} == {
        ("boilerplate_image", logo), ("boilerplate_paragraph", groups_hash(FOOTER))}
    assert sorted(e["id"] for e in edits) == sorted([r["id"] for r in rows] * 2)
    assert {e["docs"] for e in edits} == {12}
    # At the limit nothing is boilerplate: 10 documents may share an image.
    assert decide(rows[:10], DedupConfig()).num_rows == 0
    # pHash: the logo re-encoded as JPEG on some pages still counts as the same image.
    mixed = [article(i) for i in range(12)]
    jpeg = png(120, 80, 999, fmt="JPEG")
    for r in mixed[6:]:
        r["images"][0] = {"bytes": jpeg, "path": None}
    edits = decide(mixed, DedupConfig()).to_pylist()
    targets = {e["target"] for e in edits if e["method"] == "boilerplate_image"}
    assert targets == {logo, hashlib.sha256(jpeg).hexdigest()} and len(edits) == 24


def groups_hash(text: str) -> str:
    from filters.dedup.signatures import paragraph_hash

    return paragraph_hash(text).hex()


def test_edit_removes_boilerplate_keeping_markers_and_records_it_and_is_idempotent():
    rows = [article(i) for i in range(12)]
    stage = Dedup(DedupConfig())
    decisions = decide(rows, DedupConfig())
    edits: dict[str, list] = {}
    for d in decisions.to_pylist():
        edits.setdefault(d["id"], []).append(d)
    table = to_table(rows).select(stage_columns())
    edited, counts = stage.edit(table, edits)
    assert counts == {"documents": 12, "images": 12, "paragraphs": 12}
    for before, after in zip(rows, edited.to_pylist(), strict=True):
        meta = json.loads(after["meta"])
        documents.check(after["text"], after["images"], meta["images"])
        assert [i["url"] for i in meta["images"]] == [json.loads(before["meta"])["images"][1]["url"]]
        assert FOOTER not in after["text"] and after["text"].startswith("The ")
        assert [(d["url"], d["reason"], d["docs"]) for d in meta["dropped_images"]] == \
            [("/logo.png", "dedup:boilerplate_image", 12)]
        assert meta["dropped_paragraphs"] == {"dedup:boilerplate_paragraph": 1}
        assert meta["dedup"] == {"boilerplate_images": 1, "boilerplate_paragraphs": 1}
    again, counts = stage.edit(edited, edits)
    assert counts == {} and again.to_pylist() == edited.to_pylist()


def stage_columns() -> list[str]:
    from pipelines.schema import sample_schema

    return sample_schema().names


def test_whole_documents_dedup_by_their_text_without_markers():
    a = article(0)
    b = dict(article(0, with_logo=False), id="copy")  # the same text, one image fewer
    decisions = decide([a, b, article(1)], DedupConfig()).to_pylist()
    drops = [d for d in decisions if d["action"] == "drop"]
    # The copy with more image pixels is kept.
    assert [(d["id"], d["duplicate_of"], d["method"]) for d in drops] == [("copy", "doc00", "exact_text")]


def test_a_document_and_a_text_sample_with_the_same_text_are_not_copies():
    doc = article(0)
    text = {"id": "text0", "source": "test", "kind": "text", "uri": "doc/doc00", "locator": "0", "keep": True,
            "text": documents.plain_text(doc["text"])}
    assert decide([doc, text], DedupConfig()).num_rows == 0


# -- through the runner, on Ray ----------------------------------------------------------------------
class Site(Source):
    """`n` documents of one site, one unit each: every page shows the logo and ends with the footer."""

    name = "site"
    version = "1"

    def __init__(self, n: int = 13):
        self.n, self.config = n, n

    def plan(self, inputs, limit=None):
        return [Unit(f"site#{i}", "site", 1, {"i": i}) for i in range(self.n)]

    def expand(self, unit):
        yield article(unit.params["i"])


class FailingDedup(Dedup):
    """Dedup killed while rewriting: it fails on the shard that holds one document."""

    def edit(self, rows, edits):
        if "doc07" in rows.column("id").to_pylist():
            raise RuntimeError("killed")
        return super().edit(rows, edits)


def build(out, stage: Dedup | None = None):
    pipeline = Pipeline(Site(), [DocumentFilter(), stage or Dedup(DedupConfig())])
    return run(pipeline, RunOptions(out=out, fingerprint="site", shard_rows=4))


def content(out) -> dict[str, tuple]:
    rows = read_shards(out).to_pylist()
    return {r["id"]: (r["text"], [hashlib.sha256(i["bytes"]).hexdigest() for i in r["images"]], r["meta"])
            for r in rows}


@pytest.mark.usefixtures("ray_session")
def test_logo_and_footer_leave_every_document_of_a_run_and_a_killed_pass_resumes_to_the_same(tmp_path):
    result = build(tmp_path / "a")
    rows = read_shards(tmp_path / "a").to_pylist()
    logo = hashlib.sha256(LOGO).hexdigest()
    assert len(rows) == 13 and len({r["id"] for r in rows}) == 13
    for r in rows:
        meta = json.loads(r["meta"])
        documents.check(r["text"], r["images"], meta["images"])
        assert len(r["images"]) == 1 and hashlib.sha256(r["images"][0]["bytes"]).hexdigest() != logo
        assert FOOTER not in r["text"] and documents.marker_count(r["text"]) == 1
        assert meta["dedup"] == {"boilerplate_images": 1, "boilerplate_paragraphs": 1}
    decisions = pq.read_table(tmp_path / "a" / "duplicates.parquet").to_pylist()
    assert {(d["method"], d["action"]) for d in decisions} == {("boilerplate_image", "edit"),
                                                                ("boilerplate_paragraph", "edit")}
    assert len(decisions) == 26 and {d["docs"] for d in decisions} == {13}
    assert result.stats["dedup"]["edited"] == {"documents": 13, "images": 13, "paragraphs": 13}
    assert result.stats["dedup"]["boilerplate"] == {"documents": 13, "images": 1, "paragraphs": 1}
    assert result.stats["kept"] == 13 and result.stats["dedup"]["duplicates"] == 0
    assert result.stats["stages"]["dedup"]["dropped"] == 0
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert sum(s["rows"] for s in manifest["shards"]) == 13
    expected = content(tmp_path / "a")

    # Killed in the rewrite: some shards edited, the one holding doc07 not; the rerun completes it.
    with pytest.raises(Exception, match="killed"):
        build(tmp_path / "b", FailingDedup(DedupConfig()))
    assert not json.loads((tmp_path / "b" / ".global" / "state.json").read_text()).get("complete")
    again = build(tmp_path / "b")
    assert content(tmp_path / "b") == expected
    assert again.stats["dedup"]["edited"] == result.stats["dedup"]["edited"]
    assert pq.read_table(tmp_path / "b" / "duplicates.parquet").to_pylist() == decisions
    # Forget that the pass completed (killed after the last rewrite): rerunning changes nothing.
    shutil.copytree(tmp_path / "a", tmp_path / "c")
    (tmp_path / "c" / ".global" / "state.json").unlink()
    third = build(tmp_path / "c")
    assert content(tmp_path / "c") == expected and third.stats["dedup"]["edited"] == result.stats["dedup"]["edited"]


def test_a_document_left_with_nothing_moves_to_the_rejects_and_the_rewrite_is_idempotent(tmp_path):
    from pipelines.schema import sample_schema
    from pipelines.shards import remove_rows

    only = document([(LOGO, {"url": "/logo.png"}), FOOTER], doc_id="only_boilerplate")
    rows = [article(i) for i in range(12)] + [only]
    edits: dict[str, list] = {}
    for d in decide(rows, DedupConfig()).to_pylist():
        edits.setdefault(d["id"], []).append(d)
    assert len(edits["only_boilerplate"]) == 2
    (tmp_path / "shards").mkdir()
    pq.write_table(to_table(rows[10:], sample_schema()), tmp_path / "shards" / "part-00000.parquet")
    stage = Dedup(DedupConfig())
    first = remove_rows(str(tmp_path), "part-00000.parquet", {}, True, "dedup", edits=edits, edit=stage.edit)
    assert first["rows"] == 2 and first["edited"] == {"documents": 3, "emptied": 1, "images": 3, "paragraphs": 3}
    assert first["removed"]["dropped_by_reason"] == {"boilerplate_only": 1}
    rejected = read_shards(tmp_path, "rejects").to_pylist()
    assert [(r["id"], r["drop_reason"], r["keep"]) for r in rejected] == [("only_boilerplate", "boilerplate_only",
                                                                          False)]
    again = remove_rows(str(tmp_path), "part-00000.parquet", {}, True, "dedup", edits=edits, edit=stage.edit)
    assert again == first
