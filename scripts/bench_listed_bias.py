"""The stored-bias kernel (``prior.listed_bias``) at several list blocks (``prior.LIST_BLOCK``:
listed chunks a step; 32 builds on mma.sync, 64 on wgmma, sm_90, Triton 3.6): each block's
biases checked against the default's (same -inf pattern, finite values within fp16 rounding),
then all timed in rotated rounds (``benchtools.bench_rounds``).

    python scripts/bench_listed_bias.py --seqlen 128k --hkv 8,2 --densities 0.25,0.1 --blocks 32,64 --out $OUT

``--longest-first`` adds each block launched from the last tile (``listed_bias(longest_first=True)``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from benchtools import add_case_args, bench_rounds, cases_from_args, save_rows  # scripts/benchtools.py

from dashbench.kernels.dash import prior
from dashbench.kernels.dash.route import chunk_lists, padded_group, route


def main() -> int:
    ap = argparse.ArgumentParser()
    add_case_args(ap)
    ap.add_argument("--blocks", default="32,64")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--longest-first", action="store_true", help="also each block launched longest first")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    C = 64
    default = prior.LIST_BLOCK
    blocks = [int(b) for b in args.blocks.split(",")]
    rows_out = []
    for case in cases_from_args(args, C):
        q, s, bm = case.q, case.s, case.bm
        tau, log_g, _, mask, tile_count = route(q, s, C, case.scaling, bm, route_bm=case.rbm)
        offsets, ids = chunk_lists(mask, tile_count)
        bias_args = (q, s, tau, log_g, offsets, tile_count, ids)
        kw = dict(scaling=case.scaling, sigma=1.0, estimate_diagonal=True, bm=bm, gp=padded_group(case.G))

        def call(lb, longest=False):
            def run():
                prior.LIST_BLOCK = lb
                try:
                    return prior.listed_bias(*bias_args, longest_first=longest, **kw)
                finally:
                    prior.LIST_BLOCK = default
            return run

        n_pairs = int(tile_count.sum())  # (the bias holds at least one row, unwritten without pairs)
        base = call(default)()[:n_pairs].float()
        row = dict(hkv=case.hkv, n=case.n, inputs=case.kind, target=case.target, n_pairs=n_pairs,
                   default_block=default)  # fmt: skip
        checked = {}
        for lb, longest in [(lb, False) for lb in blocks] + [(lb, True) for lb in blocks if args.longest_first]:
            name = f"lb{lb}_longest" if longest else f"lb{lb}"
            got = call(lb, longest)()[:n_pairs].float()
            fin = torch.isfinite(base)
            # the same unrouted (-inf) pairs, no NaN, every other bias finite
            same_inf = bool(torch.equal(base == float("-inf"), got == float("-inf"))
                            and torch.equal(fin, torch.isfinite(got)))  # fmt: skip
            err = (got[fin] - base[fin]).abs()
            row[f"{name}_same_inf"] = same_inf
            row[f"{name}_max_diff"] = float(err.max()) if fin.any() else 0.0
            # fp16 biases (|b| up to ~66): within 2^-9 |b| (2 to 4 units in fp16's last place)
            if same_inf and bool((err <= 2.0**-9 * base[fin].abs() + 1e-3).all()):
                checked[name] = call(lb, longest)
        for name, t in bench_rounds(checked, args.rounds).items():
            row[f"{name}_ms"], row[f"{name}_lo_ms"], row[f"{name}_hi_ms"] = t["ms"], t["lo"], t["hi"]
        print({k_: (round(v_, 3) if isinstance(v_, float) else v_) for k_, v_ in row.items()}, flush=True)
        rows_out.append(row)
        save_rows(args.out, "bench_listed_bias.json", rows_out)
        del base, bias_args, tau, log_g, mask, tile_count, offsets, ids
    return 0


if __name__ == "__main__":
    sys.exit(main())
