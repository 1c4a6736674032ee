"""Where ``dash_attention``'s end-to-end time goes beyond its stages timed alone: since stop 21's
Gluon attention the 128k prefill takes 3-6 ms more than the sum of its stages (with the Triton
attention, at most 0.5 ms). Prints the host time of each stage's call right after a
synchronize (an asynchronous launch returns after its launch cost; ``chunk_lists`` waits for
the router), then one ``torch.profiler`` run of ``dash_attention``: each kernel's GPU time,
their sum and the wall time between the first start and the last end (the GPU's idle gaps); then where the host
time of a call goes (cProfile), and each kernel's GPU time in back-to-back calls after 2 s of
load, end to end and alone (stop 22: the profiled single call ran its kernels faster than the
benchmark's repetitions of them, 70.9 vs 74.5 ms for the attention).

    python scripts/probe_prefill_gap.py --seqlen 128k --hkv 8
"""

from __future__ import annotations

import time

import torch
from ncu_attend import C, HQ, calibrated_case  # scripts/ncu_attend.py

from dashbench.kernels import dash_attention
from dashbench.kernels.dash.attend import attend
from dashbench.kernels.dash.interface import ATTEND_ROWS, ROUTE_ROWS, attend_config, gluon_kernel, use_gluon_attend
from dashbench.kernels.dash.prior import listed_bias
from dashbench.kernels.dash.route import chunk_lists, padded_group, route, tile_rows
from dashbench.kernels.dash.summarize import summarize


def host_ms(fn, reps: int = 5) -> float:
    """Median host time of one call, the GPU idle before it."""
    times = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    torch.cuda.synchronize()
    return sorted(times)[len(times) // 2]


def main() -> None:
    q, k, v, w, scaling = calibrated_case()
    G = HQ // k.shape[1]
    bm, gp = tile_rows(G, C, ATTEND_ROWS), padded_group(G)
    s = summarize(k, w, C)
    tau, log_g, count, mask, tile_count = route(q, s, C, scaling, bm, route_bm=tile_rows(G, C, ROUTE_ROWS))
    offsets, ids = chunk_lists(mask, tile_count)
    kw = dict(scaling=scaling, sigma=1.0, estimate_diagonal=True, bm=bm, gp=gp)
    bias = listed_bias(q, s, tau, log_g, offsets, tile_count, ids, **kw)
    print(f"use_gluon_attend: {use_gluon_attend(q, k, v, bias, bm, gp, C)}")
    cfg = dict(chunk_size=C, **kw, **attend_config(k, v, True))
    stages = {
        "summarize": lambda: summarize(k, w, C),
        "route": lambda: route(q, s, C, scaling, bm, route_bm=tile_rows(G, C, ROUTE_ROWS)),
        "chunk_lists": lambda: chunk_lists(mask, tile_count),
        "listed_bias": lambda: listed_bias(q, s, tau, log_g, offsets, tile_count, ids, **kw),
        "gluon_attend": lambda: gluon_kernel()(q, k, v, offsets, tile_count, ids, bias, chunk_size=C, bm=bm, gp=gp),
        "attend": lambda: attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, bias=bias, **cfg),
        "dash_attention": lambda: dash_attention(q, k, v, w, chunk_size=C, scaling=scaling),
    }
    for name, fn in stages.items():
        fn()  # compiled and warm
    print("host ms a call (after a synchronize):")
    for name, fn in stages.items():
        print(f"  {name:16s} {host_ms(fn):9.3f}")

    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        stages["dash_attention"]()
        torch.cuda.synchronize()
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    busy = sum(e.time_range.end - e.time_range.start for e in kernels) / 1e3
    span = (max(e.time_range.end for e in kernels) - min(e.time_range.start for e in kernels)) / 1e3
    print(f"profiled dash_attention: {len(kernels)} GPU events, busy {busy:.3f} ms, first start to last end "
          f"{span:.3f} ms, idle {span - busy:.3f} ms")
    ordered = sorted(kernels, key=lambda e: e.time_range.start)
    for prev, e in zip(ordered, ordered[1:]):
        gap = (e.time_range.start - prev.time_range.end) / 1e3
        if gap > 0.1:
            print(f"  gap {gap:8.3f} ms before {e.name[:60]} (after {prev.name[:40]})")
    print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=14, max_name_column_width=50))
    host_profile(stages["dash_attention"])
    sustained_profile(stages["dash_attention"], stages["route"], stages["gluon_attend"])


def host_profile(fn, calls: int = 10) -> None:
    """Where the host time of a call goes (cProfile over ``calls`` calls, by own time; the
    synchronizations' waits show up as ``tolist``/``item``)."""
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    torch.cuda.synchronize()
    prof.enable()
    for _ in range(calls):
        fn()
    torch.cuda.synchronize()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(28)
    print(f"cProfile of {calls} dash_attention calls (ms are totals over the calls):")
    print("\n".join(line for line in buf.getvalue().splitlines() if line.strip())[:6000])


def sustained_profile(e2e, route_fn, attend_fn, calls: int = 3) -> None:
    """Each kernel's GPU time in ``calls`` back-to-back calls right after 2 s of back-to-back
    calls (the GPU's clocks as a benchmark's repetitions find them), end to end and alone: is
    a kernel slower inside the whole than alone?"""
    from torch.profiler import ProfilerActivity, profile

    for label, fns in (("dash_attention", [e2e]), ("route + attention alone", [route_fn, attend_fn])):
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 2.0:
            for fn in fns:
                fn()
            torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(calls):
                for fn in fns:
                    fn()
            torch.cuda.synchronize()
        per = {}
        for e in prof.events():
            if e.device_type == torch.autograd.DeviceType.CUDA and e.name.startswith("_"):
                per.setdefault(e.name, []).append((e.time_range.end - e.time_range.start) / 1e3)
        print(f"sustained, {label}: " + ", ".join(f"{n} {' '.join(f'{t:.2f}' for t in ts)}" for n, ts in per.items()))


if __name__ == "__main__":
    main()
