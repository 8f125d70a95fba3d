"""Shared fixtures: one Ray instance per test session, offline Hugging Face, the test PDFs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Never hang on a download: any hub access fails loudly. Set before anything imports datasets.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="vlforge-hf-"))

from tests.pdfs import bad_inputs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def ray_session():
    """A real local Ray instance on loopback, started once for all tests that need one."""
    from pipelines import ray_env

    tmp = tempfile.mkdtemp(prefix="vlforge-ray-")
    os.environ["VLFORGE_RAY_TMP"] = tmp
    info = ray_env.connect(num_cpus=2, object_store_memory=200 * 1024 * 1024)
    yield info
    import ray

    ray.shutdown()


@pytest.fixture(scope="session")
def bad_pdfs(tmp_path_factory) -> dict[str, Path]:
    return bad_inputs(tmp_path_factory.mktemp("bad"))


@pytest.fixture(scope="session")
def corpus() -> Path:
    return REPO / "sources" / "corpus"


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory) -> Path:
    """The README's main job, run once per session: the embedded corpus built with the default
    settings (rapidocr OCR, filters, dedup, tags) by the CLI in its own process, as a user runs it."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("demo") / "out"
    env = {**os.environ, "VLFORGE_RAY_TMP": tempfile.mkdtemp(prefix="vlf-"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "pipelines.build", "--source", "pdf", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out
