"""Starting or joining Ray: a local instance on loopback by default, an existing cluster on request.

Ray's processes listen on the machine's network address unless told otherwise. The local default
must not expose Ray to the network, so before Ray is imported we set
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, which makes Ray bind its node to 127.0.0.1 (and refuse
other nodes). Joining a real cluster (``--ray-address auto`` or ``ray://host:10001``, or a driver that
``ray job submit`` started, which finds ``RAY_ADDRESS`` set) must not have it: this process then
needs the address it has on the cluster's network, or workers on other nodes cannot reach it.
Ray reads the switch once, when it is imported, so Ray is imported here only in `connect()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import threading
from typing import Any

LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
_set_here = False
if not os.environ.get("RAY_ADDRESS") and LOOPBACK_SWITCH not in os.environ:
    os.environ[LOOPBACK_SWITCH] = "0"
    _set_here = True
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token file in ~/.ray for throwaway local instances
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # the machine may have no internet: never phone home
# Ray starts its workers at niceness 15, below every other process: on a laptop or a shared 2-core box any
# busy program then takes the CPU from the OCR actors. Our workers are the job, so they run at the
# driver's priority (a local instance reads this when it starts; a cluster's nodes keep their own).
os.environ.setdefault("RAY_worker_niceness", "0")


def default_object_store_bytes() -> int:
    """A tenth of RAM, kept between 512 MiB and 1 GiB.

    Ray's own default (30% of RAM) lets streaming blocks spread over gigabytes of shared memory that
    stay resident once touched, so a long run's footprint creeps up to that size. Our blocks are a
    few MB (a unit of pages) and a shard batch is ~150 MB, so 1 GiB keeps every stage busy.
    """
    import psutil

    return int(min(max(psutil.virtual_memory().total // 10, 512 << 20), 1 << 30))


def connect(address: str | None = None, num_cpus: int | None = None, object_store_memory: int | None = None,
            spill_dir: str = "", keep_workers: bool = True) -> dict[str, object]:
    """Make sure this process is a Ray driver; returns a few facts about the cluster for the summary.

    Reuses an already-initialised Ray (tests start one per session). With no `address`, starts a
    local instance sized to the machine (or `num_cpus`), on loopback only, with an object store of
    `object_store_memory` bytes (default: `default_object_store_bytes()`) that spills to `spill_dir`
    (default: Ray's temp folder), and, with `keep_workers`, no idle worker killed while the run's demand
    is at its peak (the reason is at the setting). A cluster's memory settings are its nodes' (`ray start`). A local
    instance's processes and spilled objects go when this process goes, however it goes, and old session
    folders are pruned (`pipelines/ray_lifecycle.py`).
    """
    if address and _set_here and "ray" not in sys.modules:
        os.environ.pop(LOOPBACK_SWITCH, None)  # a cluster driver listens on its cluster address
    import ray

    if address and not ray._private.ray_constants.ENABLE_RAY_CLUSTER:
        raise RuntimeError(f"Ray was imported in loopback-only mode ({LOOPBACK_SWITCH}=0) before joining "
                           f"{address}; unset it to use a cluster")
    if not ray.is_initialized():
        if address is None and object_store_memory is None:
            object_store_memory = default_object_store_bytes()
        if address:
            ray.init(address=address, log_to_driver=True)
        else:
            from pipelines import ray_lifecycle

            temp_dir = os.environ.get("VLFORGE_RAY_TMP") or os.path.join(tempfile.gettempdir(), "vlforge-ray")
            ray_lifecycle.tidy(temp_dir)  # stop what a killed earlier run left running; prune old session folders
            ray_lifecycle.follow_driver(temp_dir)  # the instance's processes end with this process
            # Ray kills idle workers once it has more workers than CPUs, and it counts every worker: Ray Data's
            # own two actors, model actors and the writer (no CPU), which runs beside the busy stage workers in
            # a process of its own. So a stage worker idle between two tasks was killed, and the next task
            # started a new process that imported and set every stage up again (on 753 pages of manuals: a
            # third set-up, and seconds with one core busy). Ray never starts more processes than the run's
            # peak demand, so a high limit only keeps those alive; under a memory limit Ray's default holds.
            cpus = num_cpus or os.cpu_count() or 1
            system: dict[str, Any] = {"num_workers_soft_limit": 2 * cpus + 4} if keep_workers else {}
            if spill_dir:
                os.makedirs(spill_dir, exist_ok=True)
                system["object_spilling_config"] = json.dumps(
                    {"type": "filesystem", "params": {"directory_path": spill_dir}})
            # Starting the instance keeps this process waiting ~6 s (0.7 s of its CPU): Ray Data's import
            # (1.4 s of CPU, which every run needs before its first task) fits in that wait.
            ready = threading.Thread(target=_import_ray_data, name="vlforge-import-ray-data", daemon=True)
            ready.start()
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                object_store_memory=object_store_memory,
                _temp_dir=temp_dir,
                _system_config=system or None,
            )
            ready.join()
            ray_lifecycle.record(spill_dir)
    resources = ray.cluster_resources()
    return {"address": address or "local", "cpus": int(resources.get("CPU", 0)),
            "gpus": int(resources.get("GPU", 0)), "nodes": len([n for n in ray.nodes() if n.get("Alive")])}


def _import_ray_data() -> None:
    """Import Ray Data and make its context (a failure here surfaces where the runner imports it)."""
    with contextlib.suppress(Exception):
        import ray.data

        ray.data.DataContext.get_current()

