"""The dataset card: every build's folder opens with `datasets.load_dataset(folder)`, its rejects, errors and
duplicates as configs, images decoded, offline; the card says what stats.json and the manifest say."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image

from pipelines import card
from pipelines.config import Config
from pipelines.recipes import build_pipeline
from pipelines.runner import RunOptions, run
from pipelines.shards import read_shards
from tests.pdfs import text_pdf

REPO = Path(__file__).resolve().parents[2]


def front_matter(out: Path) -> dict:
    text = (out / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def load(out: Path, tmp: Path, config: str | None = None, **kw):
    import datasets

    return datasets.load_dataset(str(out), config, split="train", cache_dir=str(tmp / "hf-cache"), **kw)


def build(cfg: Config, out: Path, command: str) -> Path:
    run(build_pipeline(cfg), RunOptions.from_config(cfg, out=out))
    card.write_card(out, command)
    return out


def png(colour: tuple[int, int, int] | None, size: tuple[int, int] = (160, 120)) -> bytes:
    """A picture with boxes on it, or (colour None) a blank one the image filter drops."""
    from PIL import ImageDraw

    im = Image.new("RGB", size, (255, 255, 255))
    if colour:
        d = ImageDraw.Draw(im)
        for k in range(6):
            d.rectangle([10 + 20 * k, 10 + 15 * k, 40 + 20 * k, 30 + 15 * k], fill=(colour[0], 40 * k, colour[2]))
        d.text((8, 95), "a picture with boxes", fill=(0, 0, 0))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


# -- one small build of every source, each with what a real run leaves: rejects, errors, duplicates -----
@pytest.fixture(scope="module")
def pdf_build(tmp_path_factory, ray_session, corpus, bad_pdfs) -> Path:
    """A PDF of the sample corpus with a figure (its document holds an image), a copy of it (duplicates), a
    page too short to keep (a reject), and every kind of broken PDF (errors)."""
    inputs = tmp_path_factory.mktemp("pdf-in")
    shutil.copy(corpus / "field_notes.pdf", inputs / "field_notes.pdf")
    shutil.copy(corpus / "field_notes.pdf", inputs / "field_notes-copy.pdf")
    text_pdf(inputs / "short.pdf", ["Hi."])
    for p in bad_pdfs.values():
        shutil.copy(p, inputs / p.name)
    cfg = Config().replace("run", source="pdf", inputs=(str(inputs),)).replace("ocr", backend="none")
    return build(cfg, tmp_path_factory.mktemp("pdf") / "out", "python -m pipelines.build --source pdf --ocr none")


@pytest.fixture(scope="module")
def chart_build(tmp_path_factory, ray_session) -> Path:
    cfg = Config().replace("run", source="chart").replace("chart", count=20, per_unit=10).replace("ocr",
                                                                                                  backend="none")
    return build(cfg, tmp_path_factory.mktemp("chart") / "out", "python -m pipelines.build --source chart --count 20")


@pytest.fixture(scope="module")
def dataset_build(tmp_path_factory, ray_session) -> Path:
    """Captions: good rows, a blank picture (a reject), rows that cannot be read (errors); a licence."""
    src = tmp_path_factory.mktemp("ds-in")
    (src / "img").mkdir()
    lines = []
    for i in range(6):
        (src / "img" / f"{i}.png").write_bytes(png((40 * i, 0, 200)))
        lines.append(json.dumps({"image": f"img/{i}.png", "text": f"Boxes in a row, picture number {i}."}))
    (src / "img" / "blank.png").write_bytes(png(None))
    lines += [json.dumps({"image": "img/blank.png", "text": "A blank picture."}), "{not json",
              json.dumps({"image": "img/missing.png", "text": "Nobody saved this."})]
    (src / "caps.jsonl").write_text("\n".join(lines) + "\n")
    cfg = (Config().replace("run", source="dataset", inputs=(str(src / "caps.jsonl"),))
           .replace("dataset", name="caps", license="CC-BY-4.0").replace("ocr", backend="none"))
    return build(cfg, tmp_path_factory.mktemp("dataset") / "out",
                 "python -m pipelines.build --source dataset --input caps.jsonl")


@pytest.fixture(scope="module")
def web_build(tmp_path_factory, ray_session) -> Path:
    """Two pages on 127.0.0.1 with a captioned figure each (screenshots, documents, figures), a page whose
    text only repeats itself (a reject) and a broken link (an error)."""
    from sources.web.crawl import CrawlConfig
    from tests.sources.web import docsite
    from tests.sources.web.sites import Reply, Site
    from tests.sources.web.sites import page as plain_page

    def page(n: int) -> Reply:
        return Reply(f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Station {n}</title></head>"
                     f"<body><h1>Station {n}</h1><p>{docsite.TEXT}</p><figure><img src='/img/n/{n}.png'>"
                     f"<figcaption>Figure {n}: Gauge at station {n}.</figcaption></figure><p>More about station "
                     f"{n}.</p><a href='/s{3 - n}'>next</a> <a href='/missing'>gone</a> <a href='/echo'>echo</a>"
                     "</body></html>")

    routes = {"/s1": page(1), "/s2": page(2), "/echo": plain_page("Echo", "the same words again and " * 40)}
    with Site(routes, fallback=docsite.numbered) as site:
        crawl = CrawlConfig(allow_private=True, delay=0.0, timeout=2.0)
        cfg = (Config().replace("run", source="web").replace("ocr", backend="none")
               .replace("web", seeds=(site.url + "/s1",), crawl=crawl, max_tiles=1))
        return build(cfg, tmp_path_factory.mktemp("web") / "out", "python -m pipelines.build --source web")


BUILDS = ["pdf_build", "chart_build", "dataset_build", "web_build"]


@pytest.mark.slow
@pytest.mark.parametrize("name", BUILDS)
def test_every_build_loads_with_datasets_and_its_rejects_errors_and_duplicates(request, tmp_path, name):
    import datasets

    out = request.getfixturevalue(name)
    configs = {c["config_name"]: c for c in front_matter(out)["configs"]}
    tables = {"default": "shards/*.parquet", "rejects": "rejects/*.parquet", "errors": "errors.parquet",
              "duplicates": "duplicates.parquet"}
    rows = {n: sum(pq.read_metadata(f).num_rows for f in out.glob(p)) for n, p in tables.items()}
    assert set(configs) == {n for n, r in rows.items() if r}  # a table with no rows is not a config
    assert configs["default"]["default"] is True
    ds = load(out, tmp_path)
    shards = read_shards(out)
    assert ds.num_rows == shards.num_rows == rows["default"] > 0
    assert ds["id"] == shards.column("id").to_pylist()
    with_image = next(i for i, b in enumerate(shards.column("image").to_pylist()) if b)
    assert isinstance(ds[with_image]["image"], Image.Image)
    for config in set(configs) - {"default"}:
        part = load(out, tmp_path, config)
        assert part.num_rows == rows[config]
        if config == "rejects":
            assert all(part["drop_reason"]) and isinstance(part.features["image"], datasets.Image)
            assert all(isinstance(r["image"], Image.Image) for r in part if r["image"] is not None)
        if config == "errors":
            assert all(part["error_type"]) and all(part["message"])


def test_the_builds_hold_what_the_card_is_tested_on(pdf_build, chart_build, dataset_build, web_build):
    """Rejects, errors and duplicates, and documents, each present somewhere: else the test above proves less."""
    def rows(out: Path, pattern: str) -> int:
        return sum(pq.read_metadata(f).num_rows for f in out.glob(pattern))

    assert rows(pdf_build, "errors.parquet") and rows(pdf_build, "duplicates.parquet")
    assert rows(pdf_build, "rejects/*.parquet") and rows(dataset_build, "rejects/*.parquet")
    assert rows(dataset_build, "errors.parquet") and rows(web_build, "errors.parquet")
    for out in (pdf_build, web_build):
        assert "document" in set(read_shards(out).column("kind").to_pylist())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pdf_build", "web_build"])
def test_a_documents_images_load_as_a_list_of_pictures(request, tmp_path, name):
    out = request.getfixturevalue(name)
    ds = load(out, tmp_path)
    docs = ds.filter(lambda kind: kind == "document", input_columns="kind")
    shards = {r["id"]: r for r in read_shards(out).to_pylist()}
    with_images = [d for d in docs if d["images"]]
    assert with_images
    for d in with_images:
        want = shards[d["id"]]["images"]
        assert len(d["images"]) == len(want) == d["text"].count("<image>")
        assert all(isinstance(im, Image.Image) for im in d["images"])
        assert [im.size for im in d["images"]] == [Image.open(io.BytesIO(w["bytes"])).size for w in want]


@pytest.mark.slow
def test_streaming_reads_the_folder_without_preparing_it(pdf_build, tmp_path):
    stream = load(pdf_build, tmp_path, streaming=True)
    first = read_shards(pdf_build).slice(0, 3).column("id").to_pylist()
    assert [r["id"] for r, _ in zip(stream, range(3), strict=False)] == first


def test_the_card_says_what_stats_and_manifest_say(dataset_build):
    stats = json.loads((dataset_build / "stats.json").read_text())
    manifest = json.loads((dataset_build / "manifest.json").read_text())
    text = (dataset_build / "README.md").read_text()
    meta = front_matter(dataset_build)
    assert meta["license"] == "cc-by-4.0" and "caps" in meta["tags"]
    body = text.split("---\n", 2)[2]
    assert f"**{stats['kept']} samples kept**" in body
    assert f"{stats['dropped']} samples dropped" in body and f"{stats['errors']} failures" in body
    for reason, n in stats["dropped_by_reason"].items():
        assert f"| `{reason}` | {n} |" in body
    for etype, n in stats["errors_by_type"].items():
        assert f"| `{etype}` | {n} |" in body
    f = stats["funnel"]["caps"]
    assert f"| `caps` | {f['in']} | {f['out']} |" in body
    assert manifest["fingerprint"] in body and "licence: CC-BY-4.0" in body
    assert "```bash\npython -m pipelines.build --source dataset --input caps.jsonl\n```" in body
    features = {c["config_name"]: c["features"] for c in meta["dataset_info"]}
    assert {"name": "image", "dtype": "image"} in features["default"]


def test_rewriting_the_card_keeps_the_command_and_a_card_of_someone_elses_is_left_alone(dataset_build, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(dataset_build, out)
    before = (out / "README.md").read_text()
    proc = subprocess.run([sys.executable, "-m", "pipelines.card", str(out)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    after = (out / "README.md").read_text()
    assert front_matter(out) == yaml.safe_load(before.split("---\n")[1])
    command = "```bash\npython -m pipelines.build --source dataset --input caps.jsonl\n```"
    assert command in before and command in after
    (out / "README.md").write_text("# My notes on this dataset\n")
    assert card.write_card(out) is None and (out / "README.md").read_text() == "# My notes on this dataset\n"
    assert card.main([str(tmp_path / "nothing")]) == 2


@pytest.mark.slow
def test_the_build_command_writes_the_card(demo_output, tmp_path):
    """`python -m pipelines.build` (the session's demo build, run as a user runs it) ends with the card."""
    text = (demo_output / "README.md").read_text()
    assert card.MARKER in text and f"python -m pipelines.build --source pdf --out {demo_output}" in text
    assert load(demo_output, tmp_path).num_rows == json.loads((demo_output / "stats.json").read_text())["kept"]
