"""Write notebooks/inspect.ipynb, the notebook that explores a run's output.

The notebook is generated so that it stays reviewable as code: edit the cells here, then run

    python notebooks/make_inspect.py            # or: ... make_inspect.py OTHER.ipynb to write elsewhere

The output is deterministic (fixed cell ids, no outputs, no execution counts), so rerunning it without
edits leaves the .ipynb byte for byte the same. tests/test_notebook.py executes the notebook on the
demo output.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOK = Path(__file__).resolve().with_name("inspect.ipynb")

# (cell id, "md" or "code", source). Ids are fixed so the file is the same on every run.
CELLS: list[tuple[str, str, str]] = [
    ("title", "md", """\
# Inspect a vlforge run

A look at what one run produced: the kept samples (loaded with Hugging Face `datasets`), counts and
the funnel from `stats.json`, a grid of sample images, interleaved documents as they read (text with
their images inline), OCR boxes over a page, a chart with its table, samples of one use-case tag
with their instruction turns, and what was rejected and why.

It only reads the output folder; nothing is downloaded and nothing is written to it."""),
    ("where-md", "md", """\
## Which output

`OUT` is the run's `--out` folder. It defaults to `out/pdf`, where the README's main job
(`python -m pipelines.build --source pdf`) writes. To look at another run, either start Jupyter with
the variable set (`VLFORGE_OUT=data/pdf jupyter lab`) or edit the next cell. A relative path is read
from the repository root (or from `notebooks/`, where Jupyter starts the kernel)."""),
    ("out", "code", """\
import os

OUT = os.environ.get("VLFORGE_OUT", "out/pdf")"""),
    ("setup", "code", """\
%matplotlib inline
import csv
import io
import json
import textwrap
from collections import Counter
from itertools import zip_longest
from pathlib import Path

import datasets
import matplotlib.pyplot as plt
import pyarrow.parquet as pq
from matplotlib import font_manager
from matplotlib.patches import Polygon

out = Path(OUT)
if not out.is_absolute() and not out.exists() and (Path("..") / out).exists():
    out = Path("..") / out  # Jupyter started the kernel in notebooks/
assert (out / "shards").is_dir(), f"no shards/ in {out.resolve()}: run python -m pipelines.build --source pdf first"

# Chinese titles need a CJK font; without one matplotlib draws boxes (and warns), which is harmless.
cjk = sorted(f.name for f in font_manager.fontManager.ttflist if "CJK" in f.name)
plt.rcParams["font.sans-serif"] = cjk[:1] + plt.rcParams["font.sans-serif"]
print(out.resolve())"""),
    ("load-md", "md", """\
## The kept samples

