"""Keep torch's intra-op thread count within the OpenMP thread limit, so CPU kernels stay correct.

With `OMP_THREAD_LIMIT=N` in the environment (Tesseract's users set it to 1), OpenMP gives every
parallel region at most N threads, but `torch.get_num_threads()` (OpenMP's nthreads-var, which the
limit does not lower) still says the core count. Kernels that size per-thread scratch buffers by the
thread count they asked for and then sum them all (oneDNN's convolution weight gradient among them)
then add buffers no thread wrote: the ViT patch convolution's weight and bias gradients come out as
garbage (1e16, inf or NaN, different in every run), which made training nondeterministic and
sometimes NaN. Asking torch for no more threads than the limit allows avoids it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def omp_thread_limit() -> int | None:
    """OMP_THREAD_LIMIT as a positive integer, or None when it is unset or not one."""
    value = os.environ.get("OMP_THREAD_LIMIT", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


@contextmanager
def within_thread_limit() -> Iterator[int]:
    """Run the body with torch's intra-op threads capped at OMP_THREAD_LIMIT (restored afterwards, so an
    in-process caller keeps its own setting); yields the thread count in force."""
    before = torch.get_num_threads()
    limit = omp_thread_limit()
    threads = min(before, limit) if limit else before
    if threads != before:
        torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
