"""How often an exact router pass could skip its second product, simulated in PyTorch on the
CPU (float64).

The lean router scores ``x = q . (s_hi + s_lo)`` with two bf16 products per 64-chunk block
(``route.summary_terms``). Where no row of a 128-row tile can reach its threshold inside a block
even with the tail's largest possible contribution, the tail's product changes no support entry
and no output of the pass: ``|q . s_lo| <= 2^-8 sum_d |q_d| |s_d| <= 2^-8 |q| |s|``. This counts
the blocks that stay below ``tau - bound`` for every row (the root's tau; a pass that starts
near it sees about the same), with the Cauchy-Schwarz bound and with the exact tail.

    python scripts/simulate_lo_skip.py 131072 0.10 structured 8   (CPU, minutes)
"""

from __future__ import annotations

import sys

import torch

from simulate_sample_start import scaled_inputs  # scripts/simulate_sample_start.py
from simulate_solver_steps import solve  # scripts/simulate_solver_steps.py

BLOCK = 64  # chunks a block of the router's loop


def main() -> None:
    n, target, kind, programs = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    hq, d, C = 32, 128, 64
    for hkv in (8, 2):
        g = hq // hkv
        tokens = 128 // g  # a router tile: 128 rows
        q, summaries, scaling = scaled_inputs(n, target, kind, hq, hkv, d, C)
        gen_ = torch.Generator().manual_seed(0)
        blocks = skip_bound = skip_exact = 0
        for _ in range(programs):
            h = int(torch.randint(0, hkv, (1,), generator=gen_))
            t0 = int(torch.randint(n // 2, n - tokens, (1,), generator=gen_)) // tokens * tokens
            rows = torch.arange(t0, t0 + tokens)
            own = int(rows[0]) // C
            qh = q[0, h * g:(h + 1) * g][:, rows].reshape(-1, d).double()
            s = summaries[h, :own].double()
            s_hi = s.to(torch.bfloat16).double()
            exact = qh @ s.T
            x_hi = qh @ s_hi.T
            tau, _ = solve(exact, exact.max(1).values - 1)
            bound = 2.0**-8 * qh.norm(dim=1)[:, None] * s.norm(dim=1)[None, :]
            tail = (exact - x_hi).abs()
            for b0 in range(0, own, BLOCK):
                sl = slice(b0, min(own, b0 + BLOCK))
                blocks += 1
                skip_bound += bool((x_hi[:, sl] + bound[:, sl] <= tau[:, None]).all())
                skip_exact += bool((x_hi[:, sl] + tail[:, sl] <= tau[:, None]).all())
        print(f"Hkv {hkv} ({tokens} tokens x {g} heads a tile), {kind} {target}, scaling {scaling:.4g}: "
              f"{blocks} blocks; tail skippable by the bound {skip_bound / blocks:.3f}, "
              f"by the exact tail {skip_exact / blocks:.3f}", flush=True)


if __name__ == "__main__":
    main()
