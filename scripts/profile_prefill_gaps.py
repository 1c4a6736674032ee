"""Where the end-to-end prefill's time goes besides its kernels: the whole call timed as
``bench_dash`` times it, against the sum of its kernels' GPU times (torch profiler), and the
largest idle gaps of one isolated call with the kernels either side (the host round trip for
the chunk lists' size, launches after it).

    PYTHONPATH=scripts python scripts/profile_prefill_gaps.py --seqlen 32k --hkv 8,2 --out $OUT

It replaces stop 21-22's ``probe_prefill_gap.py`` (commit 3178dd0 has it: each stage's host
time, a cProfile of the host, the kernels' times under sustained load).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from benchtools import apply_settings, bench, save_rows
from dashbench.harness.inputs import make_qkv
from dashbench.kernels import calibrate_scaling, dash_attention
from dashbench.units import parse_size_list
from profiling import kernel_times


def kernel_intervals(fn) -> list[tuple[float, float, str]]:
    """(start, end, name) in microseconds of the GPU kernels of one call started on an idle GPU."""
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    spans = [(e.time_range.start, e.time_range.end, e.name[:50]) for e in prof.events()
             if e.device_type.name == "CUDA"]  # fmt: skip
    return sorted(spans)


def gaps(spans, top: int = 6) -> tuple[float, float, list[dict]]:
    """Busy and idle microseconds between the first kernel's start and the last one's end, and the
    ``top`` longest idle gaps with the kernels before and after."""
    busy, idle, found = 0.0, 0.0, []
    end, before = spans[0][0], "(start)"
    for s, e, name in spans:
        if s > end:
            idle += s - end
            found.append(dict(us=round(s - end, 1), after=before, before=name))
        busy += max(0.0, e - max(s, end))
        if e > end:
            end, before = e, name
    return busy, idle, sorted(found, key=lambda g: -g["us"])[:top]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlen", default="32k")
    ap.add_argument("--hkv", default="8,2")
    ap.add_argument("--inputs", default="structured")
    ap.add_argument("--density", type=float, default=0.25)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--setting", action="append", default=[], metavar="[MODULE.]NAME=VALUE",
                    help="a kernel setting (benchtools.apply_settings) before timing")
    args = ap.parse_args()
    apply_settings(args.setting)
    rows = []
    for n in parse_size_list(args.seqlen):
        for hkv in map(int, args.hkv.split(",")):
            q, k, v = make_qkv(args.inputs, 1, 32, hkv, n, 128, dtype=torch.bfloat16, device="cuda", seed=1)
            w = torch.zeros(hkv, 128, device="cuda", dtype=torch.bfloat16)
            scaling = calibrate_scaling(q, k, w, args.density, chunk_size=64)

            def call():
                return dash_attention(q, k, v, w, chunk_size=64, scaling=scaling)

            whole = bench(call)
            per_kernel = kernel_times(call)
            t0 = time.perf_counter()
            for _ in range(10):
                call()
            torch.cuda.synchronize()
            host_ms = (time.perf_counter() - t0) / 10 * 1e3
            busy, idle, top = gaps(kernel_intervals(call))
            row = dict(n=n, hkv=hkv, inputs=args.inputs, target=args.density, whole_ms=whole,
                       kernels_ms=sum(per_kernel.values()), isolated_busy_us=busy, isolated_idle_us=idle,
                       wall_10_calls_ms=host_ms, gaps=top, kernels=per_kernel)  # fmt: skip
            rows.append(row)
            print(f"N={n} Hkv={hkv}: whole {whole:.3f} ms, kernels {row['kernels_ms']:.3f} ms "
                  f"({whole - row['kernels_ms']:+.3f}); one isolated call busy {busy / 1e3:.3f} ms, idle "
                  f"{idle / 1e3:.3f} ms; wall a call (10 back to back) {host_ms:.3f} ms", flush=True)
            for g in top:
                print(f"    gap {g['us']:8.1f} us  after {g['after']}  before {g['before']}")
            for name, ms in list(per_kernel.items())[:12]:
                print(f"    {ms:8.3f} ms  {name}")
            del q, k, v, w
            torch.cuda.empty_cache()
    save_rows(args.out, "profile_prefill_gaps.json", rows)


if __name__ == "__main__":
    main()
