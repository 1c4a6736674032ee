"""Solver steps of the lean router's exact 1.5-entmax threshold, simulated in PyTorch on the
CPU (float64): the kernel's step (the root of sum (x - tau)^2 = 1 over the support {x > tau};
stop when no score lies within the step of tau) from tau = max - 1,

* on exact scores;
* on one-product scores (the bf16 head of the summaries), then exactly from that root
  (``route.ROUTE_ROUGH_SOLVE``);
* with the first pass also testing max - 1/4 and starting the next step there when it lies
  below the threshold (the router's probe: slower on the H100 at stop 17 and removed; the
  decode threshold kernel keeps it);
* on fp8 (e4m3) one-product scores, q scaled per row and the summaries per chunk to e4m3's
  range (an untried router lever: fp8 products run at twice the bf16 rate), max pass included,
  then exactly from that root;
* on one-product scores with the max pass merged into the first solver pass
  (``merged_first_step``; another untried lever: one pass fewer if the steps do not grow),
  then exactly from that root. Its count includes the merged pass; the plain rough count
  excludes the max pass, so it saves a pass where it is at most the rough count + 1.

Rows: the last 512 tokens of two KV heads (32 query heads over 8). A program of the kernel
holds 128 rows and steps until its slowest row converges, so the per-program maximum counts.

    python scripts/simulate_solver_steps.py 32768 0.25 structured   (CPU, a few minutes)
"""

from __future__ import annotations

import math
import sys

import torch

from dashbench.harness.inputs import random_qkv, structured_qkv
from dashbench.kernels import calibrate_scaling
from dashbench.kernels.reference.dash import chunk_summaries


def solve(x: torch.Tensor, tau: torch.Tensor, max_iter: int = 30, rhs: float = 1.0):
    """The kernel's solver steps from ``tau`` (float64) for sum (x - tau)^2 = ``rhs`` (1: the
    threshold; less: a sample's share of it); returns the root and each row's steps."""
    done = torch.zeros_like(tau, dtype=torch.bool)
    steps = torch.zeros_like(tau, dtype=torch.int32)
    for _ in range(max_iter):
        if done.all():
            break
        d = x - tau[:, None]
        dp = d.clamp_min(0)
        cnt, s1, s2 = (d > 0).double().sum(1), dp.sum(1), (dp * dp).sum(1)
        nearest = d.abs().min(1).values
        delta = (s1 - (s1 * s1 - cnt * (s2 - rhs)).clamp_min(0).sqrt()) / cnt.clamp_min(1)
        steps += (~done).int()
        tau = torch.where(done, tau, tau + delta)
        done = done | (nearest > delta.abs())
    return tau, steps


def solve_with_probe(x: torch.Tensor, start: torch.Tensor, max_iter: int = 30):
    """``solve`` whose first pass also tests ``start + 3/4`` (max - 1/4 from max - 1)."""
    d = x - start[:, None]
    dp = d.clamp_min(0)
    cnt, s1, s2 = (d > 0).double().sum(1), dp.sum(1), (dp * dp).sum(1)
    delta = (s1 - (s1 * s1 - cnt * (s2 - 1)).clamp_min(0).sqrt()) / cnt.clamp_min(1)
    converged = d.abs().min(1).values > delta.abs()
    stepped, probe = start + delta, start + 0.75
    below = ((x - probe[:, None]).clamp_min(0) ** 2).sum(1) >= 1
    tau = torch.where(~converged & below & (probe > stepped), probe, stepped)
    tau_rest, steps = solve(x, tau, max_iter)
    return torch.where(converged, stepped, tau_rest), torch.where(converged, 1, 1 + steps)


def merged_first_step(x: torch.Tensor, block: int = 64):
    """The max pass merged into the first solver pass (an untried router lever): blocks of
    ``block`` chunks in the kernel's order, each adding its entries above the running max - 1
    to the support sums (rebased as the max rises: sum (x - a)^k at a new reference a is exact
    algebra on count, sum and sum of squares). The support is then {x > m - 1} plus, from
    blocks read before the max rose, entries between the max - 1 they saw and the final one.
    Returns the first step's tau (the root of sum (x - tau)^2 = 1 over that support) and the
    final max."""
    rows = x.shape[0]
    m = torch.full((rows,), float("-inf"), dtype=x.dtype)
    cnt, s1, s2 = (torch.zeros(rows, dtype=x.dtype) for _ in range(3))  # sums of x - (m - 1)
    for b0 in range(0, x.shape[1], block):
        xb = x[:, b0:b0 + block]
        m_new = torch.maximum(m, xb.max(1).values)
        shift = torch.where(torch.isfinite(m), m_new - m, torch.zeros_like(m))  # reference moves up
        s2 = s2 - 2 * shift * s1 + cnt * shift * shift
        s1 = s1 - cnt * shift
        m = m_new
        d = xb - (m - 1)[:, None]
        take = d > 0
        cnt = cnt + take.double().sum(1)
        s1 = s1 + torch.where(take, d, 0).sum(1)
        s2 = s2 + torch.where(take, d * d, 0).sum(1)
    delta = (s1 - (s1 * s1 - cnt * (s2 - 1)).clamp_min(0).sqrt()) / cnt.clamp_min(1)
    return m - 1 + delta, m


def fp8_rows(x: torch.Tensor) -> torch.Tensor:
    """``x`` rounded through e4m3 with one scale a row (its absolute max to 448), scale restored."""
    scale = x.abs().amax(1, keepdim=True).clamp_min(1e-30) / 448.0
    return (x / scale).to(torch.float8_e4m3fn).float() * scale


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
    steps = {"exact": [], "rough": [], "exact after rough": [], "exact with the probe": [], "rough fp8": [],
             "exact after rough fp8": [], "rough, max merged into its first pass (passes incl. it)": [],
             "exact after that": []}
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
        tau_b, n_b = solve_with_probe(exact, start)
        rough8 = torch.where(routable, fp8_rows(qh) @ fp8_rows(summaries[h].float()).T, float("-inf")).double()
        start8 = rough8.max(1).values - 1
        tau_r8, n_r8 = solve(rough8, start8)
        tau_p8, n_p8 = solve(exact, tau_r8)
        tau_m1, _ = merged_first_step(rough)
        tau_rm, n_rm = solve(rough, tau_m1)
        tau_pm, n_pm = solve(exact, tau_rm)
        above = (tau_m1 > tau_r + 1e-9).double().mean()
        print(f"KV head {h}: |tau - tau (exact)| max: rough then exact {(tau_p - tau_e).abs().max():.1e}, "
              f"with the probe {(tau_b - tau_e).abs().max():.1e}, rough fp8 then exact {(tau_p8 - tau_e).abs().max():.1e}; "
              f"|tau (rough fp8) - tau| mean {(tau_r8 - tau_e).abs().mean():.2e} vs bf16 head "
              f"{(tau_r - tau_e).abs().mean():.2e}; max merged: |tau - tau (exact)| max {(tau_pm - tau_e).abs().max():.1e}, "
              f"first step above the rough root on {above:.1%} of rows")
        for name, val in zip(steps, (n_e, n_r, n_p, n_b, n_r8, n_p8, n_rm + 1, n_pm)):
            steps[name].append(val.float())
    for name, val in steps.items():
        val = torch.cat(val)
        per_program = val.view(-1, 128).max(1).values
        print(f"{name}: steps a row mean {val.mean():.2f}, max {val.max():.0f}; a 128-row program mean "
              f"{per_program.mean():.2f}")
    print(f"scaling {scaling:.4g}, {n // C} chunks")


if __name__ == "__main__":
    main()
