"""One launch each of the DashAttention attention kernel (with the prior) and of the same kernel
over the same chunk lists without it (plain block-sparse attention), for ``ncu``: structured
inputs, scaling calibrated to the target token density.

    ncu --kernel-name regex:_attend_fwd --launch-count 2 python scripts/ncu_attend.py --seqlen 32k --hkv 8
"""

from __future__ import annotations

import argparse

import torch

from dashbench.harness.inputs import structured_qkv
from dashbench.kernels import calibrate_scaling
from dashbench.kernels.dash.attend import attend, tma_ready
from dashbench.kernels.dash.interface import ATTEND_ROWS, ATTEND_TMA, ATTEND_TMA_STAGES, ROUTE_ROWS
from dashbench.kernels.dash.route import chunk_lists, padded_group, route, tile_rows
from dashbench.kernels.dash.summarize import summarize
from dashbench.units import parse_size


HQ, D, C = 32, 128, 64


def calibrated_case():
    """The command line's case (``--seqlen``, ``--hkv``, ``--density``): structured bf16 q, k,
    v, a zero ``head_cls`` and the scaling calibrated to the density; then ncu's profiled range
    starts (``ncu --profile-from-start off`` skips the calibration)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlen", default="32k")
    ap.add_argument("--hkv", type=int, default=8)
    ap.add_argument("--density", type=float, default=0.25)
    args = ap.parse_args()
    n = parse_size(args.seqlen)
    q, k, v = structured_qkv(1, HQ, args.hkv, n, D, chunk_size=C, dtype=torch.bfloat16, device="cuda", seed=1)
    w = torch.zeros(args.hkv, D, device="cuda", dtype=torch.bfloat16)
    scaling = calibrate_scaling(q, k, w, args.density, chunk_size=C)
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    return q, k, v, w, scaling


def main() -> None:
    q, k, v, w, scaling = calibrated_case()
    G = HQ // k.shape[1]
    bm, route_bm = tile_rows(G, C, ATTEND_ROWS), tile_rows(G, C, ROUTE_ROWS)
    s = summarize(k, w, C)
    tau, log_g, count, mask, tile_count = route(q, s, C, scaling, bm, route_bm=route_bm)
    offsets, ids = chunk_lists(mask, tile_count)
    tma = ATTEND_TMA and tma_ready(k, v)
    kw = dict(chunk_size=C, scaling=scaling, sigma=1.0, estimate_diagonal=True, bm=bm, gp=padded_group(G), tma=tma,
              num_stages=ATTEND_TMA_STAGES if tma else 3)  # fmt: skip
    attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, **kw)
    every_token = torch.full(ids.shape, (1 << bm) - 1, device=ids.device, dtype=torch.int64)
    attend(q, k, v, None, None, None, offsets, tile_count, ids, token_masks=every_token, **kw)
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
