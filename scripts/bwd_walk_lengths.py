"""The dk/dv backward's work per program: each KV chunk's walk (its own chunk's tiles, then the
later query tiles that listed it), from the PyTorch reference's routing of
``scripts/profile_backward.py``'s structured inputs at 25% (CPU; the same calibrated scaling as
the GPU's). A program's time follows its walk, so the longest walk against the mean load of the
GPU's CTA slots (2 an SM on 132 SMs for the Gluon dk/dv kernel) says when the kernel waits on a
few long programs rather than on the total.

    python scripts/bwd_walk_lengths.py --seqlen 8k,32k --hkv 2,8
"""

from __future__ import annotations

import argparse

import torch

from dashbench.harness.inputs import structured_qkv
from dashbench.kernels.reference.dash import P_FLOOR, calibrate_scaling, chunk_summaries, route
from dashbench.units import parse_size_list


def walks(n: int, hkv: int, hq: int = 32, d: int = 128, chunk: int = 64, density: float = 0.25):
    q, k, _ = structured_qkv(1, hq, hkv, n, d, chunk_size=chunk, dtype=torch.bfloat16, seed=1)
    q, k = q.float(), k.float()
    w = torch.zeros(hkv, d)
    scaling = calibrate_scaling(q, k, w, density, chunk_size=chunk)
    summaries = chunk_summaries(k, w, chunk)
    bm = 64 // (hq // hkv)  # tokens a 64-row tile
    n_chunks = -(-n // chunk)
    listing = torch.zeros(hkv, n_chunks)
    block = 1024
    for start in range(0, n, block):
        pos = torch.arange(start, min(start + block, n))
        p = route(q[:, :, start : start + len(pos)], summaries, pos, chunk, scaling)[0]
        listing += (p > P_FLOOR).view(hkv, len(pos) // bm, bm, n_chunks).any(2).sum(1)
    return scaling, listing + chunk // bm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlen", default="8k,32k")
    ap.add_argument("--hkv", default="2,8")
    ap.add_argument("--slots", type=int, default=264, help="CTAs resident at once (2 an SM, 132 SMs)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    for n in parse_size_list(args.seqlen):
        for hkv in (int(h) for h in args.hkv.split(",")):
            scaling, walk = walks(n, hkv)
            total = walk.sum().item()
            print(f"N={n} Hkv={hkv} scaling={scaling:.4f} programs={walk.numel()} visits={total:.0f} "
                  f"mean={walk.mean():.1f} max={walk.max():.0f} "
                  f"longest/(visits/{args.slots} slots)={walk.max().item() / (total / args.slots):.2f}", flush=True)


if __name__ == "__main__":
    main()
