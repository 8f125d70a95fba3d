"""A plugin stage that fails on every row, loaded through $VLFORGE_PLUGINS by the circuit-breaker test.

Not a test module (no `test_` prefix), so pytest never imports it: only the processes that name it
in $VLFORGE_PLUGINS register its stage.
"""

from pipelines.registry import register_stage
from pipelines.stage import Stage


@register_stage(order=150)
class AlwaysFails(Stage):
    name = "always_fails"
    version = "1"

    def process(self, batch):
        raise RuntimeError("this stage is broken")
