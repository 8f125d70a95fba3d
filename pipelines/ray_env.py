"""Starting or joining Ray: a local instance on loopback by default, an existing cluster on request.

Ray's processes listen on the machine's network address unless told otherwise. The local default
must not expose Ray to the network, so before Ray is imported we set
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, which makes Ray bind its node to 127.0.0.1 (and refuse
other nodes). Joining a real cluster (``--ray-address auto`` or ``ray://host:10001``) needs no such
setting: the cluster's own addresses apply.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token file in ~/.ray for throwaway local instances
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # the machine may have no internet: never phone home

import ray  # noqa: E402


def default_object_store_bytes() -> int:
    """A tenth of RAM, kept between 512 MiB and 1 GiB.

    Ray's own default (30% of RAM) lets streaming blocks spread over gigabytes of shared memory that
    stay resident once touched, so a long run's footprint creeps up to that size. Our blocks are a
    few MB (a unit of pages) and a shard batch is ~150 MB, so 1 GiB keeps every stage busy.
    """
    import psutil

    return int(min(max(psutil.virtual_memory().total // 10, 512 << 20), 1 << 30))


def connect(address: str | None = None, num_cpus: int | None = None,
            object_store_memory: int | None = None) -> dict[str, object]:
    """Make sure this process is a Ray driver; returns a few facts about the cluster for the summary.

    Reuses an already-initialised Ray (tests start one per session). With no `address`, starts a
    local instance sized to the machine (or `num_cpus`), on loopback only.
    """
    if not ray.is_initialized():
        if address is None and object_store_memory is None:
            object_store_memory = default_object_store_bytes()
        if address:
            ray.init(address=address, log_to_driver=True)
        else:
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                object_store_memory=object_store_memory,
                _temp_dir=os.environ.get("VLFORGE_RAY_TMP") or os.path.join(tempfile.gettempdir(), "vlforge-ray"),
            )
    resources = ray.cluster_resources()
    return {"address": address or "local", "cpus": int(resources.get("CPU", 0)),
            "gpus": int(resources.get("GPU", 0)), "nodes": len([n for n in ray.nodes() if n.get("Alive")])}
