"""A plugin stage that touches far more memory than the test's cgroup allows, on the rows of one input
($VLFORGE_HOG_URI), so the kernel's OOM killer kills its worker every time it runs that input. Loaded
through $VLFORGE_PLUGINS by the memory-limit test; not a test module, so pytest never imports it.
"""

import os

from pipelines.registry import register_stage
from pipelines.stage import Stage


@register_stage(order=150)
class MemoryHog(Stage):
    name = "memory_hog"
    version = "1"

    def process(self, batch):
        if os.environ.get("VLFORGE_HOG_URI") in batch.column("uri").to_pylist():
            hog = bytearray(int(os.environ.get("VLFORGE_HOG_BYTES", 4 << 30)))  # zeroed pages: all resident
            hog[::4096] = b"x" * len(hog[::4096])
        return batch
