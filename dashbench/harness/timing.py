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
    min_runs: int = 10  # budgets grow so that at least this many runs are measured


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

        warmup, rep = budgets(fn, config.warmup_ms, config.rep_ms, config.min_runs)
        if config.cuda_graph:
            med, p20, p80 = triton.testing.do_bench_cudagraph(
                fn, rep=rep, grad_to_none=grad_to_none, quantiles=[0.5, 0.2, 0.8]
            )
            return Timing(med, p20, p80, "do_bench_cudagraph (warm L2)")
        med, p20, p80 = triton.testing.do_bench(
            fn,
            warmup=warmup,
            rep=rep,
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


def budgets(fn: Callable[[], object], warmup_ms: float, rep_ms: float, min_runs: int) -> tuple[float, float]:
    """do_bench's warm-up and measurement budgets (ms), grown from one timed call so that at
    least ``min_runs`` runs are measured and two warm up: with fixed budgets of 25 and 100 ms a
    200 ms call (a 128k prefill) was measured once, its "median" a single sample."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    return grown_budgets(start.elapsed_time(end), warmup_ms, rep_ms, min_runs)


def grown_budgets(once_ms: float, warmup_ms: float, rep_ms: float, min_runs: int) -> tuple[float, float]:
    """The budgets for a call that took ``once_ms``: two warm-up runs, ``min_runs`` measured."""
    return max(warmup_ms, 2 * once_ms), max(rep_ms, min_runs * once_ms)


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
