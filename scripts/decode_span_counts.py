"""How a decode step's routed chunks fall into the attend's spans, on the CPU: structured inputs
(seed 2, 32 query heads, head dim 128, chunk 64), the scaling calibrated on the decoded row's own
density, the reference's routing of that row per KV head, and per-span counts for spans of
``--span`` candidate chunks (16 at 128k, B=1 with 1056 attend programs at either KV-head count).

    python scripts/decode_span_counts.py --seqlen 128k --hkv 2,8
"""

from __future__ import annotations

import argparse

import torch

from dashbench.harness.inputs import structured_qkv
from dashbench.kernels import calibrate_scaling
from dashbench.kernels.reference import dash as reference
from dashbench.units import parse_size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlen", default="128k")
    ap.add_argument("--hkv", default="2,8")
    ap.add_argument("--density", type=float, default=0.10)
    ap.add_argument("--span", type=int, default=16)
    args = ap.parse_args()
    L, C = parse_size(args.seqlen), 64
    for hkv in map(int, args.hkv.split(",")):
        q, k, _ = structured_qkv(1, 32, hkv, L, 128, chunk_size=C, dtype=torch.bfloat16, device="cpu", seed=2)
        w = torch.zeros(hkv, 128, dtype=torch.bfloat16)
        scaling = calibrate_scaling(q[:, :, -1:], k, w, args.density, chunk_size=C, rows=[L - 1])
        summaries = reference.chunk_summaries(k.float(), w.float(), C)
        p_bar = reference.route(q[:, :, -1:].float(), summaries, torch.tensor([L - 1]), C, scaling)
        routed = (p_bar > reference.P_FLOOR)[0, :, 0, : (L - 1) // C]  # [Hkv, candidates]
        print(f"L={L} Hkv={hkv} scaling={scaling:.6g} span={args.span}")
        for h in range(hkv):
            n = routed.shape[1] // args.span * args.span
            per_span = routed[h, :n].view(-1, args.span).sum(1)
            print(f"  KV head {h}: {int(routed[h].sum())} of {routed.shape[1]} candidates routed; "
                  f"spans: fullest {int(per_span.max())}, mean {per_span.float().mean():.2f}, "
                  f"{int((per_span > 0).sum())} of {len(per_span)} non-empty; "
                  f"histogram {torch.bincount(per_span, minlength=args.span + 1).tolist()}", flush=True)


if __name__ == "__main__":
    main()
