"""A real two-node Ray cluster (two hosts in network namespaces this test creates): `ray job submit` of a
build gives the shards of a local run, and a build whose worker processes are killed mid-run still does.

Traffic stays on loopback and inside the namespaces. Needs root and `ip netns` (CI runs as root).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pipelines.local_cluster import NamespaceCluster, unavailable_reason
from pipelines.shards import read_shards

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python" if (REPO / ".venv" / "bin" / "ray").exists() else Path(sys.executable)
PACKAGES = ("pipelines", "sources", "filters", "annotators", "taxonomy")  # what a job needs; never the venv
CORPUS = REPO / "sources" / "corpus"
WHY_NOT = unavailable_reason()

pytestmark = [pytest.mark.slow, pytest.mark.skipif(WHY_NOT is not None, reason=f"no namespace cluster: {WHY_NOT}")]


@pytest.fixture(scope="module")
def cluster():
    with NamespaceCluster(nodes=2, cpus=1, python=PYTHON, object_store_bytes=200 * 1024 * 1024) as c:
        yield c


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """The job's --working-dir: the project's code and models (~15 MB), not the venv or outputs."""
    root = tmp_path_factory.mktemp("job")
    for name in PACKAGES:
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


OCR_FLAGS = ["--input", str(CORPUS), "--shard-rows", "4", "--no-figures"]  # OCR on: seconds per page


@pytest.fixture(scope="module")
def ocr_reference(tmp_path_factory) -> Path:
    """An uninterrupted local build with OCR_FLAGS, which the fault tests must reproduce."""
    out = tmp_path_factory.mktemp("reference") / "out"
    local_build(out, OCR_FLAGS)
    return out


def job_argv(cluster: NamespaceCluster, workdir: Path, out: Path, flags: list[str],
             submission_id: str = "") -> list[str]:
    entry = [str(PYTHON), "-m", "pipelines.build", "--ray-address", "auto", "--out", str(out), "--no-report", *flags]
    env = {"env_vars": {"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}}
    return cluster.submit_argv(entry, workdir, env, submission_id)


def start_and_wait_for_a_commit(cluster: NamespaceCluster, argv: list[str], out: Path) -> subprocess.Popen:
    job = cluster.popen(0, argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    journal, deadline = out / ".commits.jsonl", time.monotonic() + 300
    while job.poll() is None and time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count("\n") >= 1:
            return job
        time.sleep(0.05)
    raise AssertionError(f"no commit while the job ran:\n{job.communicate()[0][-3000:]}")


def local_build(out: Path, flags: list[str]) -> None:
    """The same build on a local Ray instance (on loopback, 2 CPUs), as a user runs it."""
    env = {**os.environ, "VLFORGE_RAY_TMP": tempfile.mkdtemp(prefix="vlf-"), "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-m", "pipelines.build", "--out", str(out), "--no-report", "--num-cpus",
                           "2", *flags], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def assert_same_samples(out: Path, reference: Path) -> None:
    rows = sorted(read_shards(out).to_pylist(), key=lambda r: r["id"])
    ref = sorted(read_shards(reference).to_pylist(), key=lambda r: r["id"])
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "duplicate samples"
    assert ids == [r["id"] for r in ref], "the sample ids differ from the local run's"
    for a, b in zip(rows, ref, strict=True):
        assert a == b, f"sample {a['id']} ({a['locator']}) differs from the local run's"
    errors = [json.loads((d / "stats.json").read_text())["errors"] for d in (out, reference)]
    assert errors[0] == errors[1]


def test_a_job_submitted_to_a_two_node_cluster_gives_the_shards_of_a_local_run(cluster, workdir, tmp_path):
    # No --input: the job reads the embedded corpus inside its uploaded working directory (a Ray session
    # folder), the local run the repository's. Ids and uris come from paths under the input root, so the
    # two outputs are equal sample for sample.
    flags = ["--ocr", "none", "--shard-rows", "8"]
    proc = cluster.run(0, job_argv(cluster, workdir, tmp_path / "job", flags), capture_output=True, timeout=600)
    assert proc.returncode == 0 and "succeeded" in proc.stdout, proc.stdout[-4000:] + proc.stderr[-2000:]
    ran_on = json.loads((tmp_path / "job" / "stats.json").read_text())["this_run"]["cluster"]
    assert ran_on["nodes"] == 2 and ran_on["cpus"] == 2 and ran_on["address"] == "auto"
    local_build(tmp_path / "local", flags)
    assert_same_samples(tmp_path / "job", tmp_path / "local")
    assert {r["uri"] for r in read_shards(tmp_path / "job").to_pylist()} == {p.name for p in CORPUS.glob("*.pdf")}
    roots = [json.loads((tmp_path / d / "manifest.json").read_text())["input_roots"] for d in ("job", "local")]
    assert roots[0] != roots[1] and roots[1] == [str(CORPUS)]


def test_killing_a_nodes_workers_mid_run_loses_nothing_and_duplicates_nothing(cluster, workdir, tmp_path,
                                                                             ocr_reference):
    """OCR on (model actors, seconds per page), small shards: node 1's workers die after the first commit.
    Ray retries the tasks and restarts the actors; if the job fails instead, the same command resumes."""
    out = tmp_path / "job"
    job = start_and_wait_for_a_commit(cluster, job_argv(cluster, workdir, out, OCR_FLAGS), out)
    killed = cluster.kill_workers(1)
    unfinished = not json.loads((out / "manifest.json").read_text()).get("complete")
    log = job.communicate(timeout=600)[0]
    assert killed and unfinished, f"the job ended before its workers could be killed:\n{log[-3000:]}"
    if job.returncode != 0:  # failed cleanly: the same command resumes
        again = cluster.run(0, job_argv(cluster, workdir, out, OCR_FLAGS), capture_output=True, timeout=600)
        assert again.returncode == 0, again.stdout[-4000:]
    how = "finished through retries" if job.returncode == 0 else "failed and the rerun resumed"
    print(f"killed {len(killed)} worker processes; the job {how}")
    assert_same_samples(out, ocr_reference)


def test_losing_a_whole_node_mid_run_then_rerunning_gives_the_uninterrupted_result(cluster, workdir, tmp_path,
                                                                                    ocr_reference):
    """Node 1 (raylet, object store, workers) dies after the first commit. The job either finishes on
    node 0, or fails or stalls (its pool waits for an actor no CPU is left for; stopped after 3 minutes);
    then the node comes back and the same command resumes."""
    out, sid = tmp_path / "job", f"vlf-{secrets.token_hex(4)}"
    job = start_and_wait_for_a_commit(cluster, job_argv(cluster, workdir, out, OCR_FLAGS, sid), out)
    cluster.kill_node(1)
    try:
        job.communicate(timeout=180)
        outcome = "finished on the surviving node" if job.returncode == 0 else "failed"
    except subprocess.TimeoutExpired:
        cluster.stop_job(sid)
        job.communicate(timeout=120)
        outcome = "stalled and was stopped"
    cluster.start_node(1)
    cluster.wait_for_nodes(2)
    if job.returncode != 0 or outcome.startswith("stalled"):
        again = cluster.run(0, job_argv(cluster, workdir, out, OCR_FLAGS), capture_output=True, timeout=600)
        assert again.returncode == 0, again.stdout[-4000:]
        outcome += "; the rerun resumed"
    print(f"node 1 lost mid-run: the job {outcome}")
    assert_same_samples(out, ocr_reference)
