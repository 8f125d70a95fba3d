"""Dedup settings: the `[dedup]` section of a run's config."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.stage import ConfigError

KEEP_RULES = ("quality", "first", "longest")


@dataclass(frozen=True)
class DedupConfig:
    """What counts as a duplicate.

    Images: identical pixels, or perceptual hashes (256-bit pHash) at most `max_phash_distance`
    bits apart, or (`crop_images`) a copy with a border cut off: content-box or window pHashes at
    most `max_crop_distance` apart (`filters.dedup.crops`). Near images must, when both carry text,
    also have overlapping texts (`image_text_min_jaccard`; texts under `min_text_chars` must be
    equal), so two pages of one template are not taken for copies; identical pixels need agreeing
    texts only in the kinds `image_text_agreement` names (image-caption pairs).
    Texts: identical after normalisation, or a Jaccard similarity of word `shingle_size`-gram
    shingles of at least `text_threshold`: MinHash LSH finds the candidates, and each candidate pair
    is verified on its true Jaccard (the signature carries the shingle hashes, up to
    `max_verify_shingles` of them; a longer text is compared on the bottom-k of its hashes, a ±0.01
    estimate). 0.8 on word 5-grams is the setting of the web-scale dedup literature the peers follow
    (Gopher, RefinedWeb, DataTrove's and Data-Juicer's defaults), and on Python's documentation with
    planted copies (bench/peers_text.py) the pairs at 0.8 are the copies a user means (a passage with
    boilerplate lines, a few words edited, its end cut; README gives the measured figures). Which
    copy of a group stays is `keep`: "quality" (the best quality_prob in steps of 0.1, then the largest
    share of text outside boilerplate lines and garbled characters, then the longer, then the smallest
    id: `filters.dedup.keep`), "first" (the first in the run's order), or "longest"
    (the largest image, then the longest text). Interleaved documents are texts (their text without
    `<image>` markers); besides, an image (same bytes, or the same pHash) found in more than
    `max_image_docs` documents of the run, or a paragraph (same normalised text) in more than
    `max_paragraph_docs`, is boilerplate and is removed from every document that holds it.
    """

    enabled: bool = True
    exact: bool = True
    near_images: bool = True
    max_phash_distance: int = 8
    image_text_min_jaccard: float = 0.5
    # Kinds whose pixel-identical copies count only when their texts agree too: image-caption pairs, where
    # the caption is the sample (one figure captioned in English and in Chinese is two pairs). A page,
    # screenshot or tile carries the text read off its own pixels, so the same pixels under another text
    # are the same page read twice (text layer and OCR): a copy. Near (not identical) images of any kind
    # still need agreeing texts when both carry text: a perceptual hash cannot see a changed word.
    image_text_agreement: tuple[str, ...] = ("figure", "chart")
    crop_images: bool = True  # also catch copies with a border cut off (`filters.dedup.crops`)
    max_crop_distance: int = 40  # bits apart (of 256) of the closest content-box or window pHashes
    near_texts: bool = True
    text_threshold: float = 0.8
    num_perm: int = 128
    shingle_size: int = 5
    max_verify_shingles: int = 2048  # shingle hashes carried per text for exact verification (4 bytes each)
    keep: str = "quality"  # which copy of a duplicate group stays: quality | first | longest
    min_text_chars: int = 50
    max_bucket_pairs: int = 64  # members of one LSH bucket compared pairwise; larger buckets are chained
    max_image_docs: int = 10  # an image in more documents than this is boilerplate (a logo): removed; 0 = off
    max_paragraph_docs: int = 10  # a paragraph in more documents than this (a footer) likewise; 0 = off

    def validate(self) -> None:
        if not 0 < self.text_threshold <= 1 or not 0 <= self.image_text_min_jaccard <= 1:
            raise ConfigError("text_threshold must be in (0, 1] and image_text_min_jaccard in [0, 1]", "text_threshold")
        if not 0 <= self.max_phash_distance < 64 or self.num_perm < 16 or self.shingle_size < 1:
            raise ConfigError("max_phash_distance must be in [0, 64), num_perm at least 16, shingle_size at least 1",
                              "max_phash_distance")
        if self.keep not in KEEP_RULES:
            raise ConfigError(f"keep must be one of {', '.join(KEEP_RULES)}, not {self.keep!r}", "keep")
        if self.max_verify_shingles < 16:
            raise ConfigError("max_verify_shingles must be at least 16", "max_verify_shingles")
        if not 0 <= self.max_crop_distance < 128:
            raise ConfigError("max_crop_distance must be in [0, 128)", "max_crop_distance")
        if self.max_image_docs < 0 or self.max_paragraph_docs < 0:
            raise ConfigError("max_image_docs and max_paragraph_docs must be at least 0 (0 turns them off)",
                              "max_image_docs")
