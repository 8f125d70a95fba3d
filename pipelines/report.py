"""`python -m pipelines.report OUT [--open]`: a dataset card for one run, as one self-contained HTML page.

    python -m pipelines.report out/pdf          # writes out/pdf/report.html
    python -m pipelines.report out/pdf --open   # and opens it in the default browser

The page shows the run's settings and versions, the funnel from inputs to kept samples, counts per
source, kind, language and use-case tag, histograms of image sizes, OCR confidence and quality
scores, thumbnails per kind and per tag (a few with their OCR boxes drawn; an image-caption
sample names its caption's source), a few interleaved documents as they read (their text with each
image inline where its marker stands, captioned), a page with its grounding boxes drawn and its
grounding turns listed, some rejected samples with their reasons, and the error table. Charts are
drawn with matplotlib and every image is inlined as a data URI, so the file works offline, e-mailed
or archived. Numbers come from stats.json; distributions read only the columns they need, from at
most `MAX_ROWS` samples, and thumbnails and documents come from the first `SCAN_ROWS` rows of the
shards (and of the rejects).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import re
import sys
import webbrowser
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw, ImageFont

from pipelines.documents import is_marker, paragraphs
from pipelines.schema import DOCUMENT_KIND

MAX_ROWS = 200_000  # rows read for the distributions
SCAN_ROWS = 20_000  # rows (with images) looked through for thumbnails, OCR examples and rejects
THUMBS_PER_GROUP = 4
THUMB_SIDE = 320
DOCUMENTS_SHOWN = 3  # interleaved documents shown whole
DOC_PARAGRAPHS = 60  # paragraphs (markers included) shown of each; the rest is counted
INLINE_SIDE = 240  # an inline image's longest side


def headline_scores() -> tuple[str, ...]:
    """The scores the card plots: each registered stage's first declared score (a new filter's shows up
    by itself), besides the OCR confidence, which has a plot of its own."""
    from pipelines import registry

    firsts = (e.scores[0] for e in registry.entries("stage") if e.scores)
    return tuple(dict.fromkeys(s for s in firsts if s != "ocr_conf"))



def build_report(out: str | Path) -> Path:
    """Write `out/report.html` for a finished run and return its path."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    out = Path(out)
    if not (out / "stats.json").is_file():
        raise FileNotFoundError(f"{out} holds no finished run (no stats.json): run python -m pipelines.build first")
    stats = json.loads((out / "stats.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").is_file() else {}
    shards = sorted((out / "shards").glob("*.parquet"))
    rejects = sorted((out / "rejects").glob("*.parquet"))
    errors = pq.read_table(out / "errors.parquet") if (out / "errors.parquet").is_file() else None
    columns = _columns(shards, ["kind", "width", "height", "quality", "tags"])
    sections = [
        _header(out, stats, manifest),
        _section("Funnel", _funnel_chart(stats)),
        _section("Counts", _counts_charts(stats)),
        _section("Distributions", _histograms(columns)),
        _section("Samples by kind", _thumb_groups(shards, "kind")),
        _section("Samples by use-case tag", _thumb_groups(shards, "tags")),
        _section("Documents as they read", _documents(shards)),
        _section("OCR lines on a few pages", _ocr_examples(shards)),
        _section("Grounding boxes on a page", _grounding_examples(shards)),
        _section("Rejected samples", _rejected(rejects)),
        _section("Errors", _errors_table(errors)),
    ]
    page = _PAGE.format(title=html.escape(f"vlforge report: {out.resolve().name}"), body="\n".join(sections),
                        side=INLINE_SIDE)
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


# -- data ---------------------------------------------------------------------------------------
def _columns(files: list[Path], names: list[str]) -> pa.Table:
    tables, rows = [], 0
    for f in files:
        if rows >= MAX_ROWS:
            break
        t = pq.read_table(f, columns=names)
        tables.append(t)
        rows += t.num_rows
    return pa.concat_tables(tables).slice(0, MAX_ROWS) if tables else pa.table({n: [] for n in names})


def _iter_rows(files: list[Path], columns: list[str] | None = None, batch: int = 64):
    """Rows one at a time, a row group at a time, so image bytes of a big shard are never all in memory;
    at most `SCAN_ROWS`, so picking thumbnails never reads every image of a large run."""
    seen = 0
    for f in files:
        pf = pq.ParquetFile(f)
        present = None if columns is None else [c for c in columns if c in pf.schema_arrow.names]  # older shards
        for b in pf.iter_batches(batch_size=batch, columns=present):
            yield from b.to_pylist()
            seen += b.num_rows
            if seen >= SCAN_ROWS:
                return


# -- html pieces --------------------------------------------------------------------------------
def _section(title: str, body: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{body}</section>"


def _stat(name: str, value: Any) -> str:
    return f'<div class="stat"><span class="n" data-stat="{name}">{value}</span><span>{html.escape(name)}</span></div>'


def _header(out: Path, stats: dict, manifest: dict) -> str:
    dedup = stats.get("dedup", {}).get("duplicates", 0)
    numbers = "".join(_stat(k, stats.get(k, 0)) for k in ("inputs", "items", "kept", "dropped", "errors", "shards"))
    numbers += _stat("duplicates", dedup)
    versions = manifest.get("versions", {})
    config = json.dumps(manifest.get("config", {}), indent=1, ensure_ascii=False)
    run = stats.get("this_run", {})
    created, finished = (html.escape(str(manifest.get(k, "?"))) for k in ("created", "finished"))
    return (f"<h1>vlforge run report</h1><p class='muted'>{html.escape(str(out.resolve()))} · created "
            f"{created} · finished {finished}"
            f" · {run.get('items_per_second', 0)} {html.escape(str(stats.get('item_name', 'items')))}/s</p>"
            f"<div class='stats'>{numbers}</div>"
            f"<details><summary>versions</summary><pre>{html.escape(json.dumps(versions, indent=1))}</pre></details>"
            f"<details><summary>configuration (fingerprint {html.escape(str(manifest.get('fingerprint', '')))})"
            f"</summary><pre>{html.escape(config)}</pre></details>")


def _img(data: bytes, mime: str = "image/png", alt: str = "", cls: str = "") -> str:
    return (f'<img class="{cls}" alt="{html.escape(alt)}" '
            f'src="data:{mime};base64,{base64.b64encode(data).decode()}">')


def _figure(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return _img(buf.getvalue(), alt="chart", cls="chart")


def _bar(counts: dict[str, int], title: str, color: str = "#4878a8"):
    import matplotlib.pyplot as plt

    items = sorted(counts.items(), key=lambda kv: -kv[1])[:25]
    fig, ax = plt.subplots(figsize=(5, 0.35 * max(len(items), 2) + 0.8))
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color=color)
    for y, (_, v) in enumerate(items[::-1]):
        ax.text(v, y, f" {v}", va="center", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _funnel_chart(stats: dict) -> str:
    funnel = stats.get("funnel", {})
    if not funnel:
        return "<p class='muted'>no funnel in stats.json</p>"
    parts = []
    for source, f in sorted(funnel.items()):
        steps = {"in": f["in"], **{f"- {k}": v for k, v in f["dropped"].items()}}
        if f.get("errors"):
            steps["- errors"] = f["errors"]
        steps["out"] = f["out"]
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 0.35 * len(steps) + 0.8))
        names = list(steps)[::-1]
        colors = ["#2a7a3a" if n == "out" else "#4878a8" if n == "in" else "#c05040" for n in names]
        ax.barh(names, [steps[n] for n in names], color=colors)
        for y, n in enumerate(names):
            ax.text(steps[n], y, f" {steps[n]}", va="center", fontsize=8)
        ax.set_title(f"{source}: samples in, dropped by reason, out", fontsize=10)
        ax.tick_params(labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        parts.append(_figure(fig))
    return "".join(parts)


def _counts_charts(stats: dict) -> str:
    charts = []
    for key, title in (("kept_by_source", "kept by source"), ("kept_by_kind", "kept by kind"),
                       ("kept_by_lang", "kept by language"), ("kept_by_tag", "kept by use-case tag"),
                       ("dropped_by_reason", "dropped by reason"), ("errors_by_type", "errors by type")):
        counts = stats.get(key) or {}
        if counts:
            charts.append(_figure(_bar(counts, title)))
    return "<div class='grid'>" + "".join(charts) + "</div>" if charts else "<p class='muted'>nothing kept</p>"


def _histograms(columns: pa.Table) -> str:
    import matplotlib.pyplot as plt

    rows = columns.to_pylist()
    scores = headline_scores()
    series: dict[str, list[float]] = {}
    for r in rows:
        if r.get("width") and r.get("height"):
            series.setdefault("image width (px)", []).append(r["width"])
            series.setdefault("image height (px)", []).append(r["height"])
        q = r.get("quality") or {}
        if q.get("ocr_conf") is not None:
            series.setdefault("OCR confidence", []).append(q["ocr_conf"])
        for name in scores:
            if q.get(name) is not None:
                series.setdefault(f"quality.{name}", []).append(q[name])
    if not series:
        return "<p class='muted'>no scores to show</p>"
    figs = []
    for name, values in series.items():
        fig, ax = plt.subplots(figsize=(3.4, 2.2))
        ax.hist(values, bins=min(30, max(5, len(set(values)))), color="#4878a8")
        ax.set_title(f"{name} (n={len(values)})", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
        figs.append(_figure(fig))
    return "<div class='grid'>" + "".join(figs) + "</div>"


def _thumb(image_bytes: bytes, ocr: list[dict] | None = None, side: int = THUMB_SIDE, cls: str = "thumb") -> str:
    try:
        with Image.open(io.BytesIO(image_bytes)) as im:
            im = im.convert("RGB")
    except Exception:  # noqa: BLE001 - one bad image is a note on its card, never a failed report
        return "<div class='noimg'>image does not decode</div>"
    if ocr:
        draw = ImageDraw.Draw(im)
        for line in ocr:
            box = line.get("box") or []
            if len(box) == 8:
                draw.polygon([(box[i], box[i + 1]) for i in range(0, 8, 2)], outline=(220, 40, 40),
                             width=max(2, im.width // 400))
    im.thumbnail((side, side))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80)
    return _img(buf.getvalue(), "image/jpeg", alt="sample", cls=cls)


def _meta(row: dict) -> dict:
    try:
        meta = json.loads(row.get("meta") or "{}")
    except (TypeError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _card(row: dict, ocr: bool = False, why: str | None = None) -> str:
    image = (row.get("image") or {}).get("bytes")
    images = [im for im in row.get("images") or [] if im and im.get("bytes")]
    if not image and images:  # a document: its first image, and how many it has
        image = images[0]["bytes"]
    visual = _thumb(image, row.get("ocr") if ocr else None) if image else "<div class='noimg'>text only</div>"
    text = row.get("text") or row.get("ocr_text") or ""
    if row.get("kind") == DOCUMENT_KIND:
        text = " ".join("[image]" if is_marker(p) else p for p in paragraphs(text))
    text = text.strip().replace("\n", " ")
    tags = ", ".join(row.get("tags") or [])
    reason = f"<div class='why'>{html.escape(why)}</div>" if why else ""
    source = _meta(row).get("caption_source")
    caption = f"<div class='src'>caption from {html.escape(str(source))}</div>" if source else ""
    count = f" · {_count(len(images), 'image')}" if images else ""
    return (f"<figure>{visual}<figcaption><b>{html.escape(str(row.get('kind')))}</b>{count} · "
            f"{html.escape(str(row.get('lang') or ''))} · {html.escape(Path(str(row.get('uri') or '')).name)} "
            f"{html.escape(str(row.get('locator') or ''))}{reason}<div class='tags'>{html.escape(tags)}</div>"
            f"{caption}<div class='text'>{html.escape(text[:240])}</div></figcaption></figure>")


_CARD_COLUMNS = ["kind", "lang", "uri", "locator", "image", "images", "text", "ocr_text", "ocr", "tags",
                 "drop_reason", "meta"]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _documents(files: list[Path], n: int = DOCUMENTS_SHOWN) -> str:
    """The first `n` documents with images, each as it reads: its paragraphs in order, every image
    inline where its marker stands, with its caption (and where the caption came from) or alt text."""
    shown = []
    for row in _iter_rows(files, _CARD_COLUMNS):
        if row.get("kind") == DOCUMENT_KIND and row.get("images"):
            shown.append(_document(row))
            if len(shown) >= n:
                break
    if not shown:
        return "<p class='muted'>no interleaved documents in this run</p>"
    return "".join(shown)


def _document(row: dict) -> str:
    meta = _meta(row)
    infos = meta.get("images") if isinstance(meta.get("images"), list) else []
    images = row.get("images") or []
    headings = meta.get("headings") if isinstance(meta.get("headings"), list) else []
    title = meta.get("title") or (headings[0] if headings else "") or str(row.get("uri") or "") or "(untitled)"
    parts, k = [], 0
    paras = paragraphs(row.get("text"))
    for p in paras[:DOC_PARAGRAPHS]:
        if not is_marker(p):
            parts.append(f"<p>{html.escape(p)}</p>")
            continue
        data = (images[k] or {}).get("bytes") if k < len(images) else None
        info = infos[k] if k < len(infos) and isinstance(infos[k], dict) else {}
        visual = _thumb(data, side=INLINE_SIDE, cls="inline-img") if data else "<div class='noimg'>no image</div>"
        words = info.get("caption") or info.get("alt") or ""
        source = info.get("caption_source") or ("alt" if info.get("alt") and not info.get("caption") else "")
        size = f"{info['width']}×{info['height']} px" if info.get("width") and info.get("height") else ""
        note = " · ".join(x for x in (f"image {k + 1}", size, f"caption from {source}" if source and words else "")
                          if x)
        parts.append(f"<figure class='inline' data-image='{k}'>{visual}<figcaption>{html.escape(str(words))}"
                     f"<div class='muted'>{html.escape(note)}</div></figcaption></figure>")
        k += 1
    rest = paras[DOC_PARAGRAPHS:]
    if rest:
        more = sum(1 for p in rest if is_marker(p))
        parts.append(f"<p class='muted'>… {len(rest) - more} more paragraphs and {more} more images</p>")
    where = f"{row.get('uri') or ''} {row.get('locator') or ''}".strip()
    return (f"<article class='doc'><h3>{html.escape(str(title))}</h3><p class='muted'>{html.escape(where)} · "
            f"{html.escape(str(row.get('lang') or ''))} · {_count(len(images), 'image')}</p>{''.join(parts)}</article>")


def _thumb_groups(files: list[Path], by: str) -> str:
    groups: dict[str, list[dict]] = {}
    for row in _iter_rows(files, _CARD_COLUMNS):
        keys = (row.get("tags") or ["(untagged)"]) if by == "tags" else [str(row.get(by))]
        for key in keys:
            group = groups.setdefault(key, [])
            if len(group) < THUMBS_PER_GROUP:
                group.append(row)
        if len(groups) > 40 and all(len(g) >= THUMBS_PER_GROUP for g in groups.values()):
            break
    if not groups:
        return "<p class='muted'>no samples</p>"
    return "".join(f"<h3>{html.escape(k)}</h3><div class='cards'>{''.join(_card(r) for r in rows)}</div>"
                   for k, rows in sorted(groups.items()))


def _ocr_examples(files: list[Path], n: int = 3) -> str:
    cards = []
    for row in _iter_rows(files, _CARD_COLUMNS):
        if row.get("ocr") and (row.get("image") or {}).get("bytes"):
            cards.append(_card(row, ocr=True))
            if len(cards) >= n:
                break
    if not cards:
        return "<p class='muted'>no OCR lines in this run</p>"
    return f"<div class='cards big'>{''.join(cards)}</div>"


# Grounding turns as the shards write them (DeepSeek-VL2): <|ref|>text<|/ref|><|det|>[[x1, y1, x2, y2], ...]<|/det|>,
# integers on a 0-999 scale of the image's width and height.
_DET = re.compile(r"<\|det\|>(.*?)<\|/det\|>", re.S)
_REF = re.compile(r"<\|ref\|>(.*?)<\|/ref\|>", re.S)
_BOX = re.compile(r"\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]")
_PALETTE = ((220, 40, 40), (30, 120, 220), (20, 150, 60), (200, 120, 0), (150, 60, 190), (0, 150, 150))


def _grounding_turns(messages: list[dict] | None) -> list[tuple[str, str, str, list[tuple[int, ...]]]]:
    """(question, answer, label, boxes on the 0-999 scale) of each turn that holds boxes: the boxes of the
    answer, labelled by its <|ref|> text, or those of the question (region reading), labelled by the answer."""
    turns = messages or []
    out = []
    for q, a in zip(turns[0::2], turns[1::2], strict=False):
        question, answer = q.get("content") or "", a.get("content") or ""
        for content, fallback in ((answer, ""), (question, answer)):
            found = _DET.search(content)
            if found:
                ref = _REF.search(content)
                boxes = [tuple(int(v) for v in b) for b in _BOX.findall(found.group(1))]
                out.append((question, answer, ref.group(1) if ref else fallback, boxes))
                break
    return out


def _grounding_examples(files: list[Path], n: int = 1, side: int = 720) -> str:
    """The first `n` samples with grounding turns: the image with every box drawn and labelled, and the turns."""
    cards = []
    for row in _iter_rows(files, _CARD_COLUMNS + ["messages"]):
        turns = _grounding_turns(row.get("messages"))
        image = (row.get("image") or {}).get("bytes")
        if not turns or not image:
            continue
        with Image.open(io.BytesIO(image)) as im:
            im = im.convert("RGB")
        im.thumbnail((side, side))
        draw, font = ImageDraw.Draw(im), ImageFont.load_default()
        listed = []
        for i, (question, answer, label, boxes) in enumerate(turns):
            colour = _PALETTE[i % len(_PALETTE)]
            for x0, y0, x1, y1 in boxes:
                box = (x0 * im.width / 999, y0 * im.height / 999, x1 * im.width / 999, y1 * im.height / 999)
                draw.rectangle(box, outline=colour, width=2)
                draw.text((box[0], max(0, box[1] - 11)), f"{i + 1} {label[:40]}", fill=colour, font=font)
            listed.append(f"<li style='color:rgb{colour}'>{html.escape(question)} → {html.escape(answer[:200])}</li>")
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85)
        cards.append(f"<figure class='wide'>{_img(buf.getvalue(), 'image/jpeg', 'grounding boxes', 'thumb')}"
                     f"<figcaption><b>{html.escape(str(row.get('kind')))}</b> · "
                     f"{html.escape(Path(str(row.get('uri') or '')).name)} {html.escape(str(row.get('locator') or ''))}"
                     f"<ol>{''.join(listed)}</ol></figcaption></figure>")
        if len(cards) >= n:
            break
    if not cards:
        return "<p class='muted'>no grounding turns in this run</p>"
    return f"<div class='cards'>{''.join(cards)}</div>"


def _rejected(files: list[Path], per_reason: int = 2) -> str:
    seen: Counter[str] = Counter()
    cards = []
    for row in _iter_rows(files, _CARD_COLUMNS):
        reason = str(row.get("drop_reason"))
        group = "duplicate" if reason.startswith("duplicate_of:") else reason
        if seen[group] < per_reason:
            seen[group] += 1
            cards.append(_card(row, why=reason))
    return f"<div class='cards'>{''.join(cards)}</div>" if cards else "<p class='muted'>nothing was rejected</p>"


def _errors_table(errors: pa.Table | None) -> str:
    if errors is None or errors.num_rows == 0:
        return "<p class='muted'>no errors</p>"
    cols = ["uri", "locator", "stage", "error_type", "message"]
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in cols) + "</tr>"
                   for r in errors.select(cols).slice(0, 500).to_pylist())
    more = f"<p class='muted'>first 500 of {errors.num_rows}</p>" if errors.num_rows > 500 else ""
    return f"<table><tr>{head}</tr>{body}</table>{more}"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; }}
