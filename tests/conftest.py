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
