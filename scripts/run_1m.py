"""DashAttention at a million tokens: prefill and one decode step run without a crash (64-bit
indexing), are checked on sampled rows against the reference, and their peak memory is reported.
Not a benchmark: each call runs once (timed by one pair of CUDA events, after a warm-up at 8k).

    python scripts/run_1m.py --seqlen 1m --out $OUT

Inputs are i.i.d. Gaussian drawn on the GPU (seeded CUDA generator): at 1M tokens, 32 query heads
and d=128 the CPU-side generators of the harness would spend minutes drawing 21 GB.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from benchtools import timed  # scripts/benchtools.py

from dashbench.harness.correctness import relative_error
from dashbench.kernels import DashCache, calibrate_scaling, dash_attention, dash_decode
from dashbench.kernels.reference import dash_attention_reference
from dashbench.units import parse_size_list


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlen", default="1m")
    ap.add_argument("--hq", type=int, default=32)
    ap.add_argument("--hkv", type=int, default=8)
    ap.add_argument("--density", type=float, default=0.10)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    C, D, hq, hkv = 64, 128, args.hq, args.hkv
    rows_out = []
    for n in parse_size_list(args.seqlen):
        g = torch.Generator("cuda").manual_seed(n)
        q, k, v = (torch.randn(1, h, n, D, generator=g, device="cuda", dtype=torch.bfloat16) for h in (hq, hkv, hkv))
        w = torch.zeros(hkv, D, device="cuda", dtype=torch.bfloat16)
        dash_attention(q[:, :, :8192], k[:, :, :8192], v[:, :, :8192], w, chunk_size=C)  # compile
        scaling = calibrate_scaling(q, k, w, args.density, chunk_size=C)
        io_bytes = (2 * q.numel() + 2 * k.numel()) * 2
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        (out, stats), ms = timed(lambda: dash_attention(q, k, v, w, chunk_size=C, scaling=scaling, return_stats=True))
        peak_extra = torch.cuda.max_memory_allocated() - before - out.numel() * 2
        rows = torch.cat([torch.arange(8), torch.randperm(n - 16, generator=torch.Generator().manual_seed(0))[:16] + 8,
                          torch.arange(n - 8, n)]).sort().values.cuda()  # fmt: skip
        ref = dash_attention_reference(q[:, :, rows], k, v, w, chunk_size=C, scaling=scaling, q_positions=rows)
        err = relative_error(out[:, :, rows], ref)
        last = out[:, :, -1:].clone()
        del out, ref
        torch.cuda.empty_cache()
        cache = DashCache.from_prefill(k, v, w, chunk_size=C)
        dash_decode(q[:, :, -1:], cache, scaling=scaling)  # compile
        dec, dec_ms = timed(lambda: dash_decode(q[:, :, -1:], cache, scaling=scaling))
        row = dict(n=n, hq=hq, hkv=hkv, d=D, chunk=C, dtype="bf16", inputs="random (GPU generator)",
                   target_density=args.density, scaling=scaling, token_density=stats.mean_density,
                   compute_density=stats.compute_density, prefill_ms=ms, rel_err_sampled_rows=err,
                   sampled_rows=len(rows), peak_extra_gib=peak_extra / 2**30,
                   peak_extra_vs_qkvo=peak_extra / io_bytes, decode_ms=dec_ms,
                   decode_vs_prefill_last_row=relative_error(dec, last),
                   device=torch.cuda.get_device_name())
        rows_out.append(row)
        print(json.dumps(row), flush=True)
        del q, k, v, cache
        torch.cuda.empty_cache()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "run_1m.json").write_text(json.dumps({"command": "python " + " ".join(sys.argv),
                                                          "rows": rows_out}, indent=1) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
