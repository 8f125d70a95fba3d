"""Streaming with backpressure: peak memory of the driver and every Ray process stays flat as the corpus grows 4x.

The memory benchmark (`bench/scale.py`, `bench/pdf.py`) measures 10x on larger corpora; this is the
modest version that runs in CI.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import psutil
import pytest

from pipelines.config import Config, to_dict
from pipelines.recipes import build_pipeline
from pipelines.runner import RunOptions, run
from sources.corpus.make import make

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_session")]


class PeakPss:
    """Samples the summed PSS (shared pages split between their users, so the object store counts once)
    of this process and its descendants, which are the local Ray instance's processes and workers."""

    def __init__(self, every: float = 0.1):
        self.every, self.peak = every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_full_info().pss
            self.peak = max(self.peak, total)
            time.sleep(self.every)

    def __enter__(self) -> PeakPss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def build(corpus: Path, out: Path) -> tuple[int, int]:
    cfg = (Config().replace("run", inputs=(str(corpus),), filters=False, shard_rows=100)
           .replace("ocr", backend="none").replace("dedup", enabled=False).replace("pdf", figures=False))
    with PeakPss() as mem:
        result = run(build_pipeline(cfg), RunOptions(out=out, inputs=cfg.run.inputs, shard_rows=100,
                                                     fingerprint=cfg.fingerprint(), config=to_dict(cfg)))
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
