"""Document filter: OBELICS-style node-level and document-level rules for interleaved `document` rows.

An interleaved document (pipelines/documents.py) is judged at three levels, each rule with a key:

- per image: bytes over `max_image_bytes` (checked before anything is opened), a format outside
  `image_formats` or bytes Pillow cannot open, more than `max_image_megapixels` (read from the header,
  never decoded), a smallest side under `min_image_side` (icons, spacers), an aspect ratio over
  `max_image_aspect` (banners, rules), then a full decode (a truncated file). A failing image is taken
  out of the document with `documents.remove` (its marker goes) and recorded in `meta.dropped_images`
  with `reason = document_filter:<rule>`;
- per paragraph: the text filter's rules that make sense on one node (garbled debris, hashtag and
  ellipsis share, mean word length), boilerplate lines (cookie banners, "all rights reserved") and a
  paragraph repeating an earlier one of the same document. Failing paragraphs are removed and
  counted per reason in `meta.dropped_paragraphs`;
- per document: number of images and of words within bounds, language in `languages`: these set
  `keep = false` with `drop_reason = document_filter:<rule>` like any filter.

A web page's captioned images are also image-caption samples (`figure`/`chart` with `meta.origin =
"img"`): the same images, so the same image rules judge them, and one that fails (a navigation
arrow with alt text, a banner) is dropped with `drop_reason = document_filter:<rule>`.

A document that loses all its images stays a `document` with no images; the text filter (which runs
next) then judges it with every rule of a text sample, so it is kept only as good text. Counts of what
was removed, per reason, go into the stage's figures in stats.json (`images_removed:<rule>`,
`paragraphs_removed:<rule>`).
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from PIL import Image

from filters.base import Filter
from filters.text import garbled_frac, is_cjk
from filters.textkit import CJK_LETTER_RE, collapse_whitespace
from pipelines import documents, images
from pipelines.registry import register_stage
from pipelines.schema import DOCUMENT_KIND, meta_json
from pipelines.stage import ConfigError
from pipelines.stats import attach

BOILERPLATE = ("cookie", "all rights reserved", "privacy policy", "terms of use", "terms of service",
               "subscribe to our newsletter", "sign up for our newsletter", "enable javascript",
               "javascript is disabled", "skip to content", "share this", "follow us on", "版权所有")
_HASHTAG = re.compile(r"(?:^|\s)#\w")
PAIR_KINDS = ("figure", "chart")  # image-caption samples


@dataclass(frozen=True)
class DocumentFilterConfig:
    """Bounds for interleaved documents: per image, per paragraph, per document."""

    min_image_side: int = 64  # icons, spacers and 1-px trackers go
    max_image_aspect: float = 3.0  # banners and rules go
    max_image_megapixels: float = 40.0  # read from the header, before any decode
    max_image_bytes: int = 20_000_000
    image_formats: tuple[str, ...] = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
    max_paragraph_garbled_frac: float = 0.05
    max_paragraph_symbol_ratio: float = 0.2  # hashtags and ellipses per word
    paragraph_word_rules_from: int = 5  # word rules judge paragraphs of at least this many words
    min_paragraph_mean_word_len: float = 2.0
    max_paragraph_mean_word_len: float = 12.0
    boilerplate: tuple[str, ...] = BOILERPLATE  # a short paragraph holding one of these goes
    boilerplate_max_words: int = 40  # longer paragraphs that mention a cookie stay
    drop_repeated_paragraphs: bool = True  # a paragraph equal to an earlier one in the same document
    min_images: int = 0
    max_images: int = 60
    min_words: int = 5
    max_words: int = 100_000
    languages: tuple[str, ...] = ()  # ISO 639-1 codes a document may be in; empty = any

    def validate(self) -> None:
        if self.min_image_side < 1 or self.max_image_aspect < 1:
            raise ConfigError("min_image_side must be at least 1 and max_image_aspect at least 1", "min_image_side")
        if self.min_images < 0 or self.max_images < self.min_images:
            raise ConfigError(f"need 0 <= min_images <= max_images, got {self.min_images} and {self.max_images}",
                              "max_images")
        if self.min_words < 0 or self.max_words < self.min_words:
            raise ConfigError(f"need 0 <= min_words <= max_words, got {self.min_words} and {self.max_words}",
                              "max_words")


@register_stage(order=235, section="filters.document", config=DocumentFilterConfig, scores=(
    "doc_images",  # images a document keeps after the image rules
    "doc_words",  # words of its text (CJK characters count one each) after the paragraph rules
    "doc_dropped_images",  # images the image rules removed
    "doc_dropped_paragraphs",  # paragraphs the paragraph rules removed
))
class DocumentFilter(Filter):
    """Removes bad images and paragraphs from `document` rows and fails documents out of bounds."""

    name = "document_filter"
    version = "1"
    reads = ("id", "text", "images", "meta", "lang", "image")
    edits = ("text", "images", "meta")
    kinds = (DOCUMENT_KIND, *PAIR_KINDS)

    def __init__(self, config: DocumentFilterConfig = DocumentFilterConfig()):
        self.config = config
        self._langid: Any = None
        self._counts: Counter[str] = Counter()
        self._pair_reasons: dict[str, str] = {}

    def applies(self, row: dict[str, Any]) -> bool:
        """Documents, and the image-caption samples a web page's captioned <img> images become."""
        if row.get("kind") == DOCUMENT_KIND:
            return True
        if row.get("kind") not in PAIR_KINDS or not row.get("meta") or '"origin":"img"' not in row["meta"]:
            return False
        return json.loads(row["meta"]).get("origin") == "img"

    def process(self, batch: pa.Table) -> pa.Table:
        self._counts = Counter()
        out = super().process(batch)
        return attach(out, {self.name: dict(self._counts)}) if self._counts else out

    def score(self, row: dict[str, Any]) -> dict[str, float]:
        if row.get("kind") != DOCUMENT_KIND:  # an image-caption sample: its image, by the image rules
            why, _ = self.image_reason((row.get("image") or {}).get("bytes"))
            if why:
                self._pair_reasons[row["id"]] = why
                self._counts[f"pairs_dropped:{why}"] += 1
            return {"doc_images": 1.0, "doc_dropped_images": float(why is not None)}
        text, imgs = row.get("text"), row.get("images") or []
        meta = json.loads(row["meta"]) if row.get("meta") else {}
        infos = meta.get("images") or []
        documents.check(text, imgs, infos if "images" in meta else None)
        bad_images = {}
        for i, image in enumerate(imgs):
            why, size = self.image_reason((image or {}).get("bytes"))
            if why:
                bad_images[i] = (why, size)
        bad_paras: dict[int, str] = {}
        seen: set[str] = set()
        for i, p in enumerate(documents.paragraphs(text)):
            if documents.is_marker(p):
                continue
            why = self.paragraph_reason(p, seen)
            if why:
                bad_paras[i] = why
        if bad_images or bad_paras:
            dropped = list(meta.get("dropped_images") or [])
            for i, (why, size) in bad_images.items():
                info = dict(infos[i]) if i < len(infos) else {}
                if size:
                    info["width"], info["height"] = size
                dropped.append({**info, "reason": f"{self.name}:{why}"})
                self._counts[f"images_removed:{why}"] += 1
            paras = Counter(meta.get("dropped_paragraphs") or {})
            for why in bad_paras.values():
                paras[f"{self.name}:{why}"] += 1
                self._counts[f"paragraphs_removed:{why}"] += 1
            text, imgs, kept_infos = documents.remove(text, imgs, infos, image_indices=bad_images,
                                                      paragraph_indices=bad_paras)
            if "images" in meta:
                meta["images"] = kept_infos
            meta["dropped_images"], meta["dropped_paragraphs"] = dropped, dict(sorted(paras.items()))
            row["text"], row["images"], row["meta"] = text, imgs, meta_json(meta)
        return {"doc_images": float(len(imgs)), "doc_words": float(words(documents.plain_text(text))),
                "doc_dropped_images": float(len(bad_images)), "doc_dropped_paragraphs": float(len(bad_paras))}

    def reason(self, row: dict[str, Any], scores: dict[str, float]) -> str | None:
        if row.get("kind") != DOCUMENT_KIND:
            return self._pair_reasons.pop(row["id"], None)
        c = self.config
        n, w = scores["doc_images"], scores["doc_words"]
        checks = [
            ("empty", n == 0 and w == 0),
            ("too_few_images", n < c.min_images),
            ("too_many_images", n > c.max_images),
            ("too_few_words", w < c.min_words),
            ("too_many_words", w > c.max_words),
        ]
        why = next((why for why, failed in checks if failed), None)
        if why is None and c.languages:
            lang = row.get("lang") or self._detect(row.get("text"))
            if lang and lang != "und" and lang not in c.languages:
                why = f"lang_{lang}"
        return why

    def image_reason(self, data: bytes | None) -> tuple[str | None, tuple[int, int] | None]:
        """Why one image of a document fails (None when it passes), and its size when the header gave it.
        Cheap checks first: the byte count, then the header; the pixels are decoded last, and only for
        an image every other rule kept."""
        c = self.config
        if not data:
            return "format", None
        if len(data) > c.max_image_bytes:
            return "too_many_bytes", None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with images.open_image(data) as im:
                    fmt, size = im.format, im.size
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            return "too_many_pixels", None  # Pillow's own guard fired on the header
        except (OSError, SyntaxError, ValueError):
            return "format", None
        w, h = size
        if fmt not in c.image_formats:
            return "format", size
        if w * h / 1e6 > c.max_image_megapixels:
            return "too_many_pixels", size
        if min(w, h) < c.min_image_side:
            return "too_small", size
        if max(w, h) / max(min(w, h), 1) > c.max_image_aspect:
            return "aspect", size
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                # Decodes every pixel once; in the runner's scope that one decode also gives dedup's products.
                images.view(data).phash()
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            return "too_many_pixels", size
        except (OSError, SyntaxError, ValueError):
            return "undecodable", size
        return None, size

    def paragraph_reason(self, paragraph: str, seen: set[str]) -> str | None:
        """Why one text paragraph fails (None when it passes); `seen` holds the document's earlier ones."""
        c = self.config
        norm = collapse_whitespace(paragraph).casefold()
        if c.drop_repeated_paragraphs:
            if norm in seen:
                return "repeated"
            seen.add(norm)
        if garbled_frac(paragraph) > c.max_paragraph_garbled_frac:
            return "garbled"
        units = words(paragraph)
        if units <= c.boilerplate_max_words and any(phrase in norm for phrase in c.boilerplate):
            return "boilerplate"
        if units >= c.paragraph_word_rules_from:
            symbols = len(_HASHTAG.findall(paragraph)) + paragraph.count("...") + paragraph.count("…")
            if symbols / units > c.max_paragraph_symbol_ratio:
                return "symbols"
            if not is_cjk(paragraph):
                tokens = paragraph.split()
                mean = sum(map(len, tokens)) / max(len(tokens), 1)
                if not c.min_paragraph_mean_word_len <= mean <= c.max_paragraph_mean_word_len:
                    return "mean_word_len"
        return None

    def _detect(self, text: str | None) -> str | None:
        plain = " ".join(documents.plain_text(text).split())
        if len(plain) < 20:
            return None
        if self._langid is None:
            from filters.langid import LangId

            self._langid = LangId()
        return self._langid.predict([plain])[0][0]


def words(text: str) -> int:
    """Words of a text as the text filter counts them: whitespace words, each CJK character one word."""
    tokens = text.split()
    cjk = CJK_LETTER_RE.findall(text)
    return len(cjk) + sum(1 for t in tokens if not CJK_LETTER_RE.search(t)) if cjk else len(tokens)
