"""Per-kernel GPU time of a callable, from the torch profiler (shared by the profile scripts)."""

from __future__ import annotations

from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile


def kernel_times(fn, reps: int = 20) -> dict[str, float]:
    """Mean GPU milliseconds per call of each kernel ``fn`` launches (after one warm-up call),
    longest first; names cut at 60 characters."""
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
    out = defaultdict(float)
    for e in prof.events():
        if e.device_type.name == "CUDA":
            out[e.name[:60]] += e.device_time / reps / 1000
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
