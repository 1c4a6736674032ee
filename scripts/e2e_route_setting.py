"""The whole prefill with a router setting off and on, in one process, beside FA3: the same
inputs, the outputs compared, each timed by ``bench`` (L2 flushed, median).

    python scripts/e2e_route_setting.py --setting ROUTE_FINAL_TRANSPOSED --seqlen 32k --hkv 2,8 --out $OUT
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from benchtools import bench, fa3_module, fa3_step, save_rows  # scripts/benchtools.py

from dashbench.harness.correctness import relative_error
from dashbench.harness.inputs import structured_qkv
from dashbench.kernels import calibrate_scaling, dash_attention
from dashbench.kernels.dash import route as route_module
from dashbench.units import parse_size_list


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--setting", required=True, help="a boolean setting of dashbench.kernels.dash.route")
    ap.add_argument("--seqlen", default="32k")
    ap.add_argument("--hkv", default="2,8")
    ap.add_argument("--density", type=float, default=0.25)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if not hasattr(route_module, args.setting):
        raise SystemExit(f"route has no setting {args.setting}")
    fa3 = fa3_module()
    rows = []
    for hkv in map(int, args.hkv.split(",")):
        for n in parse_size_list(args.seqlen):
            q, k, v = structured_qkv(1, 32, hkv, n, 128, chunk_size=64, dtype=torch.bfloat16, device="cuda", seed=1)
            w = torch.zeros(hkv, 128, device="cuda", dtype=torch.bfloat16)
            scaling = calibrate_scaling(q, k, w, args.density, chunk_size=64)
            row = dict(hkv=hkv, n=n, density=args.density, setting=args.setting)
            if fa3 is not None:
                row["fa3_ms"] = bench(fa3_step(fa3, q, k, v))
            outs = {}
            for value in (False, True):
                setattr(route_module, args.setting, value)
                call = lambda: dash_attention(q, k, v, w, chunk_size=64, scaling=scaling)  # noqa: E731
                outs[value] = call()
                row[f"dash_{value}_ms"] = bench(call)
            row["rel_diff"] = relative_error(outs[True], outs[False])
            if fa3 is not None:
                row.update({f"speedup_{v_}": row["fa3_ms"] / row[f"dash_{v_}_ms"] for v_ in (False, True)})
            print({k_: (round(v_, 4) if isinstance(v_, float) else v_) for k_, v_ in row.items()}, flush=True)
            rows.append(row)
            save_rows(args.out, "e2e_route_setting.json", rows)
            del q, k, v, outs
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
