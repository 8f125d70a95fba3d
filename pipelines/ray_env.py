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

import json
import os
import sys
import tempfile
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


def connect(address: str | None = None, num_cpus: int | None = None,
            object_store_memory: int | None = None, spill_dir: str = "", spare_workers: int = 1) -> dict[str, object]:
    """Make sure this process is a Ray driver; returns a few facts about the cluster for the summary.

    Reuses an already-initialised Ray (tests start one per session). With no `address`, starts a
    local instance sized to the machine (or `num_cpus`), on loopback only, with an object store of
    `object_store_memory` bytes (default: `default_object_store_bytes()`) that spills to `spill_dir`
    (default: Ray's temp folder), keeping up to `spare_workers` idle worker processes beyond one per CPU
    alive (the reason is at the setting). A cluster's memory settings are its nodes' (`ray start`). A local
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
            # Ray kills idle task workers beyond one per CPU. The writer (no CPU) runs beside the busy stage
            # workers in a process of its own; once it idles, Ray killed a stage worker instead, and the next
            # task started a new one that set every stage up again (a third set-up and a gap with one core
            # busy, on 753 pages of manuals). One spare keeps the set-up stage workers and the writer alive.
            system: dict[str, Any] = {"num_workers_soft_limit": (num_cpus or os.cpu_count() or 1) + spare_workers}
            if spill_dir:
                os.makedirs(spill_dir, exist_ok=True)
                system["object_spilling_config"] = json.dumps(
                    {"type": "filesystem", "params": {"directory_path": spill_dir}})
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                object_store_memory=object_store_memory,
                _temp_dir=temp_dir,
                _system_config=system or None,
            )
            ray_lifecycle.record(spill_dir)
    resources = ray.cluster_resources()
    return {"address": address or "local", "cpus": int(resources.get("CPU", 0)),
            "gpus": int(resources.get("GPU", 0)), "nodes": len([n for n in ray.nodes() if n.get("Alive")])}
