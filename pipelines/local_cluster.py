"""A real multi-node Ray cluster on one machine, each node a host in its own network namespace.

Tests and `bench/scale.py` use it to run the pipeline as a cluster job, and a user can use it to try
`ray job submit` before they have a cluster. Needs root and `ip netns`. Node 0 (the head) holds a
bridge; every other node is joined to it by a veth pair, so the nodes talk over private addresses
that exist only inside these namespaces: no traffic leaves them, and their ports never collide with
anything else on the machine. Names and the subnet are chosen per cluster, so two clusters (two test
runs) never meet.

Processes are stopped by the namespace they live in (`ip netns pids`), never with `ray stop`,
which kills every Ray process on the machine, other people's local instances included.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

GCS_PORT = 6379
DASHBOARD_PORT = 8265


class ClusterUnavailable(RuntimeError):
    """This machine cannot host a namespace cluster (not root, or no `ip netns`)."""


def unavailable_reason() -> str | None:
    """Why a namespace cluster cannot start here, or None when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is missing"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`ip netns` does not work here: {probe.stderr.strip()}"
    return None


def cluster_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a cluster's processes: no loopback-only switch (it would refuse other nodes),
    no inherited RAY_ADDRESS, no token auth, no usage stats."""
    env = dict(os.environ if base is None else base)
    for key in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS", "VLFORGE_RAY_TMP"):
        env.pop(key, None)
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
    return env


@dataclass
class NamespaceCluster:
    """`nodes` Ray nodes of `cpus` CPUs each, started by `up()` and removed by `down()` (also on error).

    `python` is the interpreter whose `ray` starts the nodes and runs their workers (the project venv's).
    """

    nodes: int = 2
    cpus: int = 1
    object_store_bytes: int = 150 * 1024 * 1024
    python: Path = field(default_factory=lambda: Path(sys.executable))
    spill_dir: str = ""
    token: str = field(default_factory=lambda: secrets.token_hex(3))
    subnet: str = field(default_factory=lambda: f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(250)}")
    temp_dirs: list[str] = field(default_factory=list)

    @property
    def namespaces(self) -> list[str]:
        return [f"vlf{self.token}-{i}" for i in range(self.nodes)]

    def ip(self, node: int) -> str:
        return f"{self.subnet}.{node + 1}"

    @property
    def gcs_address(self) -> str:
        return f"{self.ip(0)}:{GCS_PORT}"

    @property
    def dashboard_url(self) -> str:
        return f"http://{self.ip(0)}:{DASHBOARD_PORT}"

    def __enter__(self) -> NamespaceCluster:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- lifecycle ------------------------------------------------------------------------------
    def up(self, timeout: float = 90) -> None:
        """Create the namespaces and their links, start the head and the other nodes, wait for all of them."""
        reason = unavailable_reason()
        if reason:
            raise ClusterUnavailable(reason)
        try:
            self._network()
            for node in range(self.nodes):
                self.start_node(node)
            self.wait_for_nodes(self.nodes, timeout)
        except BaseException:
            self.down()
            raise

    def _network(self) -> None:
        head = self.namespaces[0]
        for ns in self.namespaces:
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", head, "link", "add", "br0", "type", "bridge")
        _ip("-n", head, "addr", "add", f"{self.ip(0)}/24", "dev", "br0")
        _ip("-n", head, "link", "set", "br0", "up")
        for node, ns in enumerate(self.namespaces[1:], start=1):
            _ip("-n", head, "link", "add", f"h{node}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("-n", head, "link", "set", f"h{node}", "master", "br0")
            _ip("-n", head, "link", "set", f"h{node}", "up")
            _ip("-n", ns, "addr", "add", f"{self.ip(node)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def start_node(self, node: int) -> None:
        """Start Ray on one node (the head for node 0); also brings back a node that `kill_node` stopped."""
        temp = tempfile.mkdtemp(prefix="vlf-")  # Ray's socket paths must stay under 108 bytes
        self.temp_dirs.append(temp)
        args = ["start", "--node-ip-address", self.ip(node), "--num-cpus", str(self.cpus),
                "--object-store-memory", str(self.object_store_bytes), "--temp-dir", temp, "--disable-usage-stats"]
        if self.spill_dir:
            args += ["--object-spilling-directory", self.spill_dir]
        if node == 0:
            args += ["--head", "--port", str(GCS_PORT), "--dashboard-host", self.ip(0),
                     "--dashboard-port", str(DASHBOARD_PORT)]
        else:
            args += ["--address", self.gcs_address]
        proc = self.ray(node, *args, capture_output=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start on node {node} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")

    def wait_for_nodes(self, count: int, timeout: float = 90) -> None:
        """Wait until the head sees `count` live nodes."""
        deadline = time.monotonic() + timeout
        while True:
            alive = self.alive_nodes()
            if alive == count:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{alive} of {count} Ray nodes alive after {timeout:.0f} s")
            time.sleep(1)

    def alive_nodes(self) -> int:
        """Live nodes as the head's dashboard reports them (-1 while it does not answer)."""
        code = ("import json, urllib.request; "
                f"d = json.load(urllib.request.urlopen('{self.dashboard_url}/nodes?view=summary', timeout=5)); "
                "print(sum(1 for n in d['data']['summary'] if n['raylet']['state'] == 'ALIVE'))")
        proc = self.run(0, [str(self.python), "-c", code], capture_output=True, timeout=30)
        try:
            return int(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return -1

    def kill_node(self, node: int) -> list[int]:
        """SIGKILL every process of one node (its raylet, object store and workers), as a lost host."""
        return self._kill(self.namespaces[node])

    def kill_workers(self, node: int) -> list[int]:
        """SIGKILL the Ray worker processes of one node (tasks and actors in flight), leaving its raylet,
        as when workers die of memory or a crash; Ray retries their tasks and restarts their actors."""
        killed = []
        for pid in self.pids(node):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if cmd.startswith("ray::") or "default_worker.py" in cmd:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            except (FileNotFoundError, ProcessLookupError):
                pass
        return killed

    def down(self) -> None:
        """Kill every process in the cluster's namespaces, delete them and the nodes' temp folders."""
        existing = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
        for ns in reversed(self.namespaces):
            if ns in existing:
                self._kill(ns)
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for temp in self.temp_dirs:
            shutil.rmtree(temp, ignore_errors=True)

    @staticmethod
    def _kill(ns: str) -> list[int]:
        killed: list[int] = []
        for _ in range(50):
            pids = [int(p) for p in subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                                   text=True).stdout.split()]
            if not pids:
                return killed
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"processes in namespace {ns} survive SIGKILL")

    def pids(self, node: int) -> list[int]:
        """Process ids living on one node."""
        out = subprocess.run(["ip", "netns", "pids", self.namespaces[node]], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    # -- running things on a node ---------------------------------------------------------------
    def run(self, node: int, argv: list[str], env: dict[str, str] | None = None,
            **kwargs) -> subprocess.CompletedProcess:
        """Run a command on one node (inside its namespace), with the cluster environment."""
        return subprocess.run(["ip", "netns", "exec", self.namespaces[node], *argv], env=cluster_env(env),
                              text=True, **kwargs)

    def popen(self, node: int, argv: list[str], env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.namespaces[node], *argv], env=cluster_env(env),
                                text=True, **kwargs)

    def ray(self, node: int, *args: str, **kwargs) -> subprocess.CompletedProcess:
        """The `ray` CLI of `python`'s environment, on one node."""
        return self.run(node, [str(self.python.parent / "ray"), *args], **kwargs)

    def submit_argv(self, entrypoint: list[str], working_dir: str | Path, runtime_env: dict | None = None,
                    submission_id: str = "") -> list[str]:
        """`ray job submit` of `entrypoint` to this cluster, waiting for the job to end (run it on node 0)."""
        argv = [str(self.python.parent / "ray"), "job", "submit", "--address", self.dashboard_url,
                "--working-dir", str(working_dir)]
        if submission_id:
            argv += ["--submission-id", submission_id]
        if runtime_env:
            argv += ["--runtime-env-json", json.dumps(runtime_env)]
        return [*argv, "--", *entrypoint]


    def stop_job(self, submission_id: str) -> subprocess.CompletedProcess:
        """`ray job stop` (a job that waits on a lost node forever is stopped, then resumed by a rerun)."""
        return self.ray(0, "job", "stop", "--address", self.dashboard_url, submission_id, capture_output=True,
                        timeout=120)


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
