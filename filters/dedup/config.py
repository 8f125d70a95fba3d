"""Dedup settings: the `[dedup]` section of a run's config."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.stage import ConfigError


@dataclass(frozen=True)
class DedupConfig:
    """What counts as a duplicate.

    Images: identical pixels, or perceptual hashes (256-bit pHash) at most `max_phash_distance`
    bits apart; when both images carry text, their texts must also overlap (`image_text_min_jaccard`;
    texts under `min_text_chars` must be equal), so two pages of one template are not taken for
    copies. Texts: identical after normalisation, or MinHash-estimated Jaccard of word 3-gram
    shingles of at least `text_threshold`. Interleaved documents are texts (their text without
    `<image>` markers); besides, an image (same bytes, or the same pHash) found in more than
    `max_image_docs` documents of the run, or a paragraph (same normalised text) in more than
    `max_paragraph_docs`, is boilerplate and is removed from every document that holds it.
    """

    enabled: bool = True
    exact: bool = True
    near_images: bool = True
    max_phash_distance: int = 8
    image_text_min_jaccard: float = 0.5
    near_texts: bool = True
    text_threshold: float = 0.7
    num_perm: int = 128
    shingle_size: int = 3
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
        if self.max_image_docs < 0 or self.max_paragraph_docs < 0:
            raise ConfigError("max_image_docs and max_paragraph_docs must be at least 0 (0 turns them off)",
                              "max_image_docs")
