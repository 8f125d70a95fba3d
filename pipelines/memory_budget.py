"""Sizing a local run to a memory limit, so that it finishes with fewer workers and smaller batches instead of
being OOM-killed over and over.

The limit is `--memory-limit` (`[ray] memory_limit`), else the memory cgroup the process runs in (v2
`memory.max`, v1 `memory.limit_in_bytes`, the smallest along the path) when that is below the machine's RAM.
Ray's own memory monitor does not see a cgroup the process was put in after boot (it reads the root
cgroup's files only), so without this a run in a 1.2 GiB cgroup had its expand workers (~400 MB each)
killed by the kernel and retried forever. From the limit come the object store (15%), the CPUs the
local Ray instance offers (each CPU is a worker process that may hold a chain of stages and its models),
and the rows a shard writer holds at once. Measured on the embedded corpus (2 CPUs, 144 dpi, rapidocr):
the driver, GCS, raylet and Ray's agents take ~650 MB, a worker running the whole chain ~400-450 MB,
the writer ~200 MB; the default build peaks at ~1.7 GB in its cgroup.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20
FIXED_BYTES = 850 * MiB  # driver, GCS, raylet, Ray's agents and the shard writer, measured
WORKER_BYTES = 450 * MiB  # one worker running the source and its chain of stages, measured
STORE_SHARE = 0.15  # of the limit, for the object store (Ray Data's backpressure keeps blocks inside it)
MIN_STORE_BYTES = 100 * MiB  # [ray] object_store_mb's floor
MAX_STORE_BYTES = 1 << 30  # ray_env's default ceiling
ROW_BYTES = 450 * 1024  # a 144-dpi page sample (~150 KB) and the copies a writer makes of it
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes in "1.5G", "1500M", "2GiB", "800MB" or a plain number of bytes (binary units: K = 1024)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if not m:
        raise ValueError(f"{text!r} is not a size (e.g. 1.5G, 1500M, 2GiB)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def size_text(n: int) -> str:
    """A size as people write a limit: 1.5 GiB, 800 MiB."""
    return f"{n / (1 << 30):.3g} GiB" if n >= 1 << 30 else f"{n / MiB:.0f} MiB"


def _cgroup_dirs() -> list[tuple[Path, Path, str]]:
    """(mount point, folder of this process's memory cgroup under it, "v1" or "v2") for each memory hierarchy."""
    try:
        groups = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in mounts:
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        root, point = fields[3], Path(fields[4])
        fstype, _, opts = line.split(" - ", 1)[1].partition(" ")
        for g in groups:
            hid, controllers, path = g.split(":", 2)
            if fstype == "cgroup2" and hid == "0" and controllers == "":
                version = "v2"
            elif fstype == "cgroup" and "memory" in controllers.split(",") and "memory" in opts.split(","):
                version = "v1"
            else:
                continue
            rel = path[len(root):] if root != "/" and path.startswith(root) else path
            found.append((point, point / rel.strip("/"), version))
    return found


def cgroup_limit() -> tuple[int, Path] | None:
    """The tightest memory limit of the cgroups this process is in (its own and their parents), and the file
    that sets it; None when there is none below the machine's RAM."""
    import psutil

    ram = psutil.virtual_memory().total
    best: tuple[int, Path] | None = None
    for point, folder, version in _cgroup_dirs():
        name = "memory.max" if version == "v2" else "memory.limit_in_bytes"
        for d in (folder, *folder.parents):
            if not d.is_relative_to(point):
                break
            try:
                raw = (d / name).read_text().strip()
            except OSError:
                continue
            if raw.isdigit() and int(raw) < ram and (best is None or int(raw) < best[0]):
                best = (int(raw), d / name)
    return best


def oom_kills() -> int:
    """How many processes the kernel's OOM killer has killed in this process's memory cgroups (0 if unknown)."""
    total = 0
    for _, folder, version in _cgroup_dirs():
        name = "memory.events" if version == "v2" else "memory.oom_control"
        try:
            for line in (folder / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and value.strip().isdigit():
                    total += int(value)
        except OSError:
            continue
    return total


@dataclass(frozen=True)
class Budget:
    """What a memory limit allows a local run: its CPUs (workers), object store and writer batch."""

    limit: int
    origin: str  # "--memory-limit" or the cgroup file
    num_cpus: int
    object_store_bytes: int
    shard_rows: int
    enough: bool  # False: below what one worker needs (FIXED + store + WORKER); the run may still be OOM-killed

    def describe(self) -> str:
        line = (f"memory: limit {size_text(self.limit)} ({self.origin}): {self.num_cpus} "
                f"worker{'s' if self.num_cpus != 1 else ''}, object store {size_text(self.object_store_bytes)}, "
                f"shards of at most {self.shard_rows} rows")
        if not self.enough:
            line += (f"; below the ~{size_text(FIXED_BYTES + self.object_store_bytes + WORKER_BYTES)} one worker "
                     f"needs, so workers may be OOM-killed (units that keep failing become error rows)")
        return line


def derive(limit: int, cpus: int, shard_rows: int, origin: str, object_store_bytes: int | None = None) -> Budget:
    """The settings a run gets under `limit` bytes on `cpus` CPUs; an explicit object store size is kept."""
    store = object_store_bytes or int(min(max(limit * STORE_SHARE, MIN_STORE_BYTES), MAX_STORE_BYTES))
    workers = (limit - FIXED_BYTES - store) // WORKER_BYTES
    rows = max(16, int(limit / 8 / ROW_BYTES))
    return Budget(limit=limit, origin=origin, num_cpus=int(max(1, min(cpus, workers))), object_store_bytes=store,
                  shard_rows=min(shard_rows, rows), enough=workers >= 1)


def for_run(memory_limit: str, num_cpus: int | None, shard_rows: int, object_store_bytes: int | None,
            ray_address: str | None) -> Budget | None:
    """The budget of a local run: from `memory_limit` ("" = none given), else from a memory cgroup, else None
    (no limit: the defaults). A cluster's nodes size themselves (`ray start`), so a run joining one gets None."""
    if ray_address:
        return None
    if memory_limit:
        limit, origin = parse_size(memory_limit), "--memory-limit"
    else:
        found = cgroup_limit()
        if found is None:
            return None
        limit, origin = found[0], f"cgroup {found[1].parent}"
    cpus = num_cpus or os.cpu_count() or 1
    return derive(limit, cpus, shard_rows, origin, object_store_bytes)
