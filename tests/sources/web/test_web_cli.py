"""`python -m pipelines.build --source web` as a user types it, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pyarrow.parquet as pq
import pytest

from pipelines.shards import read_shards
from tests.conftest import REPO
from tests.sources.web.sites import Site, page

pytestmark = pytest.mark.slow


def build(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VLFORGE_RAY_TMP": tempfile.mkdtemp(prefix="vlf-"), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "pipelines.build", "--source", "web", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_embedded_site_is_served_and_crawled_offline(tmp_path):
    out = tmp_path / "web"
    proc = build("--out", str(out), "--ocr", "none", "--no-report")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = read_shards(out).to_pylist()
    shots = {r["uri"].split("/", 3)[3]: r for r in rows if r["kind"] == "screenshot"}
    assert set(shots) == {"index.html", "articles/tides.html", "articles/bread.html", "data/rainfall.html",
                          "data/chart.html", "contact.html", "zh/library.html"}
    assert shots["zh/library.html"]["lang"] == "zh" and "图书馆" in shots["zh/library.html"]["text"]
    assert "<table" in shots["data/rainfall.html"]["html"]
    assert any(r["kind"] in ("chart", "figure") and r["code"].startswith("<svg") for r in rows)
    errors = pq.read_table(out / "errors.parquet").to_pylist()
    assert [(e["error_type"], e["uri"].split("/", 3)[3]) for e in errors] == [("RobotsDisallowed",
                                                                               "private/notes.html")]


def test_a_loopback_seed_is_refused_without_allow_private_and_bad_seeds_stop_the_run(tmp_path):
    with Site({"/": page("Home", "home")}) as site:
        proc = build("--seed", site.url + "/", "--out", str(tmp_path / "o"), "--ocr", "none", "--no-report")
        assert site.log == []
    # The run made nothing, so it fails, and its one line says why and what to do.
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    verdict = proc.stderr.strip().splitlines()[-1]  # after Ray's progress log
    assert verdict.startswith("error: source failed on every one of its 1 rows") and \
        "PrivateAddress" in verdict and "--allow-private" in verdict
    errors = pq.read_table(tmp_path / "o" / "errors.parquet").to_pylist()
    assert [e["error_type"] for e in errors] == ["PrivateAddress"] and "--allow-private" in errors[0]["message"]
    bad = build("--seed", "ftp://example.org/", "--out", str(tmp_path / "p"))
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: --seed (web.seeds: ftp://example.org/")