h1 {{ margin-bottom: 4px; }} h2 {{ border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 32px; }}
.muted {{ color: #777; }} pre {{ background: #f6f6f6; padding: 8px; overflow: auto; max-height: 360px; }}
.stats {{ display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0; }}
.stat {{ background: #f3f6fa; border-radius: 6px; padding: 8px 14px; display: flex; flex-direction: column; }}
.stat .n {{ font-size: 22px; font-weight: 600; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 8px; }} .chart {{ max-width: 100%; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 12px; }} .cards.big figure {{ width: 360px; }}
.cards figure.wide {{ width: 740px; }}
figure {{ margin: 0; width: 260px; border: 1px solid #e3e3e3; border-radius: 6px; padding: 6px; }}
.thumb {{ max-width: 100%; display: block; margin: auto; }} figcaption {{ font-size: 12px; }}
.text {{ color: #555; }} .tags {{ color: #2a6a9a; }} .src {{ color: #6a4a9a; }}
article.doc {{ border: 1px solid #e3e3e3; border-radius: 6px; padding: 8px 16px; margin: 12px 0; max-width: 760px; }}
article.doc figure.inline {{ width: auto; margin: 8px 0; border: none; padding: 0; }}
.inline-img {{ max-width: {side}px; max-height: {side}px; display: block; }}
.why {{ color: #b03020; font-weight: 600; }}
.noimg {{ height: 80px; display: flex; align-items: center; justify-content: center; background: #f6f6f6; }}
table {{ border-collapse: collapse; font-size: 12px; }} td, th {{ border: 1px solid #ddd; padding: 4px 6px; }}
</style></head><body>
{body}
</body></html>
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipelines.report", description=__doc__.split("\n")[0])
    p.add_argument("out", help="a run's output folder (the build's --out)")
    p.add_argument("--open", action="store_true", help="open the report in the default browser")
    args = p.parse_args(argv)
    try:
        path = build_report(args.out)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"report: {path.resolve()}")
    if args.open:
        webbrowser.open(path.resolve().as_uri())
    return 0


if __name__ == "__main__":
    sys.exit(main())
