"""A plugin provider for the kill-and-resume test: the reference, made slow on purpose so a
run can be killed between cases. Loaded through DASHBENCH_PLUGINS."""

import time

from dashbench.providers.dense import Reference
from dashbench.providers.registry import register


@register
class SlowReference(Reference):
    name = "slow-reference"
    summary = "reference attention that sleeps 0.3 s per call (tests only)"

    def prepare(self, mode, q, k, v):
        inner = super().prepare(mode, q, k, v)

        def run():
            time.sleep(0.3)
            return inner()

        return run
