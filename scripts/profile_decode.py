"""Where a DashAttention decode step spends its time: per-kernel GPU time (torch profiler) and
the whole step under a CUDA graph, for route-kernel variants, next to FA3 in the same process.

    python scripts/profile_decode.py --out $OUT
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from pathlib import Path

import torch
import triton.testing

from dashbench.harness.correctness import relative_error
from dashbench.harness.inputs import structured_qkv
from dashbench.kernels import DashCache, calibrate_scaling, dash_decode
from dashbench.kernels.dash import decode_kernels
from dashbench.kernels.reference import dash_attention_reference
from profiling import kernel_times  # scripts/profiling.py

VARIANTS = {  # name: (threshold values per warp, most splits per (batch, KV head), lean threshold step)
    "default": (decode_kernels.THRESHOLD_VALUES_PER_WARP, decode_kernels.MAX_SPLIT,
                decode_kernels.DECODE_LEAN_THRESHOLD),
    "lean_threshold": (decode_kernels.THRESHOLD_VALUES_PER_WARP, decode_kernels.MAX_SPLIT, True),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    ap.add_argument("--host-profile", action="store_true", help="cProfile 100 host calls once")
    args = ap.parse_args()
    import fa3_fwd_interface as fa3
    rows = []
    host_done = False
    for hkv in (8, 2):
        L = 131072
        q1, k1, v1 = structured_qkv(1, 32, hkv, L, 128, chunk_size=64, dtype=torch.bfloat16, device="cuda", seed=2)
        w = torch.zeros(hkv, 128, device="cuda", dtype=torch.bfloat16)
        scaling = calibrate_scaling(q1, k1, w, 0.10, chunk_size=64)
        for B in (1, 8):
            k, v = k1.expand(B, -1, -1, -1).contiguous(), v1.expand(B, -1, -1, -1).contiguous()
            q = q1[:, :, -1:].expand(B, -1, -1, -1).contiguous()
            cache = DashCache.from_prefill(k, v, w, chunk_size=64)
            ref = dash_attention_reference(q, k, v, w, chunk_size=64, scaling=scaling)
            qt, kt, vt = (t.transpose(1, 2) for t in (q, k, v))
            fa3_ms = triton.testing.do_bench_cudagraph(
                lambda: fa3.flash_attn_with_kvcache(qt, kt, vt, causal=True, num_splits=0), rep=100)
            for name, (per_warp, max_split, lean) in VARIANTS.items():
                decode_kernels.THRESHOLD_VALUES_PER_WARP, decode_kernels.MAX_SPLIT = per_warp, max_split
                decode_kernels.DECODE_LEAN_THRESHOLD = lean
                step = lambda: dash_decode(q, cache, scaling=scaling)  # noqa: E731
                err = relative_error(step(), ref)
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(50):  # host time per call, GPU queued behind
                    step()
                host_ms = (time.perf_counter() - t0) / 50 * 1000
                torch.cuda.synchronize()
                row = dict(hkv=hkv, B=B, L=L, variant=name, rel_err=err, fa3_graph_ms=fa3_ms, host_ms=host_ms,
                           dash_graph_ms=triton.testing.do_bench_cudagraph(step, rep=100),
                           dash_ms=triton.testing.do_bench(step, rep=100),
                           kernels=kernel_times(step))
                row["speedup_graph"] = fa3_ms / row["dash_graph_ms"]
                if args.host_profile and name == "default" and not host_done:
                    host_done = True
                    prof = cProfile.Profile()
                    prof.runcall(lambda: [step() for _ in range(100)])
                    pstats.Stats(prof).sort_stats("tottime").print_stats(14)
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "profile_decode.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
