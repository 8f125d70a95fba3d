"""Streaming with backpressure: peak memory of the driver and every Ray process stays flat as the corpus grows 4x.

The memory benchmark (`bench/scale.py`, `bench/pdf.py`) measures 10x on larger corpora; this is the
modest version that runs in CI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.memory import PssSampler
from pipelines.config import Config
from pipelines.recipes import build_pipeline
from pipelines.runner import RunOptions, run
from sources.corpus.make import make

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_session")]


def build(corpus: Path, out: Path) -> tuple[int, int]:
    cfg = (Config().replace("run", inputs=(str(corpus),), filters=False, shard_rows=100)
           .replace("ocr", backend="none").replace("dedup", enabled=False).replace("pdf", figures=False))
    # PSS of this process and its descendants, which are the local Ray instance's processes and workers.
    with PssSampler(every=0.1) as mem:
        result = run(build_pipeline(cfg), RunOptions.from_config(cfg, out=out, shard_rows=100))
    return result.items, mem.peak


def test_peak_memory_stays_flat_as_the_corpus_grows_4x(tmp_path):
    small, large = tmp_path / "small", tmp_path / "large"
    small.mkdir()
    large.mkdir()
    make(small, copies=15)
    make(large, copies=60)
    build(small, tmp_path / "warm")  # workers start and import once; both measured runs find them warm
    pages_1x, peak_1x = build(small, tmp_path / "out1")
    pages_4x, peak_4x = build(large, tmp_path / "out4")
    print(f"{pages_1x} pages: peak {peak_1x / 2**20:.0f} MiB; {pages_4x} pages: peak {peak_4x / 2**20:.0f} MiB")
    assert pages_4x == 4 * pages_1x
    # Proportional growth would be +300%; streaming keeps it to noise (a block or two in flight).
    assert peak_4x < 1.25 * peak_1x, (peak_1x, peak_4x)
