"""One DashAttention training step (forward and backward) for ``ncu``: structured inputs,
scaling calibrated to the target token density, bf16, 32 query heads, head dim 128, chunk 64.

    ncu --kernel-name regex:"_bwd_kv|_bwd_q|_route_lean" --launch-count 3 \
        python scripts/ncu_train_step.py --seqlen 32k --hkv 8
"""

from __future__ import annotations

import argparse

import torch

from dashbench.harness.inputs import structured_qkv
from dashbench.kernels import calibrate_scaling, dash_attention
from dashbench.units import parse_size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlen", default="32k")
    ap.add_argument("--hkv", type=int, default=8)
    ap.add_argument("--density", type=float, default=0.25)
    args = ap.parse_args()
    hq, d, C, n = 32, 128, 64, parse_size(args.seqlen)
    q, k, v = structured_qkv(1, hq, args.hkv, n, d, chunk_size=C, dtype=torch.bfloat16, device="cuda", seed=1)
    w = torch.zeros(args.hkv, d, device="cuda", dtype=torch.bfloat16)
    scaling = calibrate_scaling(q, k, w, args.density, chunk_size=C)
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()  # ncu --profile-from-start off: skip the calibration
    args_ = [t.clone().requires_grad_() for t in (q, k, v, w)]
    out = dash_attention(*args_, chunk_size=C, scaling=scaling)
    out.backward(torch.randn_like(out))
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
