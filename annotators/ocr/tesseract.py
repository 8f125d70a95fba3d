"""Tesseract through tesserocr, with Debian's tesseract-ocr language packs.

For users who prefer Tesseract for some languages or scans. `languages` is Tesseract's own
spelling ("eng+chi_sim"); a missing pack is named in the error with the Debian package to install.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from annotators.ocr.backend import BackendUnavailable, OcrBackend, OcrLine, rect_box
from pipelines.registry import register_ocr_backend

TESSDATA_DIRS = ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata",
                 "/usr/share/tessdata")

# Tesseract's line confidence is the mean of its words', so one unusual token (a URL, code) pulls a line
# read exactly far under `min_score` ("CRAN.R-project.org/package=DBI)." at 0.03). Dropping such lines cost
# CER 0.045 vs 0.031 on R-data's pages, 0.048 vs 0.019 on asymptote's. Below `min_score` a line is kept
# when it has this many letters or digits: what Tesseract reads in noise and plots is shorter ("le", ":", "4").
MIN_CHARS_BELOW_SCORE = 4


def tessdata_dir() -> Path | None:
    for d in (os.environ.get("TESSDATA_PREFIX"), *TESSDATA_DIRS):
        if d and (Path(d) / "eng.traineddata").exists():
            return Path(d)
    return None


@register_ocr_backend("tesseract")
class TesseractBackend(OcrBackend):
    name = "tesseract"

    def load(self) -> None:
        os.environ.setdefault("OMP_THREAD_LIMIT", str(self.threads))  # Tesseract's OpenMP oversubscribes
        try:
            import tesserocr
        except ImportError as e:
            raise BackendUnavailable(f"the tesseract backend needs tesserocr ({e}); run scripts/setup.sh") from None
        data = tessdata_dir()
        if data is None:
            raise BackendUnavailable("no Tesseract language data found (looked in $TESSDATA_PREFIX and "
                                     f"{', '.join(TESSDATA_DIRS)}); apt-get install tesseract-ocr tesseract-ocr-eng")
        missing = [lang for lang in self.config.languages.split("+") if not (data / f"{lang}.traineddata").exists()]
        if missing:
            pkgs = " ".join(f"tesseract-ocr-{m.replace('_', '-')}" for m in missing)
            raise BackendUnavailable(f"Tesseract language data {', '.join(missing)} not found in {data}; "
                                     f"apt-get install {pkgs}")
        self._tesserocr = tesserocr
        self._api = tesserocr.PyTessBaseAPI(path=str(data), lang=self.config.languages)

    def read(self, image: np.ndarray, upright: bool = True) -> list[OcrLine]:
        """`upright` changes nothing: Tesseract's default page mode never detects orientation (no OSD)."""
        from PIL import Image

        tess = self._tesserocr
        self._api.SetImage(Image.fromarray(image))
        self._api.Recognize()
        level = tess.RIL.TEXTLINE
        lines = []
        for r in tess.iterate_level(self._api.GetIterator(), level):
            try:
                text = (r.GetUTF8Text(level) or "").strip()
            except RuntimeError:  # tesserocr raises "No text returned" for a line region it read as empty
                continue
            if not text:
                continue
            score = r.Confidence(level) / 100.0
            if score < self.config.min_score and sum(c.isalnum() for c in text) < MIN_CHARS_BELOW_SCORE:
                continue
            x0, y0, x1, y1 = r.BoundingBox(level)
            lines.append(OcrLine(text, score, rect_box(x0, y0, x1, y1)))
        return lines

    def read_line(self, image: np.ndarray) -> str:
        """One line as one line (page segmentation RAW_LINE): no layout analysis, and, unlike SINGLE_LINE,
        no empty answer for a line with a superscript or a short number (both seen on real manuals)."""
        from PIL import Image

        tess = self._tesserocr
        self._api.SetPageSegMode(tess.PSM.RAW_LINE)
        try:
            self._api.SetImage(Image.fromarray(image))
            return (self._api.GetUTF8Text() or "").strip()
        finally:
            self._api.SetPageSegMode(tess.PSM.AUTO)

    def version(self) -> str:
        return f"tesseract-{self._tesserocr.tesseract_version().split()[1]}"
