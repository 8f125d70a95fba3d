"""Peak memory of a set of processes, as proportional set size (PSS), sampled on a thread.

PSS splits each shared page between the processes that map it, so summing it over processes counts
Ray's shared object store (and shared libraries) once. `PssSampler` polls a function that lists the
processes (or pids) to measure, asks an optional role classifier which role each one plays (or to
skip it), and keeps the peak of the total, of each role's sum, and of the largest single process per
role. Used by the benchmarks (`bench/pdf.py`, `bench/scale.py`, `bench/web.py`) and by
`tests/pipelines/test_memory.py`.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

import psutil

Processes = Callable[[], Iterable[psutil.Process | int]]
Role = Callable[[psutil.Process], str | None]


def own_tree() -> list[psutil.Process]:
    """This process and all its descendants (a local Ray instance's processes and workers among them)."""
    me = psutil.Process()
    return [me, *me.children(recursive=True)]


def tree_of(pid: int) -> Callable[[], list[psutil.Process]]:
    """A process lister for `pid` and its descendants (none once it has exited)."""

    def processes() -> list[psutil.Process]:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        return []

    return processes


class PssSampler:
    """Samples the PSS of `processes()` every `every` seconds while used as a context manager.

    `role(process)` names the role a process plays, or None to leave it out (default: every process is
    "all"). After the block: `peak` is the largest total of one sample, `peak_sum[role]` the largest
    sum of a role, `peak_one[role]` the largest single process of a role, `pids[role]` every pid seen
    in a role, and `count_at_peak[role]` how many processes of a role the sample with the peak total had.
    A process that exits or cannot be read while sampled is left out of that sample.
    """

    def __init__(self, processes: Processes = own_tree, role: Role | None = None, every: float = 0.25):
        self.processes, self.role, self.every = processes, role or (lambda p: "all"), every
        self.peak = 0
        self.peak_sum: Counter[str] = Counter()
        self.peak_one: Counter[str] = Counter()
        self.pids: dict[str, set[int]] = {}
        self.count_at_peak: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        """Take one sample now and update the peaks."""
        sums: Counter[str] = Counter()
        counts: Counter[str] = Counter()
        seen: set[int] = set()
        for item in self.processes():
            with contextlib.suppress(psutil.Error):
                p = item if isinstance(item, psutil.Process) else psutil.Process(item)
                if p.pid in seen:
                    continue
                seen.add(p.pid)
                role = self.role(p)
                if role is None:
                    continue
                pss = p.memory_full_info().pss
                sums[role] += pss
                counts[role] += 1
                self.peak_one[role] = max(self.peak_one[role], pss)
                self.pids.setdefault(role, set()).add(p.pid)
        for role, total in sums.items():
            self.peak_sum[role] = max(self.peak_sum[role], total)
        if sum(sums.values()) > self.peak:
            self.peak, self.count_at_peak = sum(sums.values()), counts

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def __enter__(self) -> PssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def sampled_if(enabled: bool, processes: Processes = own_tree) -> Iterator[PssSampler | None]:
    """A `PssSampler` of `processes` while inside, or None when not `enabled`: a timed run is left unsampled,
    since one sample of a Ray instance's ~20 processes costs 60-75 ms of CPU that a plain baseline never pays."""
    if not enabled:
        yield None
        return
    with PssSampler(processes) as mem:
        yield mem
