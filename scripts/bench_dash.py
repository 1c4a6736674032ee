"""DashAttention prefill vs dense on the GPU: checked first, then timed, stage by stage.

For each shape and input generator, calibrates ``scaling`` to each target token density,
checks the kernel against ``dash_attention_reference`` on 256 sampled rows, then times the
kernel (and its three stages) and the dense baselines in the same process with
``triton.testing.do_bench`` (median, L2 flushed).

    python scripts/bench_dash.py --seqlen 8k,32k,128k --hkv 8,2 --out results/reference/h100-dash
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from benchtools import apply_settings, bench, bench_rounds, cudnn, fa3_module, fa3_step, save_rows, under_settings  # scripts/benchtools.py

from dashbench.harness.correctness import relative_error, sample_rows
from dashbench.harness.flops import causal_pairs
from dashbench.harness.inputs import random_qkv, structured_qkv
from dashbench.kernels import calibrate_scaling, dash_attention
from dashbench.kernels.dash.attend import attend, tma_ready
from dashbench.kernels.dash.prior import listed_bias
from dashbench.kernels.dash.route import chunk_lists, padded_group, route, tile_rows
from dashbench.kernels.dash.interface import (
    ATTEND_ROWS,
    ATTEND_TMA,
    ATTEND_TMA_STAGES,
    ROUTE_ROWS,
    STORED_BIAS_TMA_STAGES,
    attend_config,
    routing_stats,
    gluon_kernel,
    use_gluon_attend,
    use_stored_bias,
)
from dashbench.kernels.dash.summarize import summarize
from dashbench.kernels.reference import dash_attention_reference
from dashbench.units import parse_size_list


def route_switch(tag: str, switch: str, q, s, C, scaling, bm, route_bm) -> dict:
    """The router with the keyword ``switch`` off and on: outputs compared (thresholds, counts,
    tile unions), then both timed."""
    off, on = (route(q, s, C, scaling, bm, route_bm=route_bm, **{switch: flag}) for flag in (False, True))
    finite = torch.isfinite(off[0])  # rows with no earlier chunk hold +inf
    out = {f"route_{tag}_tau_max_diff": float((on[0] - off[0])[finite].abs().max()),
           f"route_{tag}_count_agree": float((on[2] == off[2]).float().mean()),
           f"route_{tag}_union_agree": float((on[4] == off[4]).float().mean())}  # fmt: skip
    del off, on
    for flag in (False, True):
        out[f"route_{tag}_{flag}_ms"] = bench(lambda: route(q, s, C, scaling, bm, route_bm=route_bm, **{switch: flag}))
    return out


def dense_calls(q, k, v) -> dict:
    """The dense baselines as callables: FA3 where installed, and cuDNN."""
    fa3 = fa3_module()
    calls = {"fa3": fa3_step(fa3, q, k, v)} if fa3 is not None else {}
    calls["cudnn"] = lambda: cudnn(q, k, v)
    return calls


def dense_baselines(q, k, v):
    return {name: bench(call) for name, call in dense_calls(q, k, v).items()}



def check_then_time(variants: dict, tag: str, call, base, base_lse) -> None:
    """One call of an attention variant (``call() -> (out, lse)``) against the baseline's output
    and log-sum-exp; timed only if its output is within 5e-3 (errors recorded, not fatal)."""
    try:
        got, lse = call()
    except Exception as e:  # noqa: BLE001 - a failing variant must not end the run
        variants[f"{tag}_error"] = f"{type(e).__name__}: {str(e)[:300]}"
        return
    variants[f"{tag}_rel_diff"] = relative_error(got, base)
    variants[f"{tag}_lse_rel_diff"] = relative_error(lse, base_lse)
    del got, lse
    if variants[f"{tag}_rel_diff"] < 5e-3:  # time only what was checked
        variants[f"{tag}_ms"] = bench(call)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlen", default="8k,32k,128k")
    ap.add_argument("--hkv", default="8,2")
    ap.add_argument("--densities", default="0.25,0.10")
    ap.add_argument("--inputs", default="structured,random")
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--variants", default="route,attend",
                    help="extra timings per row: route (router launch settings), attend (attention "
                         "warps/stages/TMA), storedtune (the stored-bias attention's warps, stages and diagonal order), gluon (the experimental Gluon attention against it), gluonpair (the warp-specialized Gluon attention over pairs of tiles), pingpong (two tiles a CTA taking turns), ws (a producer warp for the K/V), rows128 (attention tiles of 128 rows), rows32 (of 32 rows), noprior (the attention over the "
                         "same lists without the prior: its cost), mmarows (the routing dot's fp32 q in "
                         "the tensor cores' layout), rough (the router's solver on one-product scores first, on and "
                         "off), diaglast (the diagonal chunk after the listed ones, 2 and 3 stages), diagmma (that with the routing "
                         "rows in the mma layout), storedbias (the prior's biases computed before the attention: "
                         "prior.py, with the diagonal chunk first or last), or none")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--rounds", type=int, default=1,
                    help="also time the whole prefill and the baseline together in this many rounds, order "
                         "rotated (benchtools.bench_rounds): the speedup from their medians and each round's "
                         "ratio (the board drifts under its power cap between separate timings)")
    ap.add_argument("--route-setting", action="append", default=[], metavar="[MODULE.]NAME=VALUE",
                    help="set dashbench.kernels.dash.route.NAME (or prior.NAME, interface.NAME) to a Python "
                         "literal before timing")  # fmt: skip
    ap.add_argument("--rounds-against", action="append", default=[], metavar="[MODULE.]NAME=VALUE",
                    help="with --rounds: the prefill under this setting (one variant per use of the option) "
                         "timed in the same rounds, checked against the default's output first")
    args = ap.parse_args()
    apply_settings(args.route_setting)
    extra = set(args.variants.split(","))
    torch.manual_seed(0)
    rows_out = []
    hq, d, C = 32, 128, args.chunk
    for hkv in map(int, args.hkv.split(",")):
        for n in parse_size_list(args.seqlen):
            for kind in args.inputs.split(","):
                gen = structured_qkv if kind == "structured" else random_qkv
                kw = dict(chunk_size=C) if kind == "structured" else {}
                q, k, v = gen(1, hq, hkv, n, d, dtype=torch.bfloat16, device="cuda", seed=1, **kw)
                w = torch.zeros(hkv, d, device="cuda", dtype=torch.bfloat16)
                dense = dense_baselines(q, k, v)
                base_name = "fa3" if "fa3" in dense else "cudnn"
                for target in map(float, args.densities.split(",")):
                    t0 = time.time()
                    scaling = calibrate_scaling(q, k, w, target, chunk_size=C)
                    out, stats = dash_attention(q, k, v, w, chunk_size=C, scaling=scaling, return_stats=True)
                    rows = sample_rows(n).cuda()
                    ref = dash_attention_reference(q[:, :, rows], k, v, w, chunk_size=C, scaling=scaling,
                                                   q_positions=rows)
                    err = relative_error(out[:, :, rows], ref)
                    del out
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                    before = torch.cuda.memory_allocated()
                    dash_attention(q, k, v, w, chunk_size=C, scaling=scaling)
                    torch.cuda.synchronize()
                    # beyond the inputs and the output itself (which the call allocates)
                    extra_mib = (torch.cuda.max_memory_allocated() - before) / 2**20 - q.numel() * 2 / 2**20
                    def prefill():
                        return dash_attention(q, k, v, w, chunk_size=C, scaling=scaling)

                    total = bench(prefill)
                    paired = {}
                    if args.rounds > 1:
                        calls = {"dash": prefill, base_name: dense_calls(q, k, v)[base_name]}
                        for item in args.rounds_against:  # checked against the default, then timed with it
                            alt = under_settings(prefill, [item])
                            paired[f"against {item} rel_diff"] = relative_error(alt(), prefill())
                            if paired[f"against {item} rel_diff"] < 5e-3:  # time only what was checked
                                calls[f"against {item}"] = alt
                        t = bench_rounds(calls, args.rounds)
                        ratios = [b / a for a, b in zip(t["dash"]["runs"], t[base_name]["runs"])]
                        paired.update({"rounds": args.rounds, "dash_rounds_ms": t["dash"]["ms"],
                                       f"{base_name}_rounds_ms": t[base_name]["ms"],
                                       "speedup_rounds": t[base_name]["ms"] / t["dash"]["ms"],
                                       "speedup_rounds_lo": min(ratios), "speedup_rounds_hi": max(ratios)})  # fmt: skip
                        for item in args.rounds_against:
                            if f"against {item}" in t:
                                paired[f"against {item} rounds_ms"] = t[f"against {item}"]["ms"]
                                paired[f"against {item} speedup_rounds"] = t[base_name]["ms"] / t[f"against {item}"]["ms"]
                    G = hq // hkv
                    bm = tile_rows(G, C, ATTEND_ROWS)
                    route_bm = tile_rows(G, C, ROUTE_ROWS)
                    s = summarize(k, w, C)
                    t_sum = bench(lambda: summarize(k, w, C))
                    tau, log_g, count, mask, tile_count = route(q, s, C, scaling, bm, route_bm=route_bm)
                    t_route = bench(lambda: route(q, s, C, scaling, bm, route_bm=route_bm))
                    offsets, ids = chunk_lists(mask, tile_count)
                    t_lists = bench(lambda: chunk_lists(mask, tile_count))
                    use_tma = ATTEND_TMA and tma_ready(k, v)
                    # the attention recomputing the prior's biases (the variants' baseline)
                    prod = dict(chunk_size=C, scaling=scaling, sigma=1.0, estimate_diagonal=True, bm=bm,
                                gp=padded_group(G), tma=use_tma, num_stages=ATTEND_TMA_STAGES if use_tma else 3)
                    # what dash_attention runs: with the biases stored first where they fit
                    stored = use_stored_bias(q, k, ids.numel(), bm)
                    run_cfg = {**prod, **attend_config(k, v, stored)}
                    # listed_bias(*bias_args, **bias_kw): the prior's biases of these lists
                    bias_args = (q, s, tau, log_g, offsets, tile_count, ids)
                    bias_kw = dict(scaling=scaling, sigma=1.0, estimate_diagonal=True, bm=bm, gp=padded_group(G))

                    def stored_baseline():
                        """The Gluon variants' baseline: ``attend`` over fp16 stored biases as
                        ``dash_attention``'s Triton path runs it, its output and time."""
                        bias = listed_bias(*bias_args, **bias_kw).half()
                        cfg = {**prod, **attend_config(k, v, True)}
                        base, base_lse = attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, bias=bias, **cfg)
                        variants["attend_stored_ms"] = bench(lambda: attend(
                            q, k, v, s, tau, log_g, offsets, tile_count, ids, bias=bias, **cfg))  # fmt: skip
                        return bias, base, base_lse
                    t_bias = 0.0
                    if stored:
                        t_bias = bench(lambda: listed_bias(*bias_args, **bias_kw))
                        run_bias = listed_bias(*bias_args, **bias_kw)
                        if use_gluon_attend(q, k, v, run_bias, bm, padded_group(G), C):  # as dash_attention runs
                            t_attend = bench(lambda: gluon_kernel()(q, k, v, offsets, tile_count, ids, run_bias,
                                                                    chunk_size=C, bm=bm, gp=padded_group(G),
                                                                    stages=STORED_BIAS_TMA_STAGES))  # fmt: skip
                        else:
                            t_attend = bench(lambda: attend(q, k, v, s, tau, log_g, offsets, tile_count, ids,
                                                            bias=run_bias, **run_cfg))  # fmt: skip
                        del run_bias
                    else:
                        t_attend = bench(lambda: attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, **run_cfg))
                    variants = {}
                    if "route" in extra:
                        variants.update({
                            "route_r128_w8_ms": bench(lambda: route(q, s, C, scaling, bm, route_bm=route_bm, num_warps=8)),
                            "route_r64_w4_ms": bench(lambda: route(q, s, C, scaling, bm)),
                            "route_cb64_w8_ms": bench(lambda: route(q, s, C, scaling, bm, route_bm=route_bm, cb=64,
                                                                    num_warps=8)),
                            "route_r128_w4_s2_ms": bench(lambda: route(q, s, C, scaling, bm, route_bm=route_bm,
                                                                       num_stages=2)),
                            "route_r128_w4_s4_ms": bench(lambda: route(q, s, C, scaling, bm, route_bm=route_bm,
                                                                       num_stages=4)),
                        })
                        rbm256 = tile_rows(G, C, 256)
                        if rbm256 % bm == 0 and rbm256 <= C:
                            for warps in (4, 8):
                                variants[f"route_r256_w{warps}_ms"] = bench(
                                    lambda: route(q, s, C, scaling, bm, route_bm=rbm256, num_warps=warps))
                    akw = dict(chunk_size=C, scaling=scaling, sigma=1.0, estimate_diagonal=True, bm=bm,
                               gp=padded_group(G))
                    plain, _ = attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, **akw)
                    if "attend" in extra:
                        for warps, stages, tma in ((4, 3, False), (4, 2, False), (4, 3, True), (4, 2, True)):
                            tag = f"attend_r64_w{warps}_s{stages}{'_tma' if tma else ''}"
                            if tma:  # checked against the pointer-load attention before it is timed
                                got, _ = attend(q, k, v, s, tau, log_g, offsets, tile_count, ids,
                                                num_warps=warps, num_stages=stages, tma=True, **akw)
                                variants[f"{tag}_rel_diff"] = relative_error(got, plain)
                                del got
                            variants[f"{tag}_ms"] = bench(lambda: attend(
                                q, k, v, s, tau, log_g, offsets, tile_count, ids, num_warps=warps,
                                num_stages=stages, tma=tma, **akw))
                    if "noprior" in extra:
                        # The same lists as plain block-sparse attention (every token of a tile
                        # attends every listed chunk, no routing recomputed): what the prior's
                        # per-(row, chunk) work costs the attention. Outputs differ (no prior).
                        every_token = torch.full(ids.shape, (1 << bm) - 1, device=ids.device, dtype=torch.int64)
                        variants["attend_noprior_ms"] = bench(lambda: attend(
                            q, k, v, None, None, None, offsets, tile_count, ids, token_masks=every_token, **prod))
                        del every_token
                    if "storedbias" in extra:  # the prior's biases computed before the attention (prior.py)
                        bias = listed_bias(*bias_args, **bias_kw)
                        variants["stored_bias_mib"] = bias.numel() * bias.element_size() / 2**20
                        variants["stored_bias_fraction"] = bias.numel() * bias.element_size() / ((2 * q.numel() + 2 * k.numel()) * 2)
                        got, _ = attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, bias=bias, **prod)
                        base, _ = attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, **prod)
                        variants["attend_storedbias_rel_diff"] = relative_error(got, base)
                        del got, base
                        variants["listed_bias_ms"] = bench(lambda: listed_bias(*bias_args, **bias_kw))
                        for last, stages in ((False, prod["num_stages"]), (True, 2), (True, 3), (False, 3)):
                            cfg = {**prod, "num_stages": stages}
                            tag = f"{'last' if last else 'first'}_s{stages}"
                            variants[f"attend_storedbias_{tag}_ms"] = bench(lambda: attend(
                                q, k, v, s, tau, log_g, offsets, tile_count, ids, bias=bias, diagonal_last=last,
                                **cfg))  # fmt: skip
                        if bias.dtype != torch.float32:  # the same biases in fp32: what halving them costs
                            bias32 = bias.float()
                            variants["attend_storedbias_fp32_last_s3_ms"] = bench(lambda: attend(
                                q, k, v, s, tau, log_g, offsets, tile_count, ids, bias=bias32, diagonal_last=True,
                                **{**prod, "num_stages": 3}))  # fmt: skip
                            del bias32
                        variants["attend_recomputed_ms"] = bench(lambda: attend(
                            q, k, v, s, tau, log_g, offsets, tile_count, ids, **prod))
                        del bias
                    if "gluon" in extra and q.dtype != torch.float32:  # the Gluon attention (experimental)
                        from dashbench.kernels.dash.gluon_attend import gluon_attend

                        bias, base, base_lse = stored_baseline()
                        # 64-row tiles (these lists); 128-row tiles (two warpgroups, wider lists),
                        # checked against the 64-row attention; q in shared memory or registers
                        lists = {64: (offsets, tile_count, ids, bias, bm)}
                        bm2 = tile_rows(G, C, 128)
                        if padded_group(G) * bm2 == 128:
                            r2 = route(q, s, C, scaling, bm2, route_bm=max(route_bm, bm2))
                            off2, ids2 = chunk_lists(r2[3], r2[4])
                            variants["rows128_compute_density"] = routing_stats(r2[2], r2[4], C, n, bm2).compute_density
                            bias2 = listed_bias(q, s, r2[0], r2[1], off2, r2[4], ids2, **{**bias_kw, "bm": bm2}).half()
                            lists[128] = (off2, r2[4], ids2, bias2, bm2)
                            del r2
                        for rows, stages, q_regs in ((64, 3, False), (64, 2, False), (64, 4, False), (64, 3, True),
                                                     (128, 3, False)):  # fmt: skip
                            if rows not in lists:
                                continue
                            tag = f"gluon_r{rows}_s{stages}_q{'reg' if q_regs else 'smem'}"
                            lo, lc, li, lb, lbm = lists[rows]
                            gkw = dict(chunk_size=C, bm=lbm, gp=padded_group(G), stages=stages, q_regs=q_regs)
                            check_then_time(variants, tag, lambda: gluon_attend(q, k, v, lo, lc, li, lb, **gkw), base,
                                            base_lse)  # fmt: skip
                        del bias, base, base_lse, lists
                    if "gluonpair" in extra and q.dtype != torch.float32 and 2 * bm <= C:
                        # two tiles a CTA over their lists' union, warp-specialized (experimental)
                        from dashbench.kernels.dash.gluon_pair_attend import gluon_pair_attend, pair_lists

                        bias, base, base_lse = stored_baseline()
                        pl = pair_lists(mask, tile_count)
                        variants["pair_lists_ms"] = bench(lambda: pair_lists(mask, tile_count))
                        # K/V loads: the pairs' unions (+ own chunk) against the tiles' lists (+ own)
                        variants["pair_load_ratio"] = ((pl[1].double().sum() + pl[1].numel()) /
                                                       (tile_count.double().sum() + tile_count.numel())).item()
                        for stages, regs in ((3, 232), (4, 232), (5, 232), (4, 240)):
                            tag = f"gluonpair_s{stages}_r{regs}"
                            pkw = dict(chunk_size=C, bm=bm, gp=padded_group(G), stages=stages, consumer_regs=regs)
                            check_then_time(variants, tag, lambda: gluon_pair_attend(
                                q, k, v, offsets, tile_count, ids, bias, *pl, **pkw), base, base_lse)  # fmt: skip
                        del bias, base, base_lse, pl
                    if extra & {"pingpong", "ws"} and q.dtype != torch.float32:
                        # Gluon attentions beside gluon_attend: two tiles a CTA taking turns to issue
                        # products (pingpong); a producer warp for the K/V (ws, the default since
                        # stop 22). (Two listed chunks a step and K/V in rings of their own, timed
                        # at stops 22 and 23 and removed: commit d291dc7 has them.)
                        from dashbench.kernels.dash.gluon_attend import gluon_attend
                        from dashbench.kernels.dash.gluon_pingpong_attend import gluon_pingpong_attend
                        from dashbench.kernels.dash.gluon_ws_attend import gluon_ws_attend

                        bias, base, base_lse = stored_baseline()
                        gkw = dict(chunk_size=C, bm=bm, gp=padded_group(G))
                        variants["gluon_ms"] = bench(lambda: gluon_attend(q, k, v, offsets, tile_count, ids, bias,
                                                                          **gkw))  # fmt: skip
                        runs = [(f"ws_s{st}", gluon_ws_attend, st) for st in (3, 4) if "ws" in extra]
                        runs += [(f"pingpong_s{st}", gluon_pingpong_attend, st) for st in (3, 2) if "pingpong" in extra]
                        for tag, kernel, stages in runs:
                            check_then_time(variants, tag, lambda: kernel(
                                q, k, v, offsets, tile_count, ids, bias, stages=stages, **gkw), base, base_lse)  # fmt: skip
                        del bias, base, base_lse
                    if "storedtune" in extra:  # the stored-bias attention's launch: warps, stages, diagonal
                        bias = listed_bias(*bias_args, **bias_kw)
                        base, _ = attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, **prod)
                        for warps, stages, last in ((4, 3, True), (8, 3, True), (4, 4, True), (8, 4, True),
                                                    (8, 2, True), (4, 2, False), (8, 2, False)):  # fmt: skip
                            cfg = {**prod, "num_stages": stages}
                            tag = f"attend_stored_w{warps}_s{stages}_{'last' if last else 'first'}"
                            try:
                                got, _ = attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, bias=bias,
                                                diagonal_last=last, num_warps=warps, **cfg)  # fmt: skip
                            except Exception as e:  # e.g. out of shared memory: recorded, not fatal
                                variants[f"{tag}_error"] = f"{type(e).__name__}: {str(e)[:200]}"
                                continue
                            variants[f"{tag}_rel_diff"] = relative_error(got, base)
                            del got
                            variants[f"{tag}_ms"] = bench(lambda: attend(
                                q, k, v, s, tau, log_g, offsets, tile_count, ids, bias=bias, diagonal_last=last,
                                num_warps=warps, **cfg))  # fmt: skip
                        del bias, base
                    if "mmarows" in extra:  # the routing dot's fp32 q in the tensor cores' layout
                        got, _ = attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, route_mma_layout=True, **prod)
                        base, _ = attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, route_mma_layout=False,
                                         **prod)  # fmt: skip
                        variants["attend_mmarows_rel_diff"] = relative_error(got, base)
                        del got, base
                        for on in (False, True):
                            variants[f"attend_mmarows_{on}_ms"] = bench(lambda: attend(
                                q, k, v, s, tau, log_g, offsets, tile_count, ids, route_mma_layout=on, **prod))
                    if "diaglast" in extra:  # the diagonal chunk after the listed ones (attend.ATTEND_DIAGONAL_LAST)
                        got, _ = attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, diagonal_last=True, **prod)
                        base, _ = attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, diagonal_last=False,
                                         **prod)  # fmt: skip
                        variants["attend_diaglast_rel_diff"] = relative_error(got, base)
                        del got, base
                        every_token = torch.full(ids.shape, (1 << bm) - 1, device=ids.device, dtype=torch.int64)
                        for last, stages in ((False, prod["num_stages"]), (True, 2), (True, 3)):
                            cfg = {**prod, "num_stages": stages}
                            tag = f"{'last' if last else 'first'}_s{stages}"
                            variants[f"attend_diag{tag}_ms"] = bench(lambda: attend(
                                q, k, v, s, tau, log_g, offsets, tile_count, ids, diagonal_last=last, **cfg))
                            variants[f"attend_noprior_diag{tag}_ms"] = bench(lambda: attend(
                                q, k, v, None, None, None, offsets, tile_count, ids, token_masks=every_token,
                                diagonal_last=last, **cfg))  # fmt: skip
                        del every_token
                    if "diagmma" in extra:  # routing rows in the mma layout with the diagonal chunk last
                        got, _ = attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, diagonal_last=True,
                                        route_mma_layout=True, **{**prod, "num_stages": 3})  # fmt: skip
                        base, _ = attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, **prod)
                        variants["attend_diagmma_rel_diff"] = relative_error(got, base)
                        del got, base
                        for last, mma, stages in ((False, False, prod["num_stages"]), (False, True, 2), (True, True, 2),
                                                  (True, True, 3), (True, False, 3)):  # fmt: skip
                            cfg = {**prod, "num_stages": stages}
                            tag = f"{'last' if last else 'first'}_mma{int(mma)}_s{stages}"
                            variants[f"attend_diag{tag}_ms"] = bench(lambda: attend(
                                q, k, v, s, tau, log_g, offsets, tile_count, ids, diagonal_last=last,
                                route_mma_layout=mma, **cfg))  # fmt: skip
                    if "rough" in extra:  # the router's solver on one-product scores first (route.ROUTE_ROUGH_SOLVE)
                        variants.update(route_switch("rough", "rough_solve", q, s, C, scaling, bm, route_bm))
                    if "rows128" in extra:  # 128-row attention tiles: wider unions, wgmma-sized tiles
                        bm2 = tile_rows(G, C, 128)
                        r2 = route(q, s, C, scaling, bm2, route_bm=max(route_bm, bm2))
                        off2, ids2 = chunk_lists(r2[3], r2[4])
                        variants["rows128_compute_density"] = routing_stats(r2[2], r2[4], C, n, bm2).compute_density
                        for warps in (4, 8):
                            try:
                                got, _ = attend(q, k, v, s, r2[0], r2[1], off2, r2[4], ids2, **{**akw, "bm": bm2},
                                                num_warps=warps, num_stages=2, tma=True)
                            except Exception as e:  # e.g. out of shared memory: recorded, not fatal
                                variants[f"attend_r128_w{warps}_error"] = f"{type(e).__name__}: {str(e)[:200]}"
                                continue
                            variants[f"attend_r128_w{warps}_rel_diff"] = relative_error(got, plain)
                            del got
                            variants[f"attend_r128_w{warps}_s2_tma_ms"] = bench(lambda: attend(
                                q, k, v, s, r2[0], r2[1], off2, r2[4], ids2, **{**akw, "bm": bm2},
                                num_warps=warps, num_stages=2, tma=True))
                        del r2, off2, ids2
                    if "rows32" in extra:  # 32-row attention tiles: narrower unions, tensor-core tiles below wgmma's 64
                        bm2 = tile_rows(G, C, 32)
                        r2 = route(q, s, C, scaling, bm2, route_bm=max(route_bm, bm2))
                        off2, ids2 = chunk_lists(r2[3], r2[4])
                        variants["rows32_compute_density"] = routing_stats(r2[2], r2[4], C, n, bm2).compute_density
                        for warps in (2, 4):
                            try:
                                got, _ = attend(q, k, v, s, r2[0], r2[1], off2, r2[4], ids2, **{**akw, "bm": bm2},
                                                num_warps=warps, num_stages=2, tma=True)
                            except Exception as e:  # recorded, not fatal
                                variants[f"attend_r32_w{warps}_error"] = f"{type(e).__name__}: {str(e)[:200]}"
                                continue
                            variants[f"attend_r32_w{warps}_rel_diff"] = relative_error(got, plain)
                            del got
                            variants[f"attend_r32_w{warps}_s2_tma_ms"] = bench(lambda: attend(
                                q, k, v, s, r2[0], r2[1], off2, r2[4], ids2, **{**akw, "bm": bm2},
                                num_warps=warps, num_stages=2, tma=True))
                        # with the prior's biases stored (prior.py), the two levers together
                        bias2 = listed_bias(q, s, r2[0], r2[1], off2, r2[4], ids2, scaling=scaling, sigma=1.0,
                                            estimate_diagonal=True, bm=bm2, gp=padded_group(G))  # fmt: skip
                        variants["rows32_stored_bias_mib"] = bias2.numel() * bias2.element_size() / 2**20
                        variants["listed_bias_r32_ms"] = bench(lambda: listed_bias(
                            q, s, r2[0], r2[1], off2, r2[4], ids2, scaling=scaling, sigma=1.0,
                            estimate_diagonal=True, bm=bm2, gp=padded_group(G)))  # fmt: skip
                        got, _ = attend(q, k, v, s, r2[0], r2[1], off2, r2[4], ids2, **{**akw, "bm": bm2},
                                        num_warps=4, num_stages=2, tma=True, bias=bias2)  # fmt: skip
                        variants["attend_r32_storedbias_rel_diff"] = relative_error(got, plain)
                        del got
                        variants["attend_r32_storedbias_w4_s2_tma_ms"] = bench(lambda: attend(
                            q, k, v, s, r2[0], r2[1], off2, r2[4], ids2, **{**akw, "bm": bm2},
                            num_warps=4, num_stages=2, tma=True, bias=bias2))
                        del r2, off2, ids2, bias2
                    del plain, bias_args  # (which holds q: freed with it below)
                    qkvo_mib = (2 * q.numel() + 2 * k.numel()) * 2 / 2**20
                    row = dict(
                        hq=hq, hkv=hkv, n=n, d=d, chunk=C, inputs=kind, target_density=target,
                        scaling=scaling, target_reached=abs(stats.mean_density - target) < 0.02,
                        token_density=stats.mean_density, pair_density=stats.pair_density,
                        compute_density=stats.compute_density, rel_err=err, dash_ms=total,
                        summarize_ms=t_sum, route_ms=t_route, lists_ms=t_lists, stored_bias=stored,
                        bias_ms=t_bias, attend_ms=t_attend,
                        **{f"{name}_ms": ms for name, ms in dense.items()},
                        baseline=base_name, speedup=dense[base_name] / total, **paired,
                        extra_mem_mib=extra_mib, extra_mem_frac=extra_mib / qkvo_mib, **variants,
                        dense_equiv_tflops=4 * d * causal_pairs(n, n) * hq / (total * 1e-3) / 1e12,
                    )
                    rows_out.append(row)
                    save_rows(args.out, "bench_dash.json", rows_out)  # after every row: a cut run keeps them
                    print(f"Hkv={hkv} N={n:7d} {kind:10s} target={target:.2f} tok={stats.mean_density:.3f} "
                          f"pair={stats.pair_density:.3f} comp={stats.compute_density:.3f} err={err:.1e} "
                          f"dash={total:8.3f}ms (sum {t_sum:.3f} route {t_route:.3f} lists {t_lists:.3f} "
                          f"{f'bias {t_bias:.3f} ' if stored else ''}attend {t_attend:.3f}) "
                          f"{base_name}={dense[base_name]:8.3f}ms speedup={row['speedup']:.2f} "
                          f"extra={extra_mib:.0f}MiB ({row['extra_mem_frac']:.1%}) [{time.time() - t0:.0f}s]",
                          flush=True)
                    if paired:
                        print(f"    in {args.rounds} rounds: dash {paired['dash_rounds_ms']:.3f} ms, {base_name} "
                              f"{paired[f'{base_name}_rounds_ms']:.3f} ms, speedup {paired['speedup_rounds']:.2f} "
                              f"(rounds {paired['speedup_rounds_lo']:.2f}-{paired['speedup_rounds_hi']:.2f})",
                              flush=True)  # fmt: skip
                        for item in args.rounds_against:
                            timing = (f"{paired[f'against {item} rounds_ms']:.3f} ms, speedup "
                                      f"{paired[f'against {item} speedup_rounds']:.2f}"
                                      if f"against {item} rounds_ms" in paired else "not timed")
                            print(f"    against {item}: {timing} (output differs by "
                                  f"{paired[f'against {item} rel_diff']:.1e})", flush=True)
                    print("    " + " ".join(f"{k_}={v_:.4g}" if isinstance(v_, float) else f"{k_}={v_}"
                                             for k_, v_ in variants.items()), flush=True)
                del q, k, v
                torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
