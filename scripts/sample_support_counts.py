"""How many of the router's 64 sampled chunks (``route.ROUTE_SAMPLE_START``) lie in a head's
support after the sample's solve, per 128-row router program (CPU, float64): the sample places
the start well only where a row's support holds several of them. Also the full rows' support
as a fraction of their chunks.

    python scripts/sample_support_counts.py 32768 8   (CPU, minutes)
"""

from __future__ import annotations

import math
import sys

import torch

from dashbench.harness.inputs import random_qkv, structured_qkv
from dashbench.kernels import calibrate_scaling
from dashbench.kernels.reference.dash import chunk_summaries
from simulate_sample_start import SAMPLE  # scripts/simulate_sample_start.py
from simulate_solver_steps import solve  # scripts/simulate_solver_steps.py


def main() -> None:
    n, hkv = int(sys.argv[1]), int(sys.argv[2])
    hq, d, C = 32, 128, 64
    G = hq // hkv
    BM = 128 // G  # tokens a 128-row program
    for kind in ("structured", "random"):
        for target in (0.25, 0.1):
            gen = structured_qkv if kind == "structured" else random_qkv
            kw = dict(chunk_size=C) if kind == "structured" else {}
            q, k, _ = gen(1, hq, hkv, n, d, dtype=torch.bfloat16, seed=1, **kw)
            w = torch.zeros(hkv, d, dtype=torch.bfloat16)
            scaling = calibrate_scaling(q, k, w, target, chunk_size=C)
            summ = chunk_summaries(k.float(), w.float(), C)[0] * (0.5 * scaling / math.sqrt(d))
            g = torch.Generator().manual_seed(0)
            mins, means, fracs = [], [], []
            for p in range(24):
                h = p % hkv
                t0 = int(torch.randint(4096, n - BM, (1,), generator=g)) // BM * BM
                rows = torch.arange(t0, t0 + BM)
                own = t0 // C
                qh = q[0, h * G:(h + 1) * G][:, rows].float().reshape(-1, d)
                x = (qh @ summ[h, :own].T).double()
                xs = x[:, (torch.arange(SAMPLE) * own) // SAMPLE]
                m = xs.max(1).values
                tau_s, _ = solve(xs, m - 1, rhs=SAMPLE / own)
                support = (xs > tau_s[:, None]).sum(1).double()
                tau, _ = solve(x, x.max(1).values - 1)
                mins.append(support.min().item())
                means.append(support.mean().item())
                fracs.append(((x > tau[:, None]).sum(1).double().mean() / own).item())
            print(f"n={n} hkv={hkv} {kind} {target}: sampled support a row, program mean {sum(means) / 24:.1f}, "
                  f"program min {sum(mins) / 24:.1f} (lowest {min(mins):.0f}); full support {sum(fracs) / 24:.3f} "
                  f"of the chunks", flush=True)


if __name__ == "__main__":
    main()
