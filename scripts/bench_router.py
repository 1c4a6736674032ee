"""DashAttention's router (stage 2) variants on the GPU: checked against each other, then timed.

The first router (``route(..., lean=False)``) and the lean one (pre-scaled, pre-split summaries,
absolute threshold, one-statistic convergence check) at several launch settings. Outputs must
agree (thresholds to rounding, counts and tile unions exactly, barring chunks at the threshold)
before a time is recorded. ``--once`` runs each variant a single time (for ``ncu``).

    python scripts/bench_router.py --seqlen 32k,128k --hkv 8,2 --out $OUT
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from benchtools import add_case_args, bench, bench_rounds, cases_from_args, save_rows  # scripts/benchtools.py

from dashbench.kernels.dash.route import route, tile_rows

VARIANTS = {  # name: route() keywords; "rows": rows per program (G x tokens) instead of ROUTE_ROWS
    "first_w4_s3": dict(lean=False, cb=32),
    "lean_default": dict(lean=True),
    "lean_default_again": dict(lean=True),  # the same kernel timed twice: the noise between versions
    "lean_rough": dict(lean=True, rough_solve=True),
    "lean_w4_s3": dict(lean=True, num_stages=3, cb=32),
    "lean_w4_s2": dict(lean=True, num_stages=2, cb=32),
    "lean_w8_s3": dict(lean=True, num_warps=8, num_stages=3, cb=32),
    "lean_w4_s4": dict(lean=True, num_stages=4, cb=32),
    "lean_r64_w4_s2": dict(lean=True, num_stages=2, rows=64, cb=32),
    "lean_r64_w4_s3": dict(lean=True, num_stages=3, rows=64, cb=32),
    "lean_cb64_w4_s2": dict(lean=True, num_stages=2, cb=64),
    "lean_cb64_w4_s3": dict(lean=True, num_stages=3, cb=64),
    "lean_cb128_w4_s2": dict(lean=True, num_stages=2, cb=128),
    "lean_cb64_w8_s2": dict(lean=True, num_stages=2, cb=64, num_warps=8),
    "lean_warm1": dict(lean=True, warm_tiles=1),  # stop 24: the default before warm tiles went "auto"
    "lean_rough_warm4": dict(lean=True, rough_solve=True, warm_tiles=4),
    "lean_warm2": dict(lean=True, warm_tiles=2),  # stop 18: tiles warm-started from the previous one's
    "lean_warm4": dict(lean=True, warm_tiles=4),
    "lean_warm8": dict(lean=True, warm_tiles=8),
    "lean_adaptive4": dict(lean=True, warm_tiles=4, adaptive_warm=True),  # stop 24: stops warm-starting once no gain
    "lean_adaptive8": dict(lean=True, warm_tiles=8, adaptive_warm=True),
    "lean_longest": dict(lean=True, longest_first=True),  # stop 24: the last tiles launched first
    "lean_adaptive4_longest": dict(lean=True, warm_tiles=4, adaptive_warm=True, longest_first=True),
    "lean_warm1_longest": dict(lean=True, warm_tiles=1, longest_first=True),
    "lean_final_t": dict(lean=True, final_transposed=True),  # stop 19: the final pass on transposed scores
    "lean_final_rows": dict(lean=True, final_transposed=False),
    # stop 22: the max pass merged into the first rough step (only with the rough solve: "auto"
    # runs it from 1024 chunks, so at 32k only the *_rough variants differ)
    "lean_separate_max": dict(lean=True, merged_max=False),
    "lean_merged_max": dict(lean=True, merged_max=True),
    "lean_merged_rough": dict(lean=True, merged_max=True, rough_solve=True),
    # stop 31: every tile's solver started from a 64-chunk sample (route.ROUTE_SAMPLE_START; call c
    # also timed a fallback to the default start where the sample's supports were small, removed)
    "lean_sample": dict(lean=True, sample_start=True),
    "lean_no_sample": dict(lean=True, sample_start=False),
    # stop 32: the sample start then exact steps only (the default since); calls a and b also
    # timed warm tiles started from the previous thresholds without the warm pass, everywhere
    # (commit e2d87e4) or for rows whose sample held few of their support (e3c2526): removed
    "lean_sample_rough": dict(lean=True, sample_start=True, rough_solve=True),
    "lean_sample_exact": dict(lean=True, sample_start=True, rough_solve=False),
    # prepared at stop 32 and timed at stop 33 (not faster): 128 or 256 sampled chunks (a CPU
    # simulation: 1.54 -> 1.06 / 1.04 exact passes a tile at 128k, structured 10%). Stop 33 also
    # timed "lean_union" (the exact passes writing the tile unions, route(union_in_solve=True):
    # slower; removed, commit 7279e32 has it)
    "lean_sample128": dict(lean=True, sample_chunks=128),
    "lean_sample256": dict(lean=True, sample_chunks=256),
}


def route_call(q, s, C, scaling, bm, rbm, G, variant: dict):
    kw = dict(variant)
    rows = kw.pop("rows", None)
    route_bm = max(bm, tile_rows(G, C, rows)) if rows else rbm
    return lambda: route(q, s, C, scaling, bm, route_bm=route_bm, **kw)


def agreement(a, b) -> dict:
    tau_a, tau_b = a[0], b[0]
    fin = torch.isfinite(tau_a)
    return dict(
        tau_max_abs_diff=float((tau_a[fin] - tau_b[fin]).abs().max()) if fin.any() else 0.0,
        tau_inf_mismatch=int((fin != torch.isfinite(tau_b)).sum()),
        log_g_max_abs_diff=float((a[1] - b[1]).abs().max()),
        count_equal_frac=float((a[2] == b[2]).float().mean()),
        mask_equal_frac=float((a[3] == b[3]).float().mean()),
        tile_count_equal_frac=float((a[4] == b[4]).float().mean()),
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    add_case_args(ap, seqlen="32k,128k")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--once", action="store_true", help="run each variant once, untimed (for ncu)")
    ap.add_argument("--check-against", default="first",
                    help="the router the variants are checked against: the first one, or a variant's name "
                         "(random inputs at 128k: the first router's arithmetic differs on ~0.1%% of tiles)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="time the checked variants in this many rounds, order rotated (benchtools.bench_rounds): "
                         "median and spread")  # fmt: skip
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    C = 64
    rows_out = []
    for case in cases_from_args(args, C):
        q, s, scaling, bm, rbm, G = case.q, case.s, case.scaling, case.bm, case.rbm, case.G
        row = dict(hkv=case.hkv, n=case.n, inputs=case.kind, target=case.target, scaling=scaling)
        if args.check_against == "first":
            base = route(q, s, C, scaling, bm, route_bm=rbm, lean=False, cb=32)
        else:
            base = route_call(q, s, C, scaling, bm, rbm, G, VARIANTS[args.check_against])()
        checked = {}
        for name in args.variants.split(","):
            call = route_call(q, s, C, scaling, bm, rbm, G, VARIANTS[name])
            got = call()
            check = agreement(base, got)
            ok = (check["tau_inf_mismatch"] == 0 and check["tau_max_abs_diff"] < 1e-3
                  and check["count_equal_frac"] > 0.999 and check["tile_count_equal_frac"] > 0.999)  # fmt: skip
            row[f"{name}_check"] = check
            if args.once:
                continue
            if args.rounds > 1:  # timed below, all together
                row[f"{name}_ms"] = None
                if ok:
                    checked[name] = call
            else:
                row[f"{name}_ms"] = bench(call) if ok else None
        del base, got
        for name, t in bench_rounds(checked, args.rounds).items():
            row[f"{name}_ms"], row[f"{name}_lo_ms"], row[f"{name}_hi_ms"] = t["ms"], t["lo"], t["hi"]
        print({k_: (round(v_, 3) if isinstance(v_, float) else v_) for k_, v_ in row.items()
               if not k_.endswith("_check")}, flush=True)  # fmt: skip
        bad = {k_: v_ for k_, v_ in row.items() if k_.endswith("_check")
               and (v_["count_equal_frac"] < 1 or v_["tau_max_abs_diff"] > 1e-4)}  # fmt: skip
        if bad:
            print("  disagreements:", bad, flush=True)
        rows_out.append(row)
        if not args.once:
            save_rows(args.out, "bench_router.json", rows_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
