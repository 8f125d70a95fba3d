"""The local Ray instance's lifetime: its processes end with the driver however the driver ends, and what
runs leave on disk stays bounded.

What Ray 2.60 does by itself (measured on this project's 2-core machine): `ray.init` starts the GCS, the
raylet and their helpers with PR_SET_PDEATHSIG, so they die with the driver, and the workers follow the
raylet. The raylet's two agents (ray::DashboardAgent, ray::RuntimeEnvAgent, ~210 MB together) notice that
the raylet died, then block reporting it to the dead GCS (`publish_error_to_driver`, a 60 s timeout): after a
SIGKILL of the driver (what the OOM killer sends) they lived on for 60-90 s, and no Ray option shortens that.
A process group does not gather them either: each worker leads a group of its own. Every run also leaves a
session folder (logs, sockets, by default the spilled objects) under the temp dir, and a killed run leaves its
spilled objects behind.

So a local instance gets, from `follow_driver()` before `ray.init` (and `record()` after it):

- a watchdog: a small process in a session of its own (a kill of the driver's process group leaves it alone)
  whose stdin is a pipe that only the driver holds. End of file means the driver is gone, whatever ended it
  (a kill during Ray's start-up included); the watchdog then kills every process of the driver's Ray session,
  removes the session's spilled objects and marks the session closed in `vlforge.json` in its folder.

and, from `tidy()` before a local run starts Ray:

- a sweep: sessions under vlforge's temp dir whose driver is dead and that were never closed (their watchdog
  died too) have their processes stopped, with one line on stderr saying so;
- pruning: finished session folders beyond the newest `VLFORGE_RAY_KEEP_SESSIONS` (default 3) are removed.

A process belongs to a session when its command line names the session folder or it holds a file inside it
open for writing (the agents and workers rename themselves, but keep writing their log files there). Only
session folders under vlforge's own temp dir are looked at, and only processes of a session whose driver is
dead are killed: Ray instances of other programs, and other vlforge runs in progress, are never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psutil

MARK = "vlforge.json"  # in a session folder: the driver, the watchdog, the spill folders, closed or not
KEEP_ENV = "VLFORGE_RAY_KEEP_SESSIONS"
DEFAULT_KEEP = 3
SPILL_PREFIX = "ray_spilled_objects_"  # Ray's FileSystemStorage: <spill dir>/ray_spilled_objects_<node id>
_NAME = re.compile(r"^session_(\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)_\d+_(\d+)$")  # Ray's: date_time_usec_driverpid
_MODULE = "pipelines.ray_lifecycle"  # how the watchdog runs: python -m _MODULE ROOT DRIVER_PID
_watchdogs: dict[str, subprocess.Popen] = {}  # by root; the driver's end of each pipe lives as long as the driver


@dataclass
class Session:
    """One Ray session folder under vlforge's temp dir, as its `vlforge.json` (or, before that was written,
    Ray's folder name, which carries the driver's pid and start time) describes it."""

    path: Path
    driver: int
    started: float  # the driver began no later than this (epoch seconds)
    watchdog: int = 0
    spill: list[str] = field(default_factory=list)
    closed: bool = False
    marked: bool = True  # False: known from Ray's folder name only (its driver is starting, or died starting)

    @classmethod
    def read(cls, path: Path) -> Session | None:
        """The session in folder `path`, or None when `path` is not a Ray session folder."""
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            mark = json.loads((path / MARK).read_text())
            return cls(path, int(mark["driver"]), float(mark["started"]), int(mark.get("watchdog", 0)),
                       list(mark.get("spill", [])), bool(mark.get("closed")))
        m = _NAME.match(path.name)
        if not m:
            return None
        started = datetime.strptime(m.group(1), "%Y-%m-%d_%H-%M-%S").timestamp() + 1
        return cls(path, int(m.group(2)), started, marked=False)

    def write(self) -> None:
        """Save the mark atomically, so a reader never sees half of it."""
        tmp = self.path / f".{MARK}.{os.getpid()}"
        tmp.write_text(json.dumps({"driver": self.driver, "started": self.started, "watchdog": self.watchdog,
                                   "spill": self.spill, "closed": self.closed}))
        os.replace(tmp, self.path / MARK)

    def driver_alive(self) -> bool:
        return _alive(self.driver, self.started)

    def watchdog_alive(self) -> bool:
        """True while this session's watchdog runs (checked by its command line, so a reused pid does not count)."""
        if not self.watchdog:
            return False
        with contextlib.suppress(psutil.Error):
            p = psutil.Process(self.watchdog)
            cmdline = p.cmdline()
            return p.status() != psutil.STATUS_ZOMBIE and cmdline[-3:] == [
                _MODULE, os.path.realpath(self.path.parent), str(self.driver)]
        return False


