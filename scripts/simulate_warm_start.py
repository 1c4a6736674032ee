"""Would the router converge in fewer passes from the previous tile's thresholds? A PyTorch
simulation of the lean solver (absolute threshold, the smallest |x - tau| as the convergence test)
on router tiles of 16 heads x 8 tokens (32/2 heads), 8 consecutive tiles of one KV head per
sample, 16k tokens: passes from max - 1 (plus the max pass) against passes from the previous
tile's thresholds (the same row, or the head's last token), where a start above the row's max
(empty support) restarts at max - 1; and a hybrid whose first pass at the previous thresholds
also takes the max and continues from the larger of its step and max - 1. Every warm threshold is checked against the cold one.

    python scripts/simulate_warm_start.py   (CPU, about two minutes)
"""

import math

import torch

from dashbench.harness.inputs import structured_qkv, random_qkv
from dashbench.kernels.reference.dash import calibrate_scaling
torch.manual_seed(0)
N, H, Hkv, D, C = 16384, 32, 2, 128, 64
G = H // Hkv; BM = 128 // G
def lean(x, tau, max_iter=30):
    """Steps from tau until converged: (tau, passes per row)."""
    done = torch.zeros(x.shape[0], dtype=torch.bool); its = torch.zeros(x.shape[0])
    for it in range(1, max_iter + 1):
        d = x - tau[:, None]; dp = d.clamp_min(0)
        cnt = (d > 0).sum(1).float(); s1 = dp.sum(1); s2 = (dp * dp).sum(1)
        near = d.abs().min(1).values
        disc = (s1 * s1 - cnt * (s2 - 1)).clamp_min(0)
        delta = (s1 - disc.sqrt()) / cnt.clamp_min(1)
        conv = near > delta.abs()
        empty = cnt == 0  # warm start above the max: restart at max - 1
        newtau = torch.where(empty, x.max(1).values - 1, tau + delta)
        conv = conv & ~empty
        its[conv & ~done] = it
        tau = torch.where(done, tau, newtau); done |= conv
        if done.all(): break
    return tau, its
for kind in ("structured", "random"):
    gen = structured_qkv if kind == "structured" else random_qkv
    kw = dict(chunk_size=C) if kind == "structured" else {}
    q, k, v = gen(1, H, Hkv, N, D, dtype=torch.float32, device="cpu", seed=1, **kw)
    w = torch.zeros(Hkv, D)
    for target in (0.25, 0.10):
        scaling = calibrate_scaling(q, k, w, target, chunk_size=C)
        S = k.view(1, Hkv, N // C, C, D).mean(3)
        xscale = 0.5 * scaling / math.sqrt(D)
        cold, warm, warm_last, hybrid = [], [], [], []
        for t0 in range(N // 2, N, N // 16):
            for h in range(Hkv):
                prev = None
                for t in range(t0, t0 + 8 * BM, BM):  # 8 consecutive tiles of one program
                    own = t // C
                    rows = q[0, h * G:(h + 1) * G, t:t + BM].reshape(G * BM, D)
                    x = rows @ S[0, h, :own].T * xscale
                    m = x.max(1).values
                    tau_c, it_c = lean(x, m - 1)
                    cold.append(1 + int(it_c.max()))  # + the max pass
                    if prev is not None:
                        # hybrid: the warm pass is also the max pass; unless it converged, the
                        # next start is its step, but never below max - 1 (the cold start)
                        d = x - prev[:, None]; dp = d.clamp_min(0)
                        cnt = (d > 0).sum(1).float(); s1 = dp.sum(1); s2 = (dp * dp).sum(1)
                        disc = (s1 * s1 - cnt * (s2 - 1)).clamp_min(0)
                        delta = (s1 - disc.sqrt()) / cnt.clamp_min(1)
                        conv0 = (d.abs().min(1).values > delta.abs()) & (cnt > 0)
                        # (only from a previous threshold above max - 1: below it the cold start
                        # is the better bound, and far below it the sums lose their precision)
                        warm_ok = (cnt > 0) & (prev >= m - 1)
                        conv0 = conv0 & warm_ok
                        start = torch.where(warm_ok, torch.maximum(prev + delta, m - 1), m - 1)
                        tau_h, it_h = lean(x, start)
                        tau_h = torch.where(conv0, prev + delta, tau_h)
                        assert torch.allclose(tau_h, tau_c, atol=1e-4), (tau_h - tau_c).abs().max()
                        hybrid.append(1 + int(torch.where(conv0, 0, it_h).max()))
                        tau_w, it_w = lean(x, prev)
                        assert torch.allclose(tau_w, tau_c, atol=1e-4), (tau_w - tau_c).abs().max()
                        warm.append(int(it_w.max()))
                        last = prev.view(G, BM)[:, -1:].expand(G, BM).reshape(-1)
                        tau_l, it_l = lean(x, last)
                        warm_last.append(int(it_l.max()))
                    prev = tau_c
        c, wr, wl, hy = (torch.tensor(a, dtype=torch.float) for a in (cold, warm, warm_last, hybrid))
        print(kind, target, f"cold passes (max + steps) mean {c.mean():.2f} max {int(c.max())} | warm same-row mean {wr.mean():.2f} max {int(wr.max())} | warm last-token mean {wl.mean():.2f} max {int(wl.max())} | hybrid (warm pass as max pass) mean {hy.mean():.2f} max {int(hy.max())}", flush=True)
