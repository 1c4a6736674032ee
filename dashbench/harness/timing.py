"""Timing: device events via ``triton.testing.do_bench`` on CUDA (median of many runs after a
warm-up, L2 flushed before every run), ``torch.utils.benchmark`` on the CPU."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TimingConfig:
    warmup_ms: float = 25.0  # do_bench's warm-up budget, in milliseconds (not iterations)
    rep_ms: float = 100.0  # do_bench's measurement budget, in milliseconds
    cuda_graph: bool = False  # replay a CUDA graph: no launch gaps, but L2 is NOT flushed


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p20_ms: float
    p80_ms: float
    method: str


def time_fn(
    fn: Callable[[], object],
    device: str,
    config: TimingConfig,
    grad_to_none: list[torch.Tensor] | None = None,
) -> Timing:
    if device == "cuda":
        import triton.testing

        if config.cuda_graph:
            med, p20, p80 = triton.testing.do_bench_cudagraph(
                fn, rep=config.rep_ms, grad_to_none=grad_to_none, quantiles=[0.5, 0.2, 0.8]
            )
            return Timing(med, p20, p80, "do_bench_cudagraph (warm L2)")
        med, p20, p80 = triton.testing.do_bench(
            fn,
            warmup=config.warmup_ms,
            rep=config.rep_ms,
            grad_to_none=grad_to_none,
            quantiles=[0.5, 0.2, 0.8],
        )
        return Timing(med, p20, p80, "do_bench (L2 flushed)")

    from torch.utils.benchmark import Timer

    def step():
        if grad_to_none:
            for t in grad_to_none:
                t.grad = None
        fn()

    step()  # warm-up
    measurement = Timer(stmt="step()", globals={"step": step}).blocked_autorange(
        min_run_time=config.rep_ms / 1000
    )
    times = sorted(measurement.times)
    ms = [t * 1e3 for t in times]
    return Timing(
        measurement.median * 1e3,
        ms[int(0.2 * (len(ms) - 1))],
        ms[int(0.8 * (len(ms) - 1))],
        "torch.utils.benchmark (cpu)",
    )


def peak_memory(fn: Callable[[], object], device: str) -> tuple[float, float]:
    """(peak allocated MiB during one call, of which MiB beyond what was allocated before it).

    NaN on the CPU, where PyTorch keeps no allocation statistics."""
    if device != "cuda":
        return float("nan"), float("nan")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    mib = 1024.0**2
    return peak / mib, (peak - before) / mib
