"""How much a query tile's chunk union would shrink if the tokens of a window were grouped into
tiles by their routing instead of by position (CPU, the reference's routing of the second half of
the sequence; 32 query heads, head dim 128, chunk 64; tiles of 64 GQA rows). Orders compared,
within windows of W tokens:

- ``position``: today's tiles (W has no effect);
- ``greedy``: each tile grown from the token with the most chunks by the token that adds fewest;
- ``top_chunk``: tokens sorted by their two most probable chunks other than their own;
- ``minhash``: tokens sorted by the min-hash of their routed chunks (a random order of chunk ids),
  then by their top chunk: one sort a window, what a GPU would do;
- ``minhash_start``: the same over the chunks above the router's sample start
  (``route._lean_sample_start``, any of the token's heads): what the router's first exact pass
  sees, so the key could come from it;
- ``minhash_sampled``: the same over the routed chunks among the sample's 64 chunks only.

Printed: computed / routed (token, chunk) pairs for each order (position is stop 30's 2.6-3.2
at Hkv 8). Tiles spanning several chunks would need a per-row causal mask on the window's own
chunks; that cost is not counted.

    python scripts/simulate_token_grouping.py --seqlen 16384 --hkv 8 --inputs structured --windows 64,256,1024

At 128k, ``--sample-windows K`` routes only K windows of the largest W tokens, placed at random
in the second half, and ``--orders`` leaves out the slow greedy order:

    python scripts/simulate_token_grouping.py --seqlen 131072 --sample-windows 8 --orders position,top_chunk,minhash

(``--device cuda`` runs the same on a GPU.)
"""

from __future__ import annotations

import argparse

import torch

from dashbench.harness.inputs import make_qkv
from dashbench.kernels import calibrate_scaling
from dashbench.kernels.reference.dash import chunk_summaries, route
from simulate_sample_start import sample_start  # scripts/simulate_sample_start.py


def union_pairs(routed: torch.Tensor, order: torch.Tensor, tokens: int) -> int:
    """Computed pairs of the tiles of ``tokens`` consecutive tokens in ``order``."""
    return sum(int(routed[order[i : i + tokens]].any(0).sum()) for i in range(0, routed.shape[0], tokens)) * tokens


def greedy_order(routed: torch.Tensor, tokens: int) -> torch.Tensor:
    left, order = list(range(routed.shape[0])), []
    flags = routed.float()
    while left:
        seed = left[int(torch.argmax(flags[left].sum(1)))]
        tile, union = [seed], routed[seed].clone()
        left.remove(seed)
        while len(tile) < tokens and left:
            j = left[int(torch.argmin((flags[left] * (~union).float()).sum(1)))]
            tile.append(j)
            union |= routed[j]
            left.remove(j)
        order += tile
    return torch.tensor(order)