Every shard has the one sample schema (`pipelines/schema.py`); its metadata declares `image` as a
Hugging Face `Image` feature, so `image` decodes to a PIL image (and `images`, an interleaved
document's images, to a list of them)."""),
    ("load", "code", """\
ds = datasets.load_dataset("parquet", data_files=f"{out}/shards/*.parquet", split="train")
print(ds)
ds.features["image"]"""),
    ("counts-md", "md", """\
## Counts

Rows by kind, language and use-case tag (`tags` is a list: a sample counts once under each of its
tags). Reading single columns never decodes an image."""),
    ("counts", "code", """\
def show_counts(title, counter):
    print(title)
    for key, n in counter.most_common():
        print(f"  {key!s:<44} {n:>7}")
    print()


kinds = list(ds["kind"])
show_counts(f"{len(ds)} rows by kind", Counter(kinds))
show_counts("rows by lang", Counter(ds["lang"]))
tags = list(ds["tags"])
show_counts(f"rows by tag ({sum(not t for t in tags)} rows untagged)", Counter(t for ts in tags for t in ts or []))"""),
    ("funnel-md", "md", """\
## stats.json and the funnel

`stats.json` is written at the end of the run. The funnel follows each source's samples from `in`
through every drop reason and error to `out` (kept)."""),
    ("funnel", "code", """\
stats = json.loads((out / "stats.json").read_text())
for key in ("inputs", "items", "kept", "dropped", "errors", "shards"):
    print(f"{key:<10} {stats.get(key)}")
print()
for source, f in sorted(stats.get("funnel", {}).items()):
    print(f"funnel of source {source!r}")
    print(f"  {'in':<42} {f['in']:>7}")
    for reason, n in sorted(f["dropped"].items()):
        print(f"  - {reason:<40} {n:>7}")
    if f["errors"]:
        print(f"  - {'errors':<40} {f['errors']:>7}")
    print(f"  {'out':<42} {f['out']:>7}")"""),
    ("grid-md", "md", """\
## A sample grid

A few images of each kind, titled with the first line of the sample's text; an image-caption
sample (`figure`, `chart`) also says where its caption came from (`meta.caption_source`: figcaption,
title, alt, pdf_caption). Kinds without images (`text` samples) are listed instead; documents have a
section of their own below."""),
    ("grid", "code", """\
PER_KIND = 3
picks = {}  # kind -> row indices of samples with an image (width is null where there is no image)
for i, (kind, width) in enumerate(zip(kinds, ds["width"], strict=True)):
    if kind != "document" and width and len(picks.setdefault(kind, [])) < PER_KIND:
        picks[kind].append(i)
print("kinds without images:", sorted(set(kinds) - set(picks) - {"document"}) or "none")

if picks:
    fig, axes = plt.subplots(len(picks), PER_KIND, figsize=(4 * PER_KIND, 5.5 * len(picks)), squeeze=False)
    for row, (kind, rows) in zip(axes, sorted(picks.items()), strict=True):
        for ax, i in zip_longest(row, rows):
            ax.axis("off")
            if i is not None:
                s = ds[i]
                first = next((ln for ln in (s["text"] or s["ocr_text"] or "").splitlines() if ln.strip()), "")
                ax.imshow(s["image"])
                title = first if len(first) <= 50 else first[:49] + "…"
                source = json.loads(s["meta"] or "{}").get("caption_source")
                ax.set_title(f"{kind}: {title or '(no text)'}" + (f"\\n(caption from {source})" if source else ""),
                             fontsize=9)
    plt.tight_layout()
    plt.show()"""),
    ("docs-md", "md", """\
## Documents as they read

A `document` sample is an interleaved image-text document (a web page, an EPUB chapter, a section of
a PDF): `text` holds its paragraphs separated by blank lines, and each image is a paragraph that is
exactly `<image>`, standing for the next entry of `images`. `meta.images` says per image where it
came from, its caption and the caption's source. The first documents are drawn below as they read,
each image inline at its marker with its caption."""),
    ("docs", "code", """\
import base64
import html

from IPython.display import HTML, display

SHOW_DOCS = 2
docs = [i for i, kind in enumerate(kinds) if kind == "document"]
doc_texts = ds.select(docs)["text"] if docs else []
docs = [i for _, i in sorted(zip(["<image>" not in (t or "") for t in doc_texts], docs, strict=True))]  # images first


def inline_img(image, side=240):
    image = image.convert("RGB")
    image.thumbnail((side, side))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=80)
    return f'<img src="data:image/jpeg;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def as_it_reads(s):
    \"\"\"A document's HTML: its paragraphs in order, each image inline where its marker stands.\"\"\"
    meta = json.loads(s["meta"] or "{}")
    infos, images = meta.get("images") or [], s["images"] or []
    parts, k = [f"<h3>{html.escape(meta.get('title') or s['uri'])}</h3>"], 0
    for p in (s["text"] or "").split("\\n\\n"):
        if p == "<image>":
            info = infos[k] if k < len(infos) else {}
            caption = info.get("caption") or info.get("alt") or ""
            source = f" (from {info['caption_source']})" if caption and info.get("caption_source") else ""
            image = inline_img(images[k]) if k < len(images) else "(missing image)"
            parts.append(f"<figure>{image}<figcaption>{html.escape(caption)}{source}</figcaption></figure>")
            k += 1
        elif p:
            parts.append(f"<p>{html.escape(p)}</p>")
    return "".join(parts), k


if not docs:
    print("this output has no interleaved documents (the web source and PDF documents produce them)")
else:
    print(f"{len(docs)} documents; the first {min(SHOW_DOCS, len(docs))} as they read:")
    for i in docs[:SHOW_DOCS]:
        page, shown = as_it_reads(ds[i])
        print(f"{ds[i]['uri']}: {shown} image{'' if shown == 1 else 's'} inline")
        display(HTML(page))"""),
    ("ocr-md", "md", """\
## OCR boxes over a page

Each OCR line is `{text, score, box}`, `box` being the quadrilateral `x0,y0,…,x3,y3` in pixels of
the sample's image. The first page with OCR lines is drawn with every box outlined."""),
    ("ocr", "code", """\
with_ocr = [i for i, lines in enumerate(ds["ocr"]) if lines]
ocr_idx = next((i for i in with_ocr if kinds[i] == "page"), with_ocr[0] if with_ocr else None)
if ocr_idx is None:
    print("no OCR lines in this output (was it built with --ocr none?)")
else:
    s = ds[ocr_idx]
    image, lines = s["image"], s["ocr"]
    fig, ax = plt.subplots(figsize=(8, 8 * image.height / image.width))
    ax.imshow(image)
    for line in lines:
        box = line["box"]
        ax.add_patch(Polygon(list(zip(box[0::2], box[1::2], strict=True)), fill=False, edgecolor="red", lw=1))
    mean_score = sum(line["score"] for line in lines) / len(lines)
    ax.set_title(f"{Path(s['uri']).name} {s['locator']}: {len(lines)} lines, mean score {mean_score:.2f}")
    ax.axis("off")
    plt.show()
    for line in lines[:5]:
        print(f"{line['score']:.2f}  {line['text']}")"""),
    ("chart-md", "md", """\
## A chart with its table

Samples of kind `chart` carry their data as CSV in `table` and the code that drew them in `code`.
The PDF corpus has none; the charts source (`--source chart`) produces them."""),
    ("chart", "code", """\
chart_idx = [i for i, kind in enumerate(kinds) if kind == "chart"]
if not chart_idx:
    print("this output has no chart samples (the charts source, --source chart, produces them)")
else:
    s = ds[chart_idx[0]]
    print(f"{len(chart_idx)} chart samples; the first:")
    plt.figure(figsize=(6, 6 * s["image"].height / s["image"].width))
    plt.imshow(s["image"])
    plt.axis("off")
    plt.show()
    table = list(csv.reader(io.StringIO(s["table"] or "")))
    if table:
        widths = [max(len(r[c]) for r in table if len(r) > c) for c in range(max(map(len, table)))]
        for r in table:
            print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=False)))
    print("\\n" + (s["code"] or "(no code)"))"""),
    ("tag-md", "md", """\
## Samples of one use case

`tags` holds use-case ids from `taxonomy/taxonomy.toml`; the `instructions` stage turns the tags a
sample's own ground truth supports into `messages` (a user request and the verbatim answer).
Filtering on the `tags` column alone keeps images from being decoded."""),
    ("tag", "code", """\
TAG = "recognition.ocr_transcription"
tagged = ds.filter(lambda tags: TAG in (tags or []), input_columns="tags")
print(f"{len(tagged)} of {len(ds)} samples tagged {TAG}\\n")
if len(tagged):
    s = tagged[0]
    print(f"{s['kind']} {Path(s['uri']).name} {s['locator']}, tags {s['tags']}\\n")
    for m in s["messages"] or []:
        content = m["content"] if len(m["content"]) <= 400 else m["content"][:400] + " …"
        print(f"[{m['role']}]\\n{content}\\n")"""),
    ("rejects-md", "md", """\
## Rejected samples and errors

Samples a filter dropped are in `rejects/part-*.parquet`, duplicates the dedup pass moved out in
`rejects/dedup-part-*.parquet`, each with `drop_reason` (duplicates as `duplicate_of:<id>`, counted
together here). Inputs that could not be processed are in `errors.parquet`."""),
    ("rejects", "code", """\
reject_files = sorted((out / "rejects").glob("*.parquet"))
if not reject_files:
    print("no rejects/ in this output: nothing was dropped, or the run used --no-rejects")
else:
    reasons = Counter()
    for f in reject_files:
        for r in pq.read_table(f, columns=["drop_reason"]).column("drop_reason").to_pylist():
            reasons["duplicate_of:<id>" if r and r.startswith("duplicate_of:") else r] += 1
    show_counts(f"{reasons.total()} rejected samples by drop_reason", reasons)

if (out / "errors.parquet").exists():
    errors = pq.read_table(out / "errors.parquet", columns=["stage", "error_type", "message"]).to_pylist()
    show_counts(f"{len(errors)} errors by stage and type", Counter(f"{e['stage']}: {e['error_type']}" for e in errors))
    for e in errors[:3]:
        print(textwrap.shorten(e["message"] or "", 150))"""),
]


def build() -> nbformat.NotebookNode:
    cells = []
    for cell_id, kind, source in CELLS:
        cell = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
        cell.id = cell_id
        cells.append(cell)
    return new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv else NOTEBOOK
    nb = build()
    nbformat.validate(nb)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
