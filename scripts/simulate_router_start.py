"""Two ideas for fewer router passes, simulated in PyTorch (CPU) on sampled router tiles of the
last half of a 16k sequence (16 heads x 8 tokens of one KV head, 32/2 heads; 16k, 32/8 with 4
heads x 16 tokens for the pruning count), structured and random inputs, 25% and 10%:

* pruning: the share of 64-, 32- and 16-chunk blocks whose scores lie below max - 1 (the root's
  lower bound) for every row of a tile, which later passes could skip;
* bracketing: a first pass that evaluates the entmax sum at K thresholds max - k/K and starts
  the lean solver (absolute threshold, smallest-|d| convergence test) from the highest one at
  which the sum is still >= 1: the solver's steps (max over a tile's rows) against the cold
  start at max - 1.

    python scripts/simulate_router_start.py   (CPU, several minutes)
"""

import math

import torch

from dashbench.harness.inputs import random_qkv, structured_qkv
from dashbench.kernels.reference.dash import calibrate_scaling

N, H, D, C = 16384, 32, 128, 64


def lean(x, tau, max_iter=40):
    """The lean solver's steps from ``tau``: (threshold, steps until each row converged)."""
    done = torch.zeros(x.shape[0], dtype=torch.bool)
    its = torch.zeros(x.shape[0])
    for it in range(1, max_iter + 1):
        d = x - tau[:, None]
        dp = d.clamp_min(0)
        cnt, s1, s2 = (d > 0).sum(1).float(), dp.sum(1), (dp * dp).sum(1)
        delta = (s1 - (s1 * s1 - cnt * (s2 - 1)).clamp_min(0).sqrt()) / cnt.clamp_min(1)
        conv = d.abs().min(1).values > delta.abs()
        its[conv & ~done] = it
        tau = torch.where(done, tau, tau + delta)
        done |= conv
        if done.all():
            break
    return tau, its


def tiles(hkv, kind, target):
    """Router-tile scores ``x`` ``[rows, own chunks]`` sampled over the last half."""
    G = H // hkv
    bm = 128 // G if hkv == 2 else 16
    gen = structured_qkv if kind == "structured" else random_qkv
    kw = dict(chunk_size=C) if kind == "structured" else {}
    q, k, _ = gen(1, H, hkv, N, D, dtype=torch.float32, device="cpu", seed=1, **kw)
    scaling = calibrate_scaling(q, k, torch.zeros(hkv, D), target, chunk_size=C)
    S = k.view(1, hkv, N // C, C, D).mean(3)
    xscale = 0.5 * scaling / math.sqrt(D)
    for t in range(N // 2, N, N // 64):
        for h in range(hkv):
            rows = q[0, h * G:(h + 1) * G, t:t + bm].reshape(G * bm, D)
            yield rows @ S[0, h, : t // C].T * xscale


torch.manual_seed(0)
for hkv in (2, 8):
    for kind in ("structured", "random"):
        for target in (0.25, 0.10):
            blocks = {cb: [0, 0] for cb in (64, 32, 16)}
            steps = {}
            for x in tiles(hkv, kind, target):
                m = x.max(1).values
                for cb, count in blocks.items():
                    for b in range(math.ceil(x.shape[1] / cb)):
                        count[0] += 1
                        count[1] += bool((x[:, b * cb:(b + 1) * cb] < (m - 1)[:, None]).all())
                if hkv != 2:
                    continue
                tau_c, it_c = lean(x, m - 1)
                steps.setdefault("cold", []).append(int(it_c.max()))
                for K in (2, 4, 8, 16):
                    edges = m[:, None] - torch.arange(1, K + 1) / K
                    f = ((x[:, None, :] - edges[:, :, None]).clamp_min(0) ** 2).sum(2)
                    lo = edges.gather(1, (f >= 1).float().argmax(1)[:, None])[:, 0]
                    tau_b, it_b = lean(x, lo)
                    assert torch.allclose(tau_b, tau_c, atol=1e-4)
                    steps.setdefault(f"K{K}", []).append(int(it_b.max()))
            prune = {f"cb{cb}": round(c[1] / c[0], 3) for cb, c in blocks.items()}
            mean_steps = {k_: round(sum(v_) / len(v_), 2) for k_, v_ in steps.items()}
            print(f"Hkv {hkv} {kind} {target}: prunable blocks {prune}", f"steps {mean_steps}" if steps else "",
                  flush=True)  # fmt: skip
