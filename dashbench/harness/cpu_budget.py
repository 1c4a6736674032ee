"""How long a sweep would take on this CPU, so `dashbench kernel` can refuse hopeless ones.

Eager attention on a CPU runs near its matrix-multiply rate for the two products but pays for
softmax and masking too; we measure the matmul rate once and assume a third of it.
"""

from __future__ import annotations

import functools
import time

import torch

from dashbench.harness.cases import Case
from dashbench.harness.flops import attention_flops

# Calls per case: the check, the peak-memory run, the warm-up and a few timed runs.
CALLS_PER_CASE = 8
_EFFICIENCY = 1 / 3


@functools.cache
def cpu_flops_per_second() -> float:
    a = torch.randn(512, 512)
    torch.mm(a, a)
    start = time.perf_counter()
    reps = 8
    for _ in range(reps):
        torch.mm(a, a)
    elapsed = time.perf_counter() - start
    return 2 * 512**3 * reps / elapsed * _EFFICIENCY


def estimate_seconds(cases: list[Case]) -> float:
    """Seconds the cases would take here, counting only those a provider can run on the CPU."""
    from dashbench.providers import get_provider

    def runs_here(c: Case) -> bool:
        s = c.shape
        return get_provider(c.provider).refusal(c.mode, "cpu", c.dtype, s.head_dim, s.gqa_ratio) is None

    work = sum(attention_flops(c) for c in cases if runs_here(c))
    return work * CALLS_PER_CASE / cpu_flops_per_second()


def largest_seqlen_within(cases: list[Case], budget_s: float) -> int | None:
    """Largest power-of-two sequence length at which the same sweep fits ``budget_s``."""
    import dataclasses

    n = max(c.shape.seqlen for c in cases)
    while n >= 16:
        n //= 2
        scaled = [dataclasses.replace(c, shape=dataclasses.replace(c.shape, seqlen=n)) for c in cases]
        if estimate_seconds(list(dict.fromkeys(scaled))) <= budget_s:
            return n
    return None
