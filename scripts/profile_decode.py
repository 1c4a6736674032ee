"""Where a DashAttention decode step spends its time: per-kernel GPU time (torch profiler, warm
L2) and the whole step under a CUDA graph, for decode-kernel variants, next to FA3 in the same
process, at the decoded row's own density. ``*_cold_ms``: graph replays rotating over copies of
the cache (cold reads; ``speedup_cold``); ``*_graph_ms``: one cache replayed (warm L2), as in
``bench_dash_bwd_decode.py``. (This stop 26's own runs, ``stop26/*/profile/``, named the cold
replays ``*_graph_ms`` and the warm ones ``*_warm_graph_ms``.)

    python scripts/profile_decode.py --out $OUT
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import pstats
import time
from pathlib import Path

import torch
import triton.testing

from dashbench.harness.correctness import relative_error
from dashbench.kernels import dash_decode
from dashbench.kernels.dash import decode_kernels
from dashbench.kernels.reference import dash_attention_reference
from dashbench.units import parse_size_list
from benchtools import (  # scripts/benchtools.py
    cached_kv,
    cold_decode_copies,
    decode_batch,
    decode_case,
    fa3_step,
    graph_ms_rotating,
)
from profiling import kernel_times  # scripts/profiling.py

# name: decode_kernels settings (the rest as the defaults)
# Stop 17 also timed programmatic dependent launch (slower; removed, see f04ddc9); stop 18 the
# step in one launch and the attend's interleaved spans and register list (slower; removed, 89d3a23);
# stop 19 the attend folding 2 or 4 listed chunks a step (slower; removed, db32bcb has it); stop 26
# spans of at least 8 chunks (ATTEND_MIN_SPAN, mixed; removed, 52c5076 has it) and attend programs
# sharing the routed candidates evenly (ATTEND_BALANCED, slower overall; removed, b0a4993 has it);
# stop 30 the combine's merge in the attend's last programs and the thresholds in the scores
# kernel's last program (both slower; removed, 60657bd has them; stop30/60657bd_a/), and the
# attend's loop over 32 or 16 keys a step, for more programs an SM (slower; removed, 00067af has
# it; stop30/00067af_b/), and the attend launched heads first (B=1 slower, B=8 Hkv 8 4% faster;
# removed, 2b62767 has it; stop30/2b62767_c/); stop 33 the attend over interleaved spans again, at
# 1056 programs and 5 stages (not faster; removed, 96af170 has it; stop33/96af170_b/).
VARIANTS = {
    "default": {},
    "stop25": dict(ATTEND_PROGRAMS=528, ATTEND_STAGES=None),  # the defaults before stop 26
    "split64": dict(MAX_SPLIT=64, COMBINE_DIMS=0),
    "split256_dims16": dict(MAX_SPLIT=256, COMBINE_DIMS=16),
    "thr256": dict(THRESHOLD_VALUES_PER_WARP=256),  # threshold programs of twice the warps
    "thr1024": dict(THRESHOLD_VALUES_PER_WARP=1024),
    # the attend loop at Triton's default 3 stages (it waits for all its copies at each listed
    # chunk) or at 7 (three K/V buffers), against the default 5
    "stages3": dict(ATTEND_STAGES=None),
    "stages7": dict(ATTEND_STAGES=7),
    "progs528": dict(ATTEND_PROGRAMS=528),  # half the attend programs: longer spans
    "default_again": {},  # the default once more, after the others: the run's drift
}
DEFAULTS = {name: getattr(decode_kernels, name) for name in
            ("MAX_SPLIT", "COMBINE_DIMS", "DECODE_LEAN_THRESHOLD", "THRESHOLD_VALUES_PER_WARP",
             "ATTEND_PROGRAMS", "ATTEND_STAGES")}


def apply_variant(settings: dict) -> None:
    for key, value in {**DEFAULTS, **settings}.items():
        setattr(decode_kernels, key, value)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    ap.add_argument("--host-profile", action="store_true", help="cProfile 100 host calls once")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    ap.add_argument("--hkv", default="8,2")
    ap.add_argument("--batch", default="1,8")
    ap.add_argument("--lengths", default="128k", help="cache lengths, e.g. 32k,128k")
    ap.add_argument("--density", type=float, default=0.10, help="the decoded row's token density")
    args = ap.parse_args()
    import fa3_fwd_interface as fa3
    rows = []
    host_done = False
    for hkv, L in itertools.product(map(int, args.hkv.split(",")), parse_size_list(args.lengths)):
        q1, k1, v1, w, scaling = decode_case(hkv, L, args.density)
        for B in map(int, args.batch.split(",")):
            q, k, v, cache = decode_batch(q1, k1, v1, w, B)
            ref = dash_attention_reference(q, k, v, w, chunk_size=64, scaling=scaling)
            apply_variant({})
            density = dash_decode(q, cache, scaling=scaling, return_stats=True)[1].mean_density
            qs, caches, l2_multiple = cold_decode_copies(q, cache, density)
            fa3_ms = graph_ms_rotating([fa3_step(fa3, q_i, *cached_kv(c)) for q_i, c in zip(qs, caches)])
            fa3_warm_ms = triton.testing.do_bench_cudagraph(fa3_step(fa3, q, k, v), rep=100)
            for name in args.variants.split(","):
                settings = VARIANTS[name]
                apply_variant(settings)
                step = lambda: dash_decode(q, cache, scaling=scaling)  # noqa: E731
                try:
                    got = step()
                except Exception as e:  # a variant that cannot run here is reported, not fatal
                    print(json.dumps(dict(hkv=hkv, B=B, variant=name, error=repr(e)[:300])), flush=True)
                    continue
                err = relative_error(got, ref)
                if name == "default":
                    base = got
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(50):  # host time per call, GPU queued behind
                    step()
                host_ms = (time.perf_counter() - t0) / 50 * 1000
                torch.cuda.synchronize()
                row = dict(hkv=hkv, B=B, L=L, variant=name, settings=settings, token_density=density,
                           copies=len(caches), l2_multiple=l2_multiple, rel_err=err,
                           diff_vs_default=relative_error(got, base), fa3_cold_ms=fa3_ms, fa3_graph_ms=fa3_warm_ms,
                           host_ms=host_ms)  # fmt: skip
                try:
                    row["dash_cold_ms"] = graph_ms_rotating(
                        [lambda q=q_i, c=c: dash_decode(q, c, scaling=scaling) for q_i, c in zip(qs, caches)])
                    row["dash_graph_ms"] = triton.testing.do_bench_cudagraph(step, rep=100)
                except Exception as e:  # e.g. a launch attribute the graph capture refuses
                    print(json.dumps(dict(hkv=hkv, B=B, variant=name, graph_error=repr(e)[:300])), flush=True)
                    continue
                row.update(dash_ms=triton.testing.do_bench(step, rep=100), kernels=kernel_times(step))
                row["speedup_cold"] = fa3_ms / row["dash_cold_ms"]
                torch.cuda.synchronize()
                if args.host_profile and name == "default" and not host_done:
                    host_done = True
                    prof = cProfile.Profile()
                    prof.runcall(lambda: [step() for _ in range(100)])
                    pstats.Stats(prof).sort_stats("tottime").print_stats(14)
                rows.append(row)
                print(json.dumps(row), flush=True)
            del k, v, q, cache, caches, qs, ref
            torch.cuda.empty_cache()
        apply_variant({})
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "profile_decode.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
