"""One DashAttention decode step (its four kernels) for ``ncu``: structured inputs, the scaling
calibrated on the decoded row's own density, compiled by a first step before the profiled range.

    ncu --profile-from-start off --kernel-name regex:_decode_ python scripts/ncu_decode.py --seqlen 128k --hkv 2
"""

from __future__ import annotations

import argparse

import torch

from benchtools import decode_batch, decode_case  # scripts/benchtools.py

from dashbench.kernels import dash_decode
from dashbench.units import parse_size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlen", default="128k")
    ap.add_argument("--hkv", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--density", type=float, default=0.10)
    args = ap.parse_args()
    q1, k1, v1, w, scaling = decode_case(args.hkv, parse_size(args.seqlen), args.density)
    q, _, _, cache = decode_batch(q1, k1, v1, w, args.batch)
    _, stats = dash_decode(q, cache, scaling=scaling, return_stats=True)  # compiles
    print(f"token density {stats.mean_density:.4f}", flush=True)
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    dash_decode(q, cache, scaling=scaling)
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStop()


if __name__ == "__main__":
    main()
