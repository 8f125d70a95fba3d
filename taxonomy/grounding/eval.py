"""Measure grounding boxes against PyMuPDF's own `search_for` on real PDFs.

    python -m taxonomy.grounding.eval --input manual.pdf [--input other.pdf ...] [--json report.json]

Each PDF goes through the PDF source (rendered pages with their text-layer lines and figures, as a
build makes them) and the grounding stage; then every turn that quotes text (`text`: where is
"…"?, `read`: what is written in this box?) is checked against the rects `page.search_for` finds
for that text, mapped onto the page image the same way (rotation, crop box, zoom). A turn is
`found` when PyMuPDF finds its text on the page, and `overlaps` when each of its boxes has IoU >= 0.5
with one of those rects; `complete` when, besides, every rect found is one of its boxes. Figure and
caption turns are counted, not measured (search_for finds words, not figures).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pymupdf

from sources.pdf import PdfConfig, PdfSource
from taxonomy.grounding.boxes import SCALE, iou, parse
from taxonomy.grounding.stage import GroundingBuilder, GroundingConfig
from taxonomy.grounding.turns import Turn

THRESHOLD = 0.5


def search_boxes(page: pymupdf.Page, text: str, zoom: float, width: int, height: int) -> list[tuple[float, ...]]:
    """Where `page.search_for` finds `text`, as float boxes on the 0-999 scale of the page image. search_for
    gives an occurrence in pieces where the line changes font (a superscript, a formula): pieces that
    follow each other on one line, nearly touching, are joined into the occurrence they are."""
    rects: list[pymupdf.Rect] = []
    for found in page.search_for(text):
        r = pymupdf.Rect(found) * page.rotation_matrix * zoom
        if rects and _same_run(rects[-1], r):
            rects[-1] = pymupdf.Rect(min(rects[-1].x0, r.x0), min(rects[-1].y0, r.y0),
                                     max(rects[-1].x1, r.x1), max(rects[-1].y1, r.y1))
        else:
            rects.append(r)
    return [(r.x0 / width * SCALE, r.y0 / height * SCALE, r.x1 / width * SCALE, r.y1 / height * SCALE)
            for r in rects]


def _same_run(a: pymupdf.Rect, b: pymupdf.Rect) -> bool:
    """b continues a on the same line: their heights overlap by half the smaller one and the gap between
    them is under a third of a line's height (a space between words is wider)."""
    shared = min(a.y1, b.y1) - max(a.y0, b.y0)
    tall = min(a.height, b.height)
    gap = b.x0 - a.x1
    return tall > 0 and shared >= 0.5 * tall and -1 <= gap < 0.3 * max(a.height, b.height)


def check_turn(page: pymupdf.Page, row: dict[str, Any], turn: Turn) -> dict[str, Any]:
    """One turn measured: its task, text, boxes and, for turns that quote text, the best IoU of each box
    with what search_for finds, and the verdicts."""
    boxes = parse(turn.request if turn.task == "read" else turn.answer)[0][1]
    out: dict[str, Any] = {"task": turn.task, "text": turn.text, "boxes": [list(b) for b in boxes]}
    if turn.task not in ("text", "read"):
        return out
    zoom = json.loads(row["meta"])["dpi"] / 72
    hits = search_boxes(page, turn.text, zoom, row["width"], row["height"])
    best = [max((iou(b, h) for h in hits), default=0.0) for b in boxes]
    out.update(found=bool(hits), hits=len(hits), iou=[round(v, 3) for v in best],
               overlaps=bool(hits) and all(v >= THRESHOLD for v in best),
               complete=bool(hits) and all(max(iou(b, h) for b in boxes) >= THRESHOLD for h in hits))
    return out


def measure(pdf: Path, config: GroundingConfig | None = None, dpi: int = 144) -> dict[str, Any]:
    """Every grounding turn the build writes for `pdf`'s pages, measured (see the module's docstring)."""
    source = PdfSource(replace(PdfConfig(), dpi=dpi, text_samples=False))
    stage = GroundingBuilder(config or GroundingConfig())
    turns: list[dict[str, Any]] = []
    pages = 0
    with pymupdf.open(pdf) as doc:
        for unit in source.plan([str(pdf)]):
            for row in source.expand(unit):
                if row.get("kind") != "page" or row.get("_error"):
                    continue
                pages += 1
                meta = json.loads(row["meta"])
                page = doc.load_page(meta["page"] - 1)
                chosen, _ = stage.turns(row, meta)
                turns += [{"page": meta["page"], **check_turn(page, row, t)} for t in chosen]
    return summarise(pdf.name, pages, turns)


def summarise(name: str, pages: int, turns: list[dict[str, Any]]) -> dict[str, Any]:
    measured = [t for t in turns if t.get("found")]
    overlaps = sum(t["overlaps"] for t in measured)
    return {"pdf": name, "pages": pages, "turns": len(turns), "by_task": dict(Counter(t["task"] for t in turns)),
            "measured": len(measured), "not_found": sum(t.get("found") is False for t in turns),
            "overlaps": overlaps, "overlap_share": round(overlaps / len(measured), 4) if measured else None,
            "complete": sum(t["complete"] for t in measured),
            "misses": [t for t in measured if not t["overlaps"]][:20], "turns_detail": turns}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m taxonomy.grounding.eval", description=__doc__.split("\n")[0])
    p.add_argument("--input", action="append", required=True, type=Path, help="a PDF (repeatable)")
    p.add_argument("--dpi", type=int, default=PdfConfig().dpi)
    p.add_argument("--max-turns", type=int, default=GroundingConfig().max_turns)
    p.add_argument("--json", type=Path, help="write the full report (every turn) here")
    args = p.parse_args(argv)
    missing = [str(f) for f in args.input if not f.is_file()]
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    config = replace(GroundingConfig(), max_turns=args.max_turns)
    reports = [measure(f, config, args.dpi) for f in args.input]
    for r in reports:
        share = "-" if r["overlap_share"] is None else f"{r['overlap_share']:.3f}"
        print(f"{r['pdf']}: {r['pages']} pages, {r['turns']} grounding turns {r['by_task']}; "
              f"{r['measured']} found by search_for ({r['not_found']} not), IoU >= {THRESHOLD}: {r['overlaps']} "
              f"({share}), every occurrence boxed: {r['complete']}")
    measured = sum(r["measured"] for r in reports)
    total = sum(r["overlaps"] for r in reports)
    print(f"all: {sum(r['turns'] for r in reports)} turns, {measured} measured, "
          f"{total / measured if measured else 0:.3f} with IoU >= {THRESHOLD}")
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