def start_keys(q, summaries, rows, routed, scaling, rank, C: int = 64):
    """Per KV head and token of ``rows`` (whole chunks): the min-hash over the chunks above the
    sample start of any of its heads, and over its routed chunks among the sampled ones."""
    hkv, n_rows, n_chunks = routed.shape
    G, d = q.shape[1] // hkv, q.shape[-1]
    start_key = torch.full((hkv, n_rows), n_chunks, dtype=torch.long, device=routed.device)
    sampled_key = torch.full_like(start_key, n_chunks)
    for i0 in range(0, n_rows, C):
        own = int(rows[i0]) // C
        if own == 0:
            continue
        idx = ((torch.arange(64) * own) // 64 if own >= 64 else torch.arange(own)).to(routed.device)
        for h in range(hkv):
            x = q[0, h * G:(h + 1) * G, rows[i0:i0 + C]].double() @ summaries[0, h, :own].double().T
            x = (0.5 * scaling / d**0.5) * x.reshape(-1, own)
            above = (x > sample_start(x, own)[:, None]).view(G, -1, own).any(0)
            start_key[h, i0:i0 + C] = torch.where(above, rank[:own], n_chunks).min(-1).values
            in_sample = routed[h, i0:i0 + C][:, idx]
            sampled_key[h, i0:i0 + C] = torch.where(in_sample, rank[idx], n_chunks).min(-1).values
    return start_key, sampled_key


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlen", type=int, default=16384)
    ap.add_argument("--hkv", type=int, default=8)
    ap.add_argument("--inputs", default="structured", help="random, structured, structured:<coherence>")
    ap.add_argument("--windows", default="64,256,1024")
    ap.add_argument("--densities", default="0.25,0.10")
    ap.add_argument("--sample-windows", type=int, default=0,
                    help="route only this many windows of the largest W tokens in the second half (0: all of it)")
    ap.add_argument("--orders", default="position,greedy,top_chunk,minhash")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda for 128k in seconds")
    args = ap.parse_args()
    orders = args.orders.split(",")
    n, hq, hkv, d, C = args.seqlen, 32, args.hkv, 128, 64
    tokens = 64 // (hq // hkv)  # a tile's tokens: 64 GQA rows
    dev = torch.device(args.device)
    q, k, _ = make_qkv(args.inputs, 1, hq, hkv, n, d, dtype=torch.float32, device=dev, seed=1)
    w = torch.zeros(hkv, d, device=dev)
    summaries = chunk_summaries(k, w, C)
    rows = torch.arange(n // 2, n)
    g = torch.Generator().manual_seed(0)
    if args.sample_windows:
        span = max(map(int, args.windows.split(",")))
        starts = torch.randperm(n // 2 // span, generator=g)[: args.sample_windows].sort().values * span + n // 2
        rows = (starts[:, None] + torch.arange(span)[None, :]).reshape(-1)
    rows = rows.to(dev)
    for target in map(float, args.densities.split(",")):
        scaling = calibrate_scaling(q, k, w, target, chunk_size=C)
        p = route(q[:, :, rows], summaries, rows, C, scaling)[0]  # [hkv, tokens, chunks]
        routed = p > 0
        pairs = int(routed.sum())
        others = p.clone()
        others[:, torch.arange(rows.numel(), device=dev), rows // C] = 0  # every token routes its own chunk
        top2 = torch.topk(others, 2, dim=-1).indices
        top_key = top2[..., 0] * p.shape[-1] + top2[..., 1]
        rank = torch.randperm(p.shape[-1], generator=g).to(dev)
        minhash = torch.where(others > 0, rank, p.shape[-1]).min(-1).values * p.shape[-1] + top2[..., 0]
        if {"minhash_start", "minhash_sampled"} & set(orders):
            start_key, sampled_key = start_keys(q, summaries, rows, routed, scaling, rank, C)
            start_key = start_key * p.shape[-1] + top2[..., 0]
            sampled_key = sampled_key * p.shape[-1] + top2[..., 0]
        for W in map(int, args.windows.split(",")):
            total = dict.fromkeys(orders, 0)
            for h in range(hkv):
                for c0 in range(0, rows.numel(), W):
                    r = routed[h, c0 : c0 + W]
                    order = dict(position=lambda: torch.arange(r.shape[0]), greedy=lambda: greedy_order(r, tokens),
                                 top_chunk=lambda: torch.argsort(top_key[h, c0 : c0 + W], stable=True),
                                 minhash=lambda: torch.argsort(minhash[h, c0 : c0 + W], stable=True),
                                 minhash_start=lambda: torch.argsort(start_key[h, c0 : c0 + W], stable=True),
                                 minhash_sampled=lambda: torch.argsort(sampled_key[h, c0 : c0 + W], stable=True))  # fmt: skip
                    for key in orders:
                        total[key] += union_pairs(r, order[key](), tokens)
            print(f"{args.inputs} n={n} Hkv={hkv} density {target:.2f} window {W} ({rows.numel()} rows): computed / routed pairs "
                  + ", ".join(f"{key} {v / pairs:.3f}" for key, v in total.items()), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
