"""Where an InfLLMv2 or NSA decode step spends its GPU time: per-kernel times (torch profiler),
the number of kernels, and the step under a CUDA graph, at 128k, 32/8 heads, B=1.

    python scripts/profile_sparse_decode.py --out $OUT
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from benchtools import bench  # scripts/benchtools.py
from profiling import kernel_times  # scripts/profiling.py

from dashbench.harness.inputs import structured_qkv
from dashbench.kernels import infllmv2_decode
from dashbench.kernels.nsa import nsa_compressed_cache, nsa_decode
from dashbench.kernels.reference.infllmv2 import compress_keys
from dashbench.kernels.reference.nsa import NSAConfig, NSAParams
from dashbench.sparsity import infllmv2_config_for, nsa_config_for


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    L, hkv = 131072, 8
    q1, k, v = structured_qkv(1, 32, hkv, L, 128, chunk_size=64, dtype=torch.bfloat16, device="cuda", seed=1)
    q = q1[:, :, -1:].contiguous()
    steps = {}
    cfg = infllmv2_config_for(0.9, L, over="last")
    ck = compress_keys(k.float(), cfg.kernel_size, cfg.kernel_stride)
    steps["infllmv2"] = lambda: infllmv2_decode(q, k, v, cfg, compressed_keys=ck)
    ncfg = nsa_config_for(0.9, L, NSAConfig.paper(), over="last")
    params = NSAParams.random(ncfg, 32, hkv, 128, seed=0, device="cuda")
    cmp = nsa_compressed_cache(k, v, params, ncfg)
    steps["nsa-dash-kernels"] = lambda: nsa_decode(q, k, v, params, ncfg, compressed=cmp)
    rows = []
    for name, step in steps.items():
        times = kernel_times(step)
        row = dict(method=name, graph_ms=bench(step, graph=True), kernels=len(times),
                   kernel_ms_sum=sum(times.values()), top={k_: round(v_, 4) for k_, v_ in list(times.items())[:25]})
        rows.append(row)
        print(json.dumps(row, indent=1), flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "profile_sparse_decode.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
