"""Solver steps of the lean router's exact 1.5-entmax threshold with and without rough steps
first (``route.ROUTE_ROUGH_SOLVE``), simulated in PyTorch on the CPU: the kernel's step (the
root of sum (x - tau)^2 = 1 over the support {x > tau}, stop when no score lies within the step
of tau) from tau = max - 1, on exact scores, on one-product scores (the bf16 head of the
summaries), and on exact scores from the rough root. Rows: the last 512 tokens of two KV heads.

    python scripts/simulate_rough_solve.py 32768 0.25 structured   (CPU, a few minutes)
"""

from __future__ import annotations

import math
import sys

import torch

from dashbench.harness.inputs import random_qkv, structured_qkv
from dashbench.kernels import calibrate_scaling
from dashbench.kernels.reference.dash import chunk_summaries


def solve(x: torch.Tensor, tau: torch.Tensor, max_iter: int = 30):
    """The kernel's solver steps from ``tau`` (float64); returns the root and each row's steps."""
    done = torch.zeros_like(tau, dtype=torch.bool)
    steps = torch.zeros_like(tau, dtype=torch.int32)
    for _ in range(max_iter):
        if done.all():
            break
        d = x - tau[:, None]
        dp = d.clamp_min(0)
        cnt, s1, s2 = (d > 0).double().sum(1), dp.sum(1), (dp * dp).sum(1)
        nearest = d.abs().min(1).values
        delta = (s1 - (s1 * s1 - cnt * (s2 - 1)).clamp_min(0).sqrt()) / cnt.clamp_min(1)
        steps += (~done).int()
        tau = torch.where(done, tau, tau + delta)
        done = done | (nearest > delta.abs())
    return tau, steps


def main() -> None:
    n, target, kind = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    hq, hkv, d, C = 32, 8, 128, 64
    gen = structured_qkv if kind == "structured" else random_qkv
    kw = dict(chunk_size=C) if kind == "structured" else {}
    q, k, v = gen(1, hq, hkv, n, d, dtype=torch.bfloat16, seed=1, **kw)
    w = torch.zeros(hkv, d, dtype=torch.bfloat16)
    scaling = calibrate_scaling(q, k, w, target, chunk_size=C)
    summaries = chunk_summaries(k.float(), w.float(), C)[0] * (0.5 * scaling / math.sqrt(d))
    rows = torch.arange(n - 512, n)
    steps = {"exact": [], "rough": [], "exact after rough": []}
    for h in range(2):
        qh = q[0, h * 4:(h + 1) * 4][:, rows].float().reshape(-1, d)
        routable = torch.arange(summaries.shape[1])[None, :] < (rows // C).repeat(4)[:, None]
        exact = torch.where(routable, qh @ summaries[h].T, float("-inf")).double()
        head = summaries[h].to(torch.bfloat16).float()  # the one product: the bf16 head alone
        rough = torch.where(routable, qh @ head.T, float("-inf")).double()
        start = rough.max(1).values - 1
        tau_e, n_e = solve(exact, start)
        tau_r, n_r = solve(rough, start)
        tau_p, n_p = solve(exact, tau_r)
        print(f"KV head {h}: |tau (rough then exact) - tau (exact)| max {(tau_p - tau_e).abs().max():.1e}")
        for name, val in zip(steps, (n_e, n_r, n_p)):
            steps[name].append(val.float())
    for name, val in steps.items():
        val = torch.cat(val)
        print(f"{name}: steps mean {val.mean():.2f}, max {val.max():.0f}")
    print(f"scaling {scaling:.4g}, {n // C} chunks")


if __name__ == "__main__":
    main()
