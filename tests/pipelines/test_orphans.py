"""Under pressure: a killed driver leaves no Ray process behind, a killed worker costs nothing, a killed run's
leftovers are stopped by the next run, and runs leave a bounded temp dir (pipelines/ray_lifecycle.py).

Every driver here runs in its own process with its own Ray temp dir, and the tests only ever kill processes
of their own runs: other Ray instances on the machine (the test session's, other people's) are left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from pipelines import ray_lifecycle
from sources.corpus.make import make
from tests.conftest import REPO
from tests.outputs import contents

ARGS = ["--source", "pdf", "--ocr", "none", "--num-cpus", "1", "--no-report"]


def short_tmp() -> Path:
    """Ray's socket paths must stay under 108 bytes, so its temp folder cannot live in pytest's deep tmp_path."""
    return Path(tempfile.mkdtemp(prefix="vlf-"))


def run_of(ray_tmp: Path) -> list[psutil.Process]:
    """Live processes of the runs under `ray_tmp`: found by their command line or by a file they hold open
    there (Ray's agents and workers rename themselves but keep their logs open). Independent of the code
    under test on purpose."""
    found = []
    for p in psutil.process_iter(["cmdline", "status", "name"]):  # p.info["name"] stays readable after it exits
        if p.pid == os.getpid() or p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        names = list(p.info["cmdline"] or [])
        with contextlib.suppress(OSError):
            names += [os.readlink(f"/proc/{p.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{p.pid}/fd")]
        if any(str(ray_tmp) in n for n in names):
            found.append(p)
    return found


def survivors(ray_tmp: Path, within: float) -> tuple[list[psutil.Process], float]:
    """Wait up to `within` seconds for every process of the runs under `ray_tmp` to end; returns those still
    alive then (killed, so they never outlive the test) and how long the wait took."""
    started = time.monotonic()
    while (left := run_of(ray_tmp)) and time.monotonic() - started < within:
        time.sleep(0.25)
    for p in left:
        p.kill()
    return left, time.monotonic() - started


def build(corpus: Path, out: Path, ray_tmp: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "VLFORGE_RAY_TMP": str(ray_tmp), "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "pipelines.build", *ARGS, "--input", str(corpus / "pdfs"),
                             "--config", str(corpus / "small-parts.toml"), "--out", str(out), *extra],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: float = 400) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def mid_run(proc: subprocess.Popen, out: Path) -> None:
    """Wait until the run has committed its first parts, and is not done."""
    journal, deadline = out / ".commits.jsonl", time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count("\n") >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"


def session_of(ray_tmp: Path, driver: int) -> Path:
    """The Ray session folder a driver made (Ray names it after the driver's pid)."""
    (folder,) = ray_tmp.glob(f"session_*_{driver}")
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """36 two-page PDFs in parts of 2 pages and shards of 4 rows: a run long enough to be killed mid-way."""
    root = tmp_path_factory.mktemp("orphans")
    make(root / "pdfs", copies=12)
    (root / "small-parts.toml").write_text("[run]\nshard_rows = 4\n[pdf]\npages_per_unit = 2\n")
    return root


@pytest.fixture(scope="module")
def clean(corpus) -> dict[str, str]:
    """What an uninterrupted run of the corpus holds."""
    finish(build(corpus, corpus / "clean", short_tmp()))
    return contents(corpus / "clean")


@pytest.mark.slow
def test_a_driver_killed_mid_run_leaves_no_ray_process_and_the_rerun_matches(corpus, clean, tmp_path):
    ray_tmp, out = short_tmp(), tmp_path / "out"
    proc = build(corpus, out, ray_tmp)
    mid_run(proc, out)
    names = {p.info["name"] for p in run_of(ray_tmp)}
    assert {"raylet", "gcs_server", "ray::DashboardAgent", "ray::RuntimeEnvAgent"} <= names, names
    proc.send_signal(signal.SIGKILL)  # what the kernel's OOM killer does
    proc.communicate(timeout=30)
    left, waited = survivors(ray_tmp, within=10)
    assert not left, f"alive 10 s after the driver's SIGKILL: {[p.info['name'] for p in left]}"
    print(f"the killed run's last process ended {waited:.1f} s after the driver")

    rerun = finish(build(corpus, out, ray_tmp))
    assert "already done" in rerun
    assert contents(out) == clean
    assert not survivors(ray_tmp, within=10)[0]


@pytest.mark.slow
def test_the_next_run_stops_what_a_killed_run_left_when_its_watchdog_died_too(corpus, clean, tmp_path):
    ray_tmp, out = short_tmp(), tmp_path / "out"
    proc = build(corpus, out, ray_tmp)
    mid_run(proc, out)
    session = session_of(ray_tmp, proc.pid)
    watchdog = json.loads((session / ray_lifecycle.MARK).read_text())["watchdog"]
    os.kill(watchdog, signal.SIGKILL)  # both at once, as a kill of everything the user owns would
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    time.sleep(3)
    left = run_of(ray_tmp)
    assert {p.info["name"] for p in left} >= {"ray::DashboardAgent", "ray::RuntimeEnvAgent"}, \
        "Ray 2.60's agents outlive a killed driver by a minute: nothing for the next run to stop?"

    rerun = finish(build(corpus, out, ray_tmp))
    said = re.search(rf"vlforge: stopped (\d+) Ray processes left by a killed run \({re.escape(str(session))}\)", rerun)
    assert said and int(said.group(1)) >= 2, rerun[-3000:]
    assert not any(p.is_running() for p in left)
    assert contents(out) == clean
    assert not survivors(ray_tmp, within=10)[0]


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_retried_and_the_output_matches(corpus, clean, tmp_path):
    ray_tmp, out = short_tmp(), tmp_path / "out"
    proc = build(corpus, out, ray_tmp)
    mid_run(proc, out)
    deadline, killed = time.monotonic() + 60, None
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        for p in run_of(ray_tmp):
            if p.info["name"].startswith("ray::MapBatches(source:pdf"):  # a worker expanding PDFs right now
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
                    killed = p
                    break
        time.sleep(0.05)
    assert killed is not None, "no worker was expanding PDFs"
    finish(proc)
    assert contents(out) == clean
    assert not survivors(ray_tmp, within=10)[0]


@pytest.mark.slow
def test_runs_leave_a_bounded_number_of_session_folders():
    # Drivers that only start the local instance, as every build does (`ray_env.connect`): Ray's start-up is the
    # whole cost of a run here, and the session folders are all it leaves.
    ray_tmp, keep, runs = short_tmp(), 1, 3
    env = {**os.environ, "VLFORGE_RAY_TMP": str(ray_tmp), ray_lifecycle.KEEP_ENV: str(keep)}
    for _ in range(runs):
        subprocess.run([sys.executable, "-c", "from pipelines import ray_env; ray_env.connect(num_cpus=1, "
                        "object_store_memory=80 << 20)"], cwd=REPO, env=env, check=True, capture_output=True)
    sessions = sorted(ray_tmp.glob("session_2*"))
    assert len(sessions) == keep + 1, sessions  # the kept ones and the last run's own
    assert (ray_tmp / "session_latest").resolve() == sessions[-1]
    assert not survivors(ray_tmp, within=10)[0]


@pytest.mark.slow
def test_a_driver_killed_while_ray_starts_leaves_no_ray_process():
    ray_tmp = short_tmp()
    env = {**os.environ, "VLFORGE_RAY_TMP": str(ray_tmp)}
    proc = subprocess.Popen([sys.executable, "-c", "import time; from pipelines import ray_env; "
                             "ray_env.connect(num_cpus=1, object_store_memory=80 << 20); time.sleep(600)"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(p.info["name"] == "raylet" for p in run_of(ray_tmp)):
        time.sleep(0.02)
    assert not list(ray_tmp.glob(f"session_*/{ray_lifecycle.MARK}")), "Ray had started before the kill"
    proc.kill()
    proc.wait()
    assert not survivors(ray_tmp, within=10)[0]


SPILLING_DRIVER = """
import sys, time
import numpy as np
from pipelines import ray_env
ray_env.connect(num_cpus=1, object_store_memory=80 << 20, spill_dir=sys.argv[1])
import ray
refs = [ray.put(np.full(30 << 20, i, dtype=np.uint8)) for i in range(4)]  # 120 MB in an 80 MB store
print("spilled", flush=True)
if sys.argv[2] == "kill":
    time.sleep(600)
"""


@pytest.mark.slow
@pytest.mark.parametrize("end", ["exit", "kill"])
def test_spilled_objects_and_processes_go_with_the_driver(end, tmp_path):
    ray_tmp, spill = short_tmp(), tmp_path / "spill"
    env = {**os.environ, "VLFORGE_RAY_TMP": str(ray_tmp), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SPILLING_DRIVER, str(spill), end], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    said = ""
    for line in iter(proc.stdout.readline, ""):  # Ray's start-up lines, then ours
        said += line
        if line.strip() == "spilled":
            break
    assert said.endswith("spilled\n"), said[-2000:]
    assert any(f.is_file() for f in spill.rglob("*")), "nothing was spilled"
    if end == "kill":
        proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == (-signal.SIGKILL if end == "kill" else 0), out[-2000:]
    assert not survivors(ray_tmp, within=10)[0]
    assert not list(spill.iterdir())  # Ray's ray_spilled_objects_<node> folder is gone too


def test_tidy_stops_only_processes_of_dead_vlforge_sessions_and_prunes_the_oldest(tmp_path, capsys):
    def session(name: str, driver: int, started: float) -> Path:
        folder = tmp_path / name
        (folder / "logs").mkdir(parents=True)
        ray_lifecycle.Session(folder, driver, started, spill=[str(folder / "spill")]).write()
        (folder / "spill").mkdir()
        return folder

    gone = subprocess.Popen(["true"])
    gone.wait()
    me = psutil.Process()
    dead = session("session_2026-01-01_00-00-01_000001_1", gone.pid, time.time())
    finished = [session(f"session_2026-01-0{d}_00-00-00_000001_1", gone.pid, 0.0) for d in (2, 3, 4)]
    for f in finished:
        ray_lifecycle.Session(f, gone.pid, 0.0, closed=True).write()
    # No mark yet (a driver just starting, or killed before writing it): Ray's folder name gives the driver's
    # pid and start time. Pid 1 runs since before now, so this one is in use.
    unmarked_live = tmp_path / f"session_{time.strftime('%Y-%m-%d_%H-%M-%S')}_000001_1"
    unmarked_dead = tmp_path / f"session_2026-01-01_00-00-02_000001_{gone.pid}"
    unmarked_live.mkdir()
    unmarked_dead.mkdir()
    os.utime(unmarked_dead, (time.time() - 3600, time.time() - 3600))  # a fresh one may be a run starting now
    live = session("session_2026-01-01_00-00-00_000001_1", me.pid, me.create_time())
    # Real processes holding a log file open in a session folder, as Ray's agents and workers do.
    with open(dead / "logs" / "agent.out", "w") as a, open(live / "logs" / "agent.out", "w") as b:
        orphan, busy = subprocess.Popen(["sleep", "300"], stdout=a), subprocess.Popen(["sleep", "300"], stdout=b)
    with open(dead / "logs" / "agent.out") as a:  # someone reading a log of the dead run (tail -f): not Ray's
        reader = subprocess.Popen(["sleep", "300"], stdin=a)
    try:
        lines = ray_lifecycle.tidy(tmp_path, keep=2)
        assert lines == [f"vlforge: stopped 1 Ray processes left by a killed run ({dead})"]
        assert lines[0] in capsys.readouterr().err
        assert not psutil.pid_exists(orphan.pid)  # killed, and reaped by tidy's wait
        assert busy.poll() is None  # its driver (this process) is alive: never touched
        assert reader.poll() is None
        assert not (dead / "spill").exists()
        # Kept: the runs in progress and the 2 newest finished sessions (the dead ones, now closed, are the oldest).
        kept = [live, unmarked_live, finished[1], finished[2]]
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in kept)
    finally:
        for p in (orphan, busy, reader):
            p.kill()
            p.wait()
