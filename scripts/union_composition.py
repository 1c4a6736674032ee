"""How a query tile's chunk union is made up (CPU, reference routing): for tiles of ``bm``
tokens, the union entries (tile, chunk) counted by how many of the tile's tokens route that
chunk, and the attention work left if entries routed by few tokens ran at a quarter of a
64-row tile's cost (a 16-row tile: one token's GQA rows). Structured inputs, 32 query heads
over 8 KV heads, head dim 128, chunk 64, the second half of the sequence.

    python scripts/union_composition.py --seqlen 16384   (CPU, a few minutes)
"""

from __future__ import annotations

import argparse

import torch

from dashbench.harness.inputs import structured_qkv
from dashbench.kernels import calibrate_scaling
from dashbench.kernels.reference.dash import chunk_summaries, route


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlen", type=int, default=16384)
    ap.add_argument("--hkv", type=int, default=8)
    args = ap.parse_args()
    n, hq, hkv, d, C = args.seqlen, 32, args.hkv, 128, 64
    q, k, v = structured_qkv(1, hq, hkv, n, d, chunk_size=C, dtype=torch.float32, seed=1)
    w = torch.zeros(hkv, d)
    summaries = chunk_summaries(k, w, C)
    rows = torch.arange(n // 2, n)
    for target in (0.25, 0.10):
        scaling = calibrate_scaling(q, k, w, target, chunk_size=C)
        routed = route(q[:, :, rows], summaries, rows, C, scaling)[0] > 0  # [hkv, tokens, chunks]
        for bm in (16, 4):
            per_entry = routed.view(hkv, -1, bm, routed.shape[-1]).sum(2)  # tokens routing each (tile, chunk)
            entries = per_entry[per_entry > 0]
            union, pairs = entries.numel(), int(routed.sum())
            share = torch.bincount(entries, minlength=bm + 1)[1:].double() / union
            print(f"target {target:.2f}, tiles of {bm} tokens: computed / routed pairs {union * bm / pairs:.2f}; "
                  "union entries by tokens routing them: " + " ".join(f"{i + 1}:{f:.2f}" for i, f in enumerate(share)))
            for few in (1, 2, 4):
                small = float(share[:few].sum())
                print(f"    routed by <= {few}: {small:.2f} of the union; work left at a quarter cost: "
                      f"{1 - 0.75 * small:.2f}")


if __name__ == "__main__":
    main()
