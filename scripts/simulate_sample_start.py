"""Solver passes of the lean router started from a 64-chunk sample (``route.ROUTE_SAMPLE_START``)
against today's starts, simulated in PyTorch on the CPU (float64).

Programs of 4 consecutive 32-token tiles of 4 heads (128 rows, 32 query heads over 8), placed at
random; a program steps until its slowest row converges, so the per-tile maximum counts.

* today: below ``ROUGH_SOLVE_MIN_CHUNKS`` a max pass (one product) for the program's first tile
  and a warm pass from the previous tile's thresholds for the others, then exact steps; from
  it, the merged max pass or the warm pass, the rough steps (one product), then exact steps;
* sample: each tile's start solved on the scores of 64 chunks spread over its row (the root of
  sum (x - tau)^2 = 64 / chunks over them, clamped to [max - 1, max - 1/sqrt(chunks)] about the
  sample's max), then the same solves without the first pass.

Reported: passes a tile, one-product and two-product, and their cost in two-product passes (a
one-product pass as 0.72 of one, the H100's ratio of a rough to an exact pass at 128k).

    python scripts/simulate_sample_start.py 32768 0.25 structured 12   (CPU, minutes)
"""

from __future__ import annotations

import math
import sys

import torch

from dashbench.harness.inputs import random_qkv, structured_qkv
from dashbench.kernels import calibrate_scaling
from dashbench.kernels.reference.dash import chunk_summaries
from simulate_solver_steps import merged_first_step, solve  # scripts/simulate_solver_steps.py

SAMPLE = 64


def sample_start(x: torch.Tensor, own: int, size: int = SAMPLE) -> torch.Tensor:
    """The kernel's start (``route._lean_sample_start``) for rows ``x`` over ``own`` chunks,
    from ``size`` sampled chunks (the kernel's ``SAMPLE_CHUNKS``)."""
    idx = (torch.arange(size) * own) // size if own >= size else torch.arange(own)
    xs = x[:, idx]
    m = xs.max(1).values
    tau, _ = solve(xs, m - 1, rhs=len(idx) / own)
    return torch.minimum(torch.maximum(tau, m - 1), m - 1 / math.sqrt(own))


def scaled_inputs(n: int, target: float, kind: str, hq: int = 32, hkv: int = 8, d: int = 128, C: int = 64):
    """q and the summaries pre-scaled as the router scores them (``x = q . s``), calibrated to
    ``target`` density on ``kind`` inputs (bf16, seed 1), and the scaling."""
    gen = structured_qkv if kind == "structured" else random_qkv
    kw = dict(chunk_size=C) if kind == "structured" else {}
    q, k, _ = gen(1, hq, hkv, n, d, dtype=torch.bfloat16, seed=1, **kw)
    w = torch.zeros(hkv, d, dtype=torch.bfloat16)
    scaling = calibrate_scaling(q, k, w, target, chunk_size=C)
    return q, chunk_summaries(k.float(), w.float(), C)[0] * (0.5 * scaling / math.sqrt(d)), scaling


def warm_start(x: torch.Tensor, tau_prev: torch.Tensor) -> torch.Tensor:
    """``route._lean_warm_pass``'s start."""
    m = x.max(1).values
    d = x - tau_prev[:, None]
    dp = d.clamp_min(0)
    cnt, s1, s2 = (d > 0).double().sum(1), dp.sum(1), (dp * dp).sum(1)
    delta = (s1 - (s1 * s1 - cnt * (s2 - 1)).clamp_min(0).sqrt()) / cnt.clamp_min(1)
    warm = (cnt > 0) & (tau_prev >= m - 1)
    return torch.where(warm, torch.maximum(tau_prev + delta, m - 1), m - 1)


def main() -> None:
    n, target, kind, programs = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    hq, hkv, d, C = 32, 8, 128, 64
    rough_on = n // C >= 1024  # route.ROUGH_SOLVE_MIN_CHUNKS
    q, summaries, scaling = scaled_inputs(n, target, kind, hq, hkv, d, C)
    totals = {"today": [0.0, 0.0], "sample": [0.0, 0.0]}  # one-product, two-product passes
    gen_ = torch.Generator().manual_seed(0)
    for h in range(2):
        for _ in range(programs):
            t0 = int(torch.randint(256, n - 128, (1,), generator=gen_)) // 128 * 128
            tau_prev = None
            for i in range(4):
                rows = torch.arange(t0 + 32 * i, t0 + 32 * i + 32)
                own = int(rows[0]) // C
                qh = q[0, h * 4:(h + 1) * 4][:, rows].float().reshape(-1, d)
                exact = (qh @ summaries[h, :own].T).double()
                rough = (qh @ summaries[h, :own].to(torch.bfloat16).float().T).double()
                if tau_prev is not None:
                    start = warm_start(rough, tau_prev)
                elif rough_on:
                    start, _ = merged_first_step(rough)
                else:
                    start = rough.max(1).values - 1
                for name, first in (("today", start), ("sample", sample_start(exact, own))):
                    one = 1 if name == "today" else 0  # the max, merged or warm pass
                    if rough_on:
                        tau_r, n_r = solve(rough, first)
                        tau, n_e = solve(exact, tau_r)
                        one += n_r.max().item()
                    else:
                        tau, n_e = solve(exact, first)
                    totals[name][0] += one
                    totals[name][1] += n_e.max().item()
                tau_prev = tau
    tiles = 2 * programs * 4
    for name, (one, two) in totals.items():
        print(f"{name}: one-product passes a tile {one / tiles:.2f}, two-product {two / tiles:.2f}; "
              f"cost {(0.72 * one + two) / tiles:.2f} two-product passes")
    print(f"scaling {scaling:.4g}, {n // C} chunks, rough solve {rough_on}")


if __name__ == "__main__":
    main()
