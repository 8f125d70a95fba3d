"""Under OMP_THREAD_LIMIT (set by the Tesseract OCR backend), the trainer's gradients stay exact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# A ViT patch convolution's weight and bias gradients, computed four times on the same input. With
# torch asking for more threads than OpenMP's limit lets run, oneDNN sums per-thread buffers that
# no thread wrote, and these come out as garbage (compared here with torch's native kernel).
PROBE = """
import sys, torch
from model_ref.threads import within_thread_limit
torch.set_num_threads(int(sys.argv[1]))
conv = torch.nn.Conv2d(3, 64, 16, stride=16)
x = torch.randn(4, 3, 128, 128, generator=torch.Generator().manual_seed(0))
def grads():
    conv.zero_grad(set_to_none=True)
    conv(x).square().mean().backward()
    return torch.cat([conv.weight.grad.flatten(), conv.bias.grad])
with within_thread_limit() as n:
    with torch.backends.mkldnn.flags(enabled=False):  # torch's own kernel: right whatever the threads
        expected = grads()
    runs = [grads() for _ in range(4)]
    ok = all(torch.allclose(g, expected, rtol=1e-4, atol=1e-7) for g in runs)
print(n, torch.get_num_threads(), ok)
"""


def probe(limit: str | None, threads: int) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_THREAD_LIMIT"}
    if limit is not None:
        env["OMP_THREAD_LIMIT"] = limit
    done = subprocess.run([sys.executable, "-c", PROBE, str(threads)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_gradients_are_exact_under_an_openmp_thread_limit():
    assert probe("1", 2) == ["1", "2", "True"]  # capped inside, the caller's setting restored after
    assert probe(None, 2) == ["2", "2", "True"]  # no limit: untouched