def _alive(pid: int, started: float) -> bool:
    """Whether process `pid` runs and began no later than `started` (a later one reuses a dead driver's pid)."""
    try:
        p = psutil.Process(pid)
        return p.create_time() <= started + 1 and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _age(path: Path) -> float:
    """Seconds since `path` last changed (0 when it is gone)."""
    with contextlib.suppress(OSError):
        return time.time() - path.stat().st_mtime
    return 0.0


def session_processes(folders: Iterable[Path]) -> dict[Path, list[psutil.Process]]:
    """The live processes of each session folder: those whose command line names it or that hold a file inside
    it open for writing (a reader, such as `tail -f` of a log, is not Ray's). One pass over the process table,
    whatever the number of folders."""
    prefixes = {f: {str(f), os.path.realpath(f)} for f in folders}
    found: dict[Path, list[psutil.Process]] = {f: [] for f in prefixes}
    if not prefixes:
        return found
    me = os.getpid()
    for p in psutil.process_iter(["cmdline", "status"]):
        if p.pid == me or p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        names = list(p.info["cmdline"] or [])
        with contextlib.suppress(OSError):
            fd_dir = f"/proc/{p.pid}/fd"
            for fd in os.listdir(fd_dir):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"{fd_dir}/{fd}")
                    # Open for writing (the link's mode says how the file is open): Ray's own log files, not
                    # someone's `tail -f` of one.
                    if target.startswith("/") and os.lstat(f"{fd_dir}/{fd}").st_mode & stat.S_IWUSR:
                        names.append(target)
        for folder, pre in prefixes.items():
            if any(n == s or s + "/" in n for n in names for s in pre):
                found[folder].append(p)
    return found


def stop(processes: list[psutil.Process]) -> int:
    """SIGKILL `processes` (their driver is gone, nothing they hold is worth a graceful exit) and wait for
    them; returns how many were alive to kill."""
    killed = []
    for p in processes:
        with contextlib.suppress(psutil.Error):
            p.kill()  # psutil checks the pid still names the process it found
            killed.append(p)
    psutil.wait_procs(killed, timeout=5)
    return len(killed)


def close(session: Session, skip: Iterable[int] = ()) -> int:
    """End a session whose driver is dead: kill its processes (but the pids in `skip`), remove its spilled
    objects, mark it closed. Returns the number of processes killed."""
    left = [p for p in session_processes([session.path])[session.path] if p.pid not in set(skip)]
    stopped = stop(left)
    for folder in session.spill:
        shutil.rmtree(folder, ignore_errors=True)
    session.closed = True
    with contextlib.suppress(OSError):
        session.write()
    return stopped


def keep_count() -> int:
    """How many finished session folders to keep for their logs: $VLFORGE_RAY_KEEP_SESSIONS, default 3."""
    with contextlib.suppress(ValueError):
        return max(0, int(os.environ.get(KEEP_ENV, DEFAULT_KEEP)))
    return DEFAULT_KEEP


