"""The command a user types, run as a subprocess: the demo build, bad usage, and SIGKILL then resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from sources.corpus.make import make
from tests.conftest import REPO
from tests.outputs import contents

pytestmark = pytest.mark.slow


def short_tmp() -> Path:
    """Ray's socket paths must stay under 108 bytes, so its temp folder cannot live in pytest's deep tmp_path."""
    return Path(tempfile.mkdtemp(prefix="vlf-"))


def cli(*args: str, ray_tmp: Path | None = None, **kw) -> subprocess.Popen:
    env = {**os.environ, "VLFORGE_RAY_TMP": str(ray_tmp or short_tmp()), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "pipelines.build", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def ray_processes(ray_tmp: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(str(ray_tmp) in part for part in p.info["cmdline"] or []):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_default_build_runs_the_embedded_corpus_and_prints_a_summary(tmp_path):
    code, out = finish(cli("--source", "pdf", "--out", str(tmp_path / "out")))
    assert code == 0, out
    for label in ("inputs", "pages", "samples kept", "samples dropped", "errors", "duplicates", "shards", "pages/s",
                  "funnel"):
        assert label in out
    assert str((tmp_path / "out").resolve()) in out
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["inputs"] == 3 and stats["items"] == 6 and stats["kept"] == 18
    assert stats["kept_by_kind"]["document"] == 3  # each sample PDF is also one interleaved document
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".commits.jsonl", ".global", ".plan", ".signatures", "README.md", "duplicates.parquet", "errors.parquet",
        "manifest.json", "report.html", "shards", "stats.json"]
    assert f"report: {(tmp_path / 'out' / 'report.html').resolve()}" in out


@pytest.mark.parametrize("args, message", [
    (["--source", "pdf", "--input", "/no/such/folder"], "--input (run.inputs: /no/such/folder does not exist)"),
    (["--source", "pdf", "--dpi", "0"], "--dpi (pdf.dpi must be between 18 and 1200, got 0)"),
    (["--source", "pdf", "--config", "/no/such.toml"], "config file /no/such.toml does not exist"),
])
def test_bad_usage_exits_non_zero_with_one_line(tmp_path, args, message):
    code, out = finish(cli(*args, "--out", str(tmp_path / "o")), timeout=60)
    assert code == 2
    assert out.strip().splitlines() == [f"error: {out.strip().removeprefix('error: ')}"] and message in out


def test_unknown_config_key_is_refused_before_any_work(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[pdf]\ndpi = 100\nrender_speed = 3\n")
    code, out = finish(cli("--config", str(cfg), "--out", str(tmp_path / "o")), timeout=60)
    assert code == 2 and "unknown config key 'pdf.render_speed'" in out
    assert not (tmp_path / "o").exists()


def test_sigkill_mid_run_then_rerun_gives_exactly_the_uninterrupted_output(tmp_path, bad_pdfs):
    corpus = tmp_path / "corpus"
    make(corpus, copies=25)  # 75 PDFs, 150 pages: long enough to be killed mid-way on a fast machine
    (corpus / "bad").mkdir()
    for p in bad_pdfs.values():
        (corpus / "bad" / p.name).write_bytes(p.read_bytes())
    cfg = tmp_path / "small-parts.toml"
    cfg.write_text("[run]\nshard_rows = 4\n[pdf]\npages_per_unit = 2\n")
    args = ["--source", "pdf", "--input", str(corpus), "--config", str(cfg), "--ocr", "none", "--num-cpus", "1"]

    ray_tmp = short_tmp()
    killed_out = tmp_path / "killed"
    proc = cli(*args, "--out", str(killed_out), ray_tmp=ray_tmp)
    manifest, journal = killed_out / "manifest.json", killed_out / ".commits.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert json.loads(manifest.read_text()).get("complete") is not True
    time.sleep(3)
    leftovers = ray_processes(ray_tmp)
    print("ray processes alive after the driver's SIGKILL:", [p.name() for p in leftovers])
    for p in leftovers:  # never let them outlive the test
        p.kill()

    faster = [a if a != "1" else "2" for a in args]  # the CPU count is not part of the output's settings
    code, out = finish(cli(*faster, "--out", str(killed_out)))
    assert code == 0, out
    assert "already done" in out

    code, out = finish(cli(*faster, "--out", str(tmp_path / "clean")))
    assert code == 0, out

    resumed, clean = contents(killed_out), contents(tmp_path / "clean")
    assert resumed == clean and len(clean) > 290
    errors = sorted(pq.read_table(killed_out / "errors.parquet").column("id").to_pylist())
    assert errors == sorted(pq.read_table(tmp_path / "clean" / "errors.parquet").column("id").to_pylist())
    assert len(errors) == len(bad_pdfs)
