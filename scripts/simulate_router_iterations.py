"""Iterations the router's exact 1.5-entmax threshold solver needs per 128-row tile (32 tokens
x 4 query heads of one KV head), simulated in PyTorch with the kernel's scheme (support
iteration from tau = -1, consistency check) on sampled tiles of the last half of the sequence.

    python scripts/simulate_router_iterations.py   (CPU, about a minute)
"""

import math

import torch

from dashbench.harness.inputs import random_qkv, structured_qkv
from dashbench.kernels.reference.dash import calibrate_scaling

torch.manual_seed(0)
N, H, Hkv, D, C = 16384, 8, 2, 128, 64
G = H // Hkv
for kind in ("structured", "random"):
    gen = structured_qkv if kind == "structured" else random_qkv
    kw = dict(chunk_size=C) if kind == "structured" else {}
    q, k, v = gen(1, H, Hkv, N, D, dtype=torch.float32, device="cpu", seed=1, **kw)
    w = torch.zeros(Hkv, D)
    for target in (0.25, 0.10):
        scaling = calibrate_scaling(q, k, w, target, chunk_size=C)
        S = k.view(1, Hkv, N // C, C, D).mean(3)  # head_cls = 0: uniform pooling
        xscale = 0.5 * scaling / math.sqrt(D)
        # sample router tiles: 32 tokens x G heads, in the last quarter
        iters_tile, iters_row = [], []
        for t0 in range(N // 2, N, N // 32):
            own = t0 // C
            rows = q[0, :, t0:t0 + 32].reshape(Hkv, G * 32, D)  # per kv head
            for h in range(Hkv):
                x = rows[h] @ S[0, h, :own].T * xscale  # [R, own]
                m = x.max(1, keepdim=True).values
                y = x - m
                tau = torch.full((y.shape[0], 1), -1.0)
                done = torch.zeros(y.shape[0], dtype=torch.bool)
                it_row = torch.zeros(y.shape[0])
                for it in range(1, 13):
                    sup = y > tau
                    cnt = sup.sum(1, keepdim=True).float(); s1 = (y * sup).sum(1, keepdim=True); s2 = (y * y * sup).sum(1, keepdim=True)
                    disc = (s1 * s1 - cnt * (s2 - 1)).clamp_min(0)
                    root = (s1 - disc.sqrt()) / cnt.clamp_min(1)
                    low_in = torch.where(sup, y, torch.inf).min(1, keepdim=True).values
                    hi_out = torch.where(~sup, y, -torch.inf).max(1, keepdim=True).values
                    conv = ((low_in > root) & (hi_out <= root)).squeeze(1)
                    newly = conv & ~done
                    it_row[newly] = it
                    tau = torch.where(done[:, None], tau, root)
                    done |= conv
                    if done.all():
                        break
                iters_tile.append(int(it_row.max())); iters_row.extend(it_row.tolist())
        t = torch.tensor(iters_tile, dtype=torch.float); r = torch.tensor(iters_row)
        print(kind, target, f"tile iters mean {t.mean():.2f} max {int(t.max())} hist {torch.bincount(t.long()).tolist()} | row mean {r.mean():.2f} hist {torch.bincount(r.long()).tolist()}")
