"""Exact solver passes a router tile takes after the sample start (``route._lean_sample_start``,
the default from 1024 chunks since stop 32: no rough solve after it), by the sample's size,
simulated in PyTorch on the CPU (float64).

Programs of 4 consecutive 32-token tiles of 4 heads (128 rows, 32 query heads over 8), placed at
random, as ``simulate_sample_start.py``; a tile steps until its slowest row converges, so the
per-tile maximum counts. Stop 32 measured on the H200 (128k, structured 10%, Hkv 2) ~5.5 ms for
the sample and the final pass and ~4.6 ms an exact pass, the router at 11.9 ms: ~1.4 passes'
worth. Fewer passes need a start whose support is already the row's; a larger sample places it
closer, at the cost of scoring more chunks (registers: 128 rows x the sample's scores a tile).

Reported per sample size: the histogram of a tile's exact passes and their mean, and how often a
start's support equals the root's for every row of the tile.

    python scripts/simulate_sample_size.py 131072 0.10 structured 6   (CPU, minutes)
"""

from __future__ import annotations

import sys

import torch

from simulate_sample_start import sample_start, scaled_inputs  # scripts/simulate_sample_start.py
from simulate_solver_steps import solve  # scripts/simulate_solver_steps.py

SIZES = (64, 128, 256)


def main() -> None:
    n, target, kind, programs = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    hq, hkv, d, C = 32, 8, 128, 64
    q, summaries, scaling = scaled_inputs(n, target, kind, hq, hkv, d, C)
    passes = {size: [] for size in SIZES}
    exact_support = {size: 0 for size in SIZES}
    gen_ = torch.Generator().manual_seed(0)
    for h in range(2):
        for _ in range(programs):
            t0 = int(torch.randint(256, n - 128, (1,), generator=gen_)) // 128 * 128
            for i in range(4):
                rows = torch.arange(t0 + 32 * i, t0 + 32 * i + 32)
                own = int(rows[0]) // C
                qh = q[0, h * 4:(h + 1) * 4][:, rows].float().reshape(-1, d)
                exact = (qh @ summaries[h, :own].T).double()
                root, _ = solve(exact, exact.max(1).values - 1)
                for size in SIZES:
                    start = sample_start(exact, own, size)
                    _, steps = solve(exact, start)
                    passes[size].append(int(steps.max()))
                    exact_support[size] += bool(((exact > start[:, None]) == (exact > root[:, None])).all())
    tiles = 2 * programs * 4
    for size in SIZES:
        hist = torch.bincount(torch.tensor(passes[size])).tolist()
        print(f"sample {size}: exact passes a tile {sum(passes[size]) / tiles:.2f} (tiles by passes {hist}); "
              f"start's support the root's in {exact_support[size]} of {tiles} tiles")
    print(f"scaling {scaling:.4g}, {n // C} chunks, {kind}, target {target}")


if __name__ == "__main__":
    main()
