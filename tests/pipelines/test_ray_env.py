"""The local default stays on loopback: no process of the local Ray instance listens on another address."""

from __future__ import annotations

import contextlib
import ipaddress

import psutil
import pytest


@pytest.mark.usefixtures("ray_session")
def test_the_local_ray_instance_listens_on_loopback_only():
    import ray

    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    listening = set()
    for p in psutil.Process().children(recursive=True):  # the instance this test session started
        with contextlib.suppress(psutil.Error):
            listening |= {c.laddr.ip for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
    assert listening, "found no listening Ray process"
    addresses = [ipaddress.ip_address(ip) for ip in listening]
    assert all((getattr(a, "ipv4_mapped", None) or a).is_loopback for a in addresses), listening
