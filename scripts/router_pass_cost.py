"""What a router pass costs on the GPU, against the tensor cores' share of it.

The lean router with its solvers capped at ``k`` passes (``route(..., max_iter=k)``; the outputs
are then wrong and not checked: this times passes, it routes nothing) for k = 0 (the max pass and
the final pass only) up to the uncapped default. The slope is one solver pass; the products a
pass takes (1 rough, 2 exact: bf16 terms of the summaries) give the tensor-core floor it would
have at ``--tflops`` dense bf16.

    python scripts/router_pass_cost.py --seqlen 128k --hkv 2,8 --out $OUT
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from benchtools import bench, save_rows  # scripts/benchtools.py

from dashbench.harness.inputs import make_qkv
from dashbench.kernels import calibrate_scaling
from dashbench.kernels.dash.interface import ATTEND_ROWS, ROUTE_ROWS
from dashbench.kernels.dash.route import route, tile_rows
from dashbench.kernels.dash.summarize import summarize
from dashbench.units import parse_size_list


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlen", default="128k")
    ap.add_argument("--hkv", default="2,8")
    ap.add_argument("--density", type=float, default=0.25)
    ap.add_argument("--inputs", default="structured")
    ap.add_argument("--iters", default="0,1,2,3,4,6")
    ap.add_argument("--tflops", type=float, default=660.0, help="dense bf16 tensor-core rate for the floor")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    hq, d, C = 32, 128, 64
    rows = []
    t0 = time.time()
    for hkv in map(int, args.hkv.split(",")):
        G = hq // hkv
        bm, rbm = tile_rows(G, C, ATTEND_ROWS), tile_rows(G, C, ROUTE_ROWS)
        for n in parse_size_list(args.seqlen):
            q, k, _ = make_qkv(args.inputs, 1, hq, hkv, n, d, dtype=torch.bfloat16, device="cuda", seed=1)
            w = torch.zeros(hkv, d, device="cuda", dtype=torch.bfloat16)
            s = summarize(k, w, C)
            scaling = calibrate_scaling(q, k, w, args.density, chunk_size=C)
            n_chunks = s.shape[2]
            # (row, earlier chunk) scores a pass visits: each token's chunks before its own
            scores = hq * C * sum(range(n_chunks))
            product_ms = scores * 2 * d / (args.tflops * 1e12) * 1e3
            row = dict(hkv=hkv, n=n, inputs=args.inputs, density=args.density, scores=scores,
                       one_product_floor_ms=product_ms, rows_per_program=rbm * G)  # fmt: skip
            print(f"hkv {hkv} n {n}: inputs ready ({time.time() - t0:.0f} s)", flush=True)
            row["default_ms"] = bench(lambda: route(q, s, C, scaling, bm, route_bm=rbm))
            for rough in (False, True):
                for it in map(int, args.iters.split(",")):
                    name = f"rough{int(rough)}_iter{it}_ms"
                    row[name] = bench(
                        lambda: route(q, s, C, scaling, bm, route_bm=rbm, rough_solve=rough, max_iter=it))
                    print(f"  {name} {row[name]:.3f} ({time.time() - t0:.0f} s)", flush=True)
            print({k_: (round(v_, 3) if isinstance(v_, float) else v_) for k_, v_ in row.items()}, flush=True)
            rows.append(row)
            save_rows(args.out, "router_pass_cost.json", rows)
            del q, k, s
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
