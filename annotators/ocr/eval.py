"""`python -m annotators.ocr.eval --input PDFS [--pages N] [--json FILE] [--ocr BACKEND]`: OCR accuracy.

Renders pages that have a text layer exactly as the PDF source does, reads them with the chosen
OCR backend in reading order, and reports the character error rate against the text layer
(whitespace normalised) per document and overall. The same measure is each sample's
`quality.ocr_cer` in a build, where a high value flags an image-text mismatch.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from pipelines.stage import StageUnavailable
from sources.pdf import EMBEDDED_CORPUS, PdfConfig, PdfSource, find_pdfs


def evaluate(inputs: list[str], backend: str = "rapidocr", pages: int | None = None, dpi: int = 144,
             threads: int = 2) -> dict[str, Any]:
    """CER of `backend` on up to `pages` text-layer pages of each input PDF."""
    stage = OcrStage(OcrConfig(backend=backend))
    stage.resources = dataclasses.replace(stage.resources, num_cpus=threads)  # the backend's threads
    stage.setup()
    source = PdfSource(PdfConfig(dpi=dpi, text_samples=False))
    documents, total_edits, total_chars, total_pages, seconds = [], 0, 0, 0, 0.0
    for file in find_pdfs(inputs):
        path = file.path
        edits = chars = n = 0
        for unit in source.plan([str(path)]):
            try:
                rows = list(source.expand(unit))
            except Exception:
                continue  # unreadable: nothing to measure
            for row in rows:
                if row.get("kind") != "page" or not normalise(row["text"]) or (pages and n >= pages):
                    continue
                t = time.perf_counter()
                hyp = "\n".join(line.text for line in stage.read(row["image"]["bytes"]))
                seconds += time.perf_counter() - t
                edits += edit_distance(row["text"], hyp)
                chars += len(normalise(row["text"]))
                n += 1
        if n:
            documents.append({"uri": file.uri, "pages": n, "chars": chars, "cer": edits / chars})
            total_edits, total_chars, total_pages = total_edits + edits, total_chars + chars, total_pages + n
    return {"backend": stage.backend.version(), "overall_cer": total_edits / total_chars if total_chars else 0.0,
            "pages": total_pages, "seconds_per_page": seconds / total_pages if total_pages else 0.0,
            "documents": documents}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m annotators.ocr.eval", description=__doc__.split("\n")[0])
    p.add_argument("--input", action="append", metavar="PATH", help="PDF file or folder; default: the embedded corpus")
    p.add_argument("--pages", type=int, metavar="N", help="at most N pages per document")
    p.add_argument("--json", metavar="FILE", help="write the result as JSON")
    p.add_argument("--ocr", default="rapidocr", choices=("rapidocr", "tesseract", "paddleocr"))
    p.add_argument("--dpi", type=int, default=144)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    inputs = args.input or [str(EMBEDDED_CORPUS)]
    try:
        result = evaluate(inputs, args.ocr, args.pages, args.dpi, args.threads)
    except (FileNotFoundError, StageUnavailable) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    table = Table(title=f"OCR character error rate ({result['backend']})", title_justify="left")
    for col in ("document", "pages", "CER"):
        table.add_column(col, justify="left" if col == "document" else "right")
    for d in result["documents"]:
        table.add_row(Path(d["uri"]).name, str(d["pages"]), f"{d['cer']:.4f}")
    table.add_row("overall", str(result["pages"]), f"{result['overall_cer']:.4f}", style="bold")
    Console().print(table)
    print(f"{result['seconds_per_page']:.2f} s per page")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