def tidy(root: str | Path, keep: int | None = None) -> list[str]:
    """Before a local run starts Ray under `root`: stop the processes of earlier sessions whose driver died
    and whose watchdog did not clean up (one stderr line per such session), then prune finished session
    folders down to the newest `keep` (default: `keep_count()`). Returns the lines printed."""
    root = Path(root)
    if not root.is_dir():
        return []
    sessions = [s for p in sorted(root.glob("session_*")) if p.is_dir() and not p.is_symlink()
                and (s := Session.read(p)) is not None]
    # A folder without a mark that is less than a minute old may be a run starting right now (its name's
    # local time is a weak clue): it waits for a later run.
    abandoned = [s for s in sessions if not s.closed and not s.driver_alive() and not s.watchdog_alive()
                 and (s.marked or _age(s.path) > 60)]
    found = session_processes([s.path for s in abandoned])
    lines = []
    for s in abandoned:
        stopped = stop(found[s.path])
        if stopped:
            lines.append(f"vlforge: stopped {stopped} Ray processes left by a killed run ({s.path})")
            print(lines[-1], file=sys.stderr)
        for folder in s.spill:
            shutil.rmtree(folder, ignore_errors=True)
        s.closed = True
        with contextlib.suppress(OSError):
            s.write()
    finished = [s for s in sessions if s.closed]  # sorted by name: Ray's names start with the date and time
    keep = keep_count() if keep is None else keep
    for s in finished[:max(0, len(finished) - keep)]:
        shutil.rmtree(s.path, ignore_errors=True)
    return lines


def follow_driver(root: str | Path) -> None:
    """Before `ray.init` starts a local instance under `root` in this process: start the watchdog (one per
    process and root), so the instance's processes go when this process goes, however it goes, a kill during
    Ray's start-up (seconds on a busy machine) included."""
    key = os.path.realpath(root)
    if key in _watchdogs and _watchdogs[key].poll() is None:
        return
    os.makedirs(key, exist_ok=True)
    _watchdogs[key] = subprocess.Popen(
        [sys.executable, "-m", _MODULE, key, str(os.getpid())], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True, cwd=Path(__file__).resolve().parents[1])


def record(spill_dir: str = "") -> Session:
    """Right after `ray.init` started a local instance in this process: write the session's mark (driver,
    watchdog, where this node spills), which the watchdog and later runs read."""
    import ray

    node = ray._private.worker._global_node
    folder = Path(node.get_session_dir_path())
    watchdog = _watchdogs.get(os.path.realpath(folder.parent))
    me = psutil.Process()
    session = Session(folder, me.pid, me.create_time(), watchdog.pid if watchdog else 0,
                      [os.path.join(spill_dir or folder, SPILL_PREFIX + node.node_id)])
    session.write()
    return session


def watch(root: Path, driver: int) -> None:
    """The watchdog's loop: wait for the driver to go, then close the sessions it started under `root` (Ray
    names them after its pid). End of file on stdin comes at once when the driver is killed, but also while a
    normal exit finalises, so the driver's pid decides (it is also polled every second: a child the driver
    forked may hold the pipe open)."""
    try:
        started = psutil.Process(driver).create_time()
    except psutil.Error:
        started = 0.0
    pipe_open = True
    while started and _alive(driver, started):
        if not pipe_open:  # the pipe closes while the driver finalises (after Ray's own shutdown): let it end
            time.sleep(0.1)
            continue
        ready, _, _ = select.select([sys.stdin], [], [], 1.0)
        if ready and not os.read(sys.stdin.fileno(), 4096):
            pipe_open = False
    for folder in sorted(root.glob(f"session_*_{driver}")):
        session = Session.read(folder)
        if session is None or session.closed or (session.marked and abs(session.started - started) > 1):
            continue  # not this driver's (an earlier process with the same pid)
        t = time.perf_counter()
        stopped = close(session, skip=[os.getpid(), driver])
        with contextlib.suppress(OSError), open(folder / "logs" / "vlforge_watchdog.log", "a") as log:
            log.write(f"{datetime.now().isoformat(timespec='seconds')} driver {driver} gone: stopped {stopped} "
                      f"processes, removed {session.spill} in {time.perf_counter() - t:.2f} s\n")


if __name__ == "__main__":
    watch(Path(sys.argv[1]), int(sys.argv[2]))
