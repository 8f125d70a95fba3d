"""`python -m annotators.ocr.eval --input PDFS [--pages N] [--json FILE] [--ocr BACKEND] [--worst]`: OCR accuracy.

Renders pages that have a text layer exactly as the PDF source does, reads them (as upright pages)
with the chosen OCR backend in reading order, and reports the character error rate against the text
layer (`annotators.ocr.cer`: typography, dot leaders and whitespace forgiven) per document and
overall. The same measure is each sample's `quality.ocr_cer` in a build, where a high value flags an
image-text mismatch.

`--pages N` scores N pages spread evenly over each document (the first pages of a manual are its title
and contents, not its typical page) and renders only those; `--worst` prints, for each document, the
words that differ on its worst page.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from annotators.ocr.backend import OcrConfig
from annotators.ocr.cer import edit_distance, normalise
from annotators.ocr.stage import OcrStage
from pipelines.stage import InputError, StageUnavailable, Unit
from sources.pdf import EMBEDDED_CORPUS, PdfConfig, PdfSource, find_pdfs, open_pdf


def spread(count: int, n: int | None) -> list[int]:
    """`n` page indices spread evenly over `count` pages (the middle of each of n equal stretches, so
    neither the title page nor the last page unless n is close to count); every page when n is None."""
    if n is None or n >= count:
        return list(range(count))
    return [int((k + 0.5) * count / n) for k in range(n)]


def pages_to_score(path: Path, n: int | None) -> list[int]:
    """The pages (0-based) `evaluate` reads: `spread` over the document, each moved on to the next page
    with a text layer (and not already chosen) where it has none."""
    with open_pdf(path) as doc:
        has_text = [None] * doc.page_count  # looked up lazily: a long manual is not read through

        def text_layer(i: int) -> bool:
            if has_text[i] is None:
                has_text[i] = bool(normalise(doc.load_page(i).get_text("text")))
            return has_text[i]

        chosen: list[int] = []
        for i in spread(doc.page_count, n):
            i = max(i, chosen[-1] + 1) if chosen else i
            while i < doc.page_count and not text_layer(i):
                i += 1
            if i < doc.page_count:
                chosen.append(i)
        return chosen


def evaluate(inputs: list[str], backend: str = "rapidocr", pages: int | None = None, dpi: int = 144,
             threads: int = 2) -> dict[str, Any]:
    """CER of `backend` on `pages` text-layer pages spread over each input PDF (all of them when None)."""
    stage = OcrStage(OcrConfig(backend=backend))
    stage.resources = dataclasses.replace(stage.resources, num_cpus=threads)  # the backend's threads
    stage.setup()
    source = PdfSource(PdfConfig(dpi=dpi, text_samples=False, figures=False))
    documents, total_edits, total_chars, seconds = [], 0, 0, 0.0
    for file in find_pdfs(inputs):
        try:
            numbers = pages_to_score(file.path, pages)
        except InputError:
            continue  # unreadable: nothing to measure
        scored = []
        for number in numbers:
            unit = Unit(f"{file.uri}#pages={number}-{number + 1}", file.uri, 1,
                        {"path": str(file.path), "start": number, "end": number + 1})
            for row in source.expand(unit):
                if row.get("kind") != "page":
                    continue  # a failure row: the page would not render
                t = time.perf_counter()
                hyp = "\n".join(line.text for line in stage.read(row["image"]["bytes"], upright=True))
                seconds += time.perf_counter() - t
                scored.append({"page": number + 1, "chars": len(normalise(row["text"])),
                               "edits": edit_distance(row["text"], hyp), "reference": row["text"], "ocr": hyp})
        chars = sum(p["chars"] for p in scored)
        if chars:
            edits = sum(p["edits"] for p in scored)
            documents.append({"uri": file.uri, "pages": len(scored), "chars": chars, "cer": edits / chars,
                              "page_scores": scored})
            total_edits, total_chars = total_edits + edits, total_chars + chars
    total_pages = sum(d["pages"] for d in documents)
    return {"backend": stage.backend.version(), "overall_cer": total_edits / total_chars if total_chars else 0.0,
            "pages": total_pages, "seconds_per_page": seconds / total_pages if total_pages else 0.0,
            "documents": documents}


def word_diff(reference: str, hypothesis: str) -> list[str]:
    """The normalised words that differ, as "-ref" / "+ocr" runs (what a person reads to see why)."""
    ref, hyp = normalise(reference).split(), normalise(hypothesis).split()
    out = []
    for op, i0, i1, j0, j1 in difflib.SequenceMatcher(None, ref, hyp, autojunk=False).get_opcodes():
        if op != "equal":
            out.append(f"-[{' '.join(ref[i0:i1])}] +[{' '.join(hyp[j0:j1])}]")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m annotators.ocr.eval", description=__doc__.split("\n")[0])
    p.add_argument("--input", action="append", metavar="PATH", help="PDF file or folder; default: the embedded corpus")
    p.add_argument("--pages", type=int, metavar="N", help="N pages per document, spread evenly over it")
    p.add_argument("--json", metavar="FILE", help="write the result (with each page's texts) as JSON")
    p.add_argument("--ocr", default="rapidocr", choices=("rapidocr", "tesseract", "paddleocr"))
    p.add_argument("--dpi", type=int, default=144)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--worst", action="store_true", help="print the differing words of each document's worst page")
    args = p.parse_args(argv)
    inputs = args.input or [str(EMBEDDED_CORPUS)]
    try:
        result = evaluate(inputs, args.ocr, args.pages, args.dpi, args.threads)
    except (FileNotFoundError, StageUnavailable) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    table = Table(title=f"OCR character error rate ({result['backend']})", title_justify="left")
    for col in ("document", "pages", "CER", "worst page"):
        table.add_column(col, justify="left" if col == "document" else "right")
    for d in result["documents"]:
        worst = max(d["page_scores"], key=lambda s: s["edits"] / max(1, s["chars"]))
        table.add_row(Path(d["uri"]).name, str(d["pages"]), f"{d['cer']:.4f}",
                      f"p{worst['page']} {worst['edits'] / max(1, worst['chars']):.3f}")
    table.add_row("overall", str(result["pages"]), f"{result['overall_cer']:.4f}", "", style="bold")
    Console().print(table)
    print(f"{result['seconds_per_page']:.2f} s per page")
    if args.worst:
        for d in result["documents"]:
            worst = max(d["page_scores"], key=lambda s: s["edits"] / max(1, s["chars"]))
            print(f"\n{Path(d['uri']).name} page {worst['page']}:")
            print("\n".join(word_diff(worst["reference"], worst["ocr"])) or "(identical)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
