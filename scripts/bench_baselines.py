"""The hierarchical methods side by side at equal token density (issue 4's benchmark): DashAttention,
InfLLMv2 and NSA beside FlashAttention-3 (cuDNN when FA3 is missing, and named so), in one process.

Prefill at each length and target sparsity: DashAttention's ``scaling`` is calibrated to the
target mean token density, InfLLMv2's and NSA's ``topk`` come from ``dashbench.sparsity`` (NSA:
the paper's configuration, window 512; its density counts the window and the selected blocks,
its compression branch is overhead). Decode: one step at the end of an ``L``-token cache, each
method set to the target density *of that step* (``over="last"``; DashAttention calibrated on the
last row). Every method is checked before it is timed: the output on sampled rows against
attention over the kernel's own selection in fp32 (``rel_err``), against the PyTorch reference
(``rel_err_vs_reference``: also differs where near-ties select other blocks), and the fraction of
sampled rows selecting other blocks than the reference. Times are ``do_bench`` medians (L2
flushed); decode also as CUDA-graph replays. DashAttention's and InfLLMv2's prefill rows also
time their selection (everything before the attention kernel) and the attention kernel alone.
``extra_mib``: peak memory of the timed call beyond the inputs and the output;
``extra_mib_with_stats``: the same for the call that also returns the selection or stats.

    python scripts/bench_baselines.py --out $OUT               # B=1, 32/8 heads, d=128, bf16
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from benchtools import bench, cudnn, fa3_module, fa3_step, save_rows  # scripts/benchtools.py

from dashbench.harness.correctness import relative_error, sample_rows
from dashbench.harness.inputs import structured_qkv
from dashbench.kernels import (
    DashCache,
    calibrate_scaling,
    dash_attention,
    dash_decode,
    infllmv2_attention,
    infllmv2_decode,
)
from dashbench.kernels.dash.attend import attend, tma_ready
from dashbench.kernels.dash.block_sparse import block_sparse_attention, selection_lists, tiles_for
from dashbench.kernels.dash.interface import ATTEND_ROWS, ATTEND_TMA, ATTEND_TMA_STAGES, ROUTE_ROWS
from dashbench.kernels.dash.route import chunk_lists, padded_group, route, tile_rows
from dashbench.kernels.dash.summarize import summarize
from dashbench.kernels.infllmv2 import infllmv2_select
from dashbench.kernels.nsa import fla_refusal, nsa_attention, nsa_compressed_cache, nsa_decode
from dashbench.kernels.reference import dash_attention_reference, infllmv2_reference
from dashbench.kernels.reference.infllmv2 import _attend_selected, compress_keys, infllmv2_selection
from dashbench.kernels.reference.nsa import NSAConfig, NSAParams, nsa_reference
from dashbench.sparsity import infllmv2_config_for, nsa_config_for
from dashbench.units import parse_size_list

HQ, D, C = 32, 128, 64


def peak_extra_mib(fn, out_bytes: int):
    """``(fn(), MiB)`` of peak memory beyond what was allocated before and the output's bytes."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    result = fn()
    torch.cuda.synchronize()
    return result, (torch.cuda.max_memory_allocated() - before - out_bytes) / 2**20


def plain_and_instrumented_mib(plain, instrumented, out_bytes: int):
    """``(instrumented(), {extra_mib, extra_mib_with_stats})``: the peak of the call users time
    and of the call that also returns the selection or stats (it may compute densities after
    the attention, while the output is still held)."""
    out, plain_mib = peak_extra_mib(plain, out_bytes)
    del out
    result, stats_mib = peak_extra_mib(instrumented, out_bytes)
    return result, dict(extra_mib=plain_mib, extra_mib_with_stats=stats_mib)


def dash_stages(q, k, v, w, scaling):
    """DashAttention's forward split as the interface runs it: selection (summaries, routing,
    lists) and the attention kernel (stage 3, which InfLLMv2 shares without the prior)."""
    G = q.shape[1] // k.shape[1]
    bm, gp = tile_rows(G, C, ATTEND_ROWS), padded_group(G)

    def select():
        s = summarize(k, w, C)
        tau, log_g, count, mask, tile_count = route(q, s, C, scaling, bm, route_bm=tile_rows(G, C, ROUTE_ROWS))
        return (s, tau, log_g, *chunk_lists(mask, tile_count), tile_count)

    s, tau, log_g, offsets, ids, tile_count = select()
    tma = ATTEND_TMA and tma_ready(k, v)
    akw = dict(chunk_size=C, scaling=scaling, sigma=1.0, estimate_diagonal=True, bm=bm, gp=gp, tma=tma,
               num_stages=ATTEND_TMA_STAGES if tma else 3)  # fmt: skip
    return dict(select_ms=bench(select),
                attend_ms=bench(lambda: attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, **akw)))


def infllmv2_stages(q, k, v, cfg):
    """InfLLMv2's forward split the same way: selection (stage 1 and top-k, then the lists)
    and the block-sparse attention."""
    bm = tiles_for(q.shape[1] // k.shape[1], cfg.block_size)

    def select():
        return selection_lists(infllmv2_select(q, k, cfg).blocks, bm, cfg.block_size)

    blocks = infllmv2_select(q, k, cfg).blocks
    lists = selection_lists(blocks, bm, cfg.block_size)
    return dict(select_ms=bench(select), lists_ms=bench(lambda: selection_lists(blocks, bm, cfg.block_size)),
                attend_ms=bench(lambda: block_sparse_attention(q, k, v, blocks, block_size=cfg.block_size,
                                                               lists=lists)))  # fmt: skip


def dense_prefill(q, k, v, fa3):
    out = {"cudnn_ms": bench(lambda: cudnn(q, k, v))}
    if fa3 is not None:
        out["fa3_ms"] = bench(fa3_step(fa3, q, k, v))
    return out


def prefill_rows(n, hkv, sparsity, q, k, v, fa3):
    """One row per method at this length and sparsity."""
    pick = sample_rows(n)[::4].to("cuda")
    out_bytes = q.numel() * q.element_size()
    rows = []

    w = torch.zeros(hkv, D, device="cuda", dtype=q.dtype)
    scaling = calibrate_scaling(q, k, w, 1 - sparsity, chunk_size=C)
    (out, stats), mem = plain_and_instrumented_mib(
        lambda: dash_attention(q, k, v, w, chunk_size=C, scaling=scaling),
        lambda: dash_attention(q, k, v, w, chunk_size=C, scaling=scaling, return_stats=True), out_bytes)
    ref = dash_attention_reference(q[:, :, pick], k, v, w, chunk_size=C, scaling=scaling, q_positions=pick)
    err = relative_error(out[:, :, pick], ref)
    rows.append(dict(method="dash", knob=f"scaling={scaling:.4g}", token_density=stats.mean_density,
                     compute_density=stats.compute_density, rel_err=err, rel_err_vs_reference=err,
                     rows_selecting_otherwise=0.0, **mem, **dash_stages(q, k, v, w, scaling),
                     ms=bench(lambda: dash_attention(q, k, v, w, chunk_size=C, scaling=scaling))))  # fmt: skip
    del out

    cfg = infllmv2_config_for(sparsity, n)
    (out, sel), mem = plain_and_instrumented_mib(
        lambda: infllmv2_attention(q, k, v, cfg),
        lambda: infllmv2_attention(q, k, v, cfg, return_selection=True), out_bytes)
    own = _attend_selected(q[:, :, pick].float(), k.float(), v.float(), sel.blocks[:, :, pick], pick, cfg.block_size)
    ref_sel = infllmv2_selection(q[:, :, pick], k, cfg, q_positions=pick)
    rows.append(dict(method="infllmv2", knob=f"topk={cfg.topk}", token_density=sel.mean_density,
                     compute_density=sel.compute_density, rel_err=relative_error(out[:, :, pick], own),
                     rel_err_vs_reference=relative_error(out[:, :, pick], infllmv2_reference(
                         q[:, :, pick], k, v, cfg, q_positions=pick)),
                     rows_selecting_otherwise=float((ref_sel.blocks != sel.blocks[:, :, pick]).any(-1).float().mean()),
                     **mem, **infllmv2_stages(q, k, v, cfg),
                     ms=bench(lambda: infllmv2_attention(q, k, v, cfg))))  # fmt: skip
    del out, sel

    cfg = nsa_config_for(sparsity, n, NSAConfig.paper())
    params = NSAParams.random(cfg, HQ, hkv, D, seed=0, device="cuda")
    (out, sel), mem = plain_and_instrumented_mib(
        lambda: nsa_attention(q, k, v, params, cfg),
        lambda: nsa_attention(q, k, v, params, cfg, return_selection=True), out_bytes)
    own = nsa_reference(q[:, :, pick], k, v, params, cfg, q_positions=pick, blocks=sel.blocks[:, :, pick])
    ref, ref_sel = nsa_reference(q[:, :, pick], k, v, params, cfg, q_positions=pick, return_selection=True)
    common = dict(knob=f"topk={cfg.topk} window={cfg.window}", token_density=sel.mean_density,
                  rows_selecting_otherwise=float((ref_sel.blocks != sel.blocks[:, :, pick]).any(-1).float().mean()))
    rows.append(dict(method="nsa-dash-kernels", **common, rel_err=relative_error(out[:, :, pick], own),
                     rel_err_vs_reference=relative_error(out[:, :, pick], ref), **mem,
                     ms=bench(lambda: nsa_attention(q, k, v, params, cfg))))  # fmt: skip
    refusal = fla_refusal(q, k)
    if refusal is None:
        fla, extra = peak_extra_mib(lambda: nsa_attention(q, k, v, params, cfg, selected_attention="fla"), out_bytes)
        rows.append(dict(method="nsa", **common, rel_err=relative_error(fla[:, :, pick], own),
                         rel_err_vs_reference=relative_error(fla[:, :, pick], ref), extra_mib=extra,
                         ms=bench(lambda: nsa_attention(q, k, v, params, cfg, selected_attention="fla"))))  # fmt: skip
        del fla
    else:
        rows.append(dict(method="nsa", refused=refusal))
    del out, sel
    return rows


def decode_rows(L, hkv, sparsity, q1, k, v, fa3):
    """One decode step at position ``L - 1`` per method; B = 1."""
    q = q1[:, :, -1:].contiguous()
    last = torch.tensor([L - 1], device="cuda")
    rows = []

    def timings(step):
        return dict(ms=bench(step), graph_ms=bench(step, graph=True))

    w = torch.zeros(hkv, D, device="cuda", dtype=q.dtype)
    scaling = calibrate_scaling(q1, k, w, 1 - sparsity, chunk_size=C, rows=last)
    cache = DashCache.from_prefill(k, v, w, chunk_size=C)
    out, stats = dash_decode(q, cache, scaling=scaling, return_stats=True)
    err = relative_error(out, dash_attention_reference(q, k, v, w, chunk_size=C, scaling=scaling))
    rows.append(dict(method="dash", knob=f"scaling={scaling:.4g}", token_density=stats.mean_density, rel_err=err,
                     rel_err_vs_reference=err, **timings(lambda: dash_decode(q, cache, scaling=scaling))))  # fmt: skip

    cfg = infllmv2_config_for(sparsity, L, over="last")
    ck = compress_keys(k.float(), cfg.kernel_size, cfg.kernel_stride)  # the cache's
    out = infllmv2_decode(q, k, v, cfg, compressed_keys=ck)
    mine = infllmv2_select(q, k, cfg, q_start=L - 1, compressed_keys=ck)
    own = _attend_selected(q.float(), k.float(), v.float(), mine.blocks, last, cfg.block_size)
    rows.append(dict(method="infllmv2", knob=f"topk={cfg.topk}", token_density=mine.mean_density,
                     rel_err=relative_error(out, own),
                     rel_err_vs_reference=relative_error(out, infllmv2_reference(q, k, v, cfg)),
                     rows_selecting_otherwise=float(not torch.equal(mine.blocks, infllmv2_selection(q, k, cfg).blocks)),
                     **timings(lambda: infllmv2_decode(q, k, v, cfg, compressed_keys=ck))))  # fmt: skip

    cfg = nsa_config_for(sparsity, L, NSAConfig.paper(), over="last")
    params = NSAParams.random(cfg, HQ, hkv, D, seed=0, device="cuda")
    cmp = nsa_compressed_cache(k, v, params, cfg)
    out = nsa_decode(q, k, v, params, cfg, compressed=cmp)
    ref, ref_sel = nsa_reference(q, k, v, params, cfg, return_selection=True)
    rows.append(dict(method="nsa-dash-kernels", knob=f"topk={cfg.topk} window={cfg.window}",
                     token_density=ref_sel.mean_density, rel_err_vs_reference=relative_error(out, ref),
                     **timings(lambda: nsa_decode(q, k, v, params, cfg, compressed=cmp))))  # fmt: skip
    rows.append(dict(method="nsa", refused="fla-core's NSA has no decode kernel; see nsa-dash-kernels"))
    return rows


def dense_decode(q1, k, v, fa3):
    q = q1[:, :, -1:].contiguous()
    out = {}
    for graph, tag in ((False, ""), (True, "_graph")):
        out[f"cudnn{tag}_ms"] = bench(lambda: cudnn(q, k, v, causal=False), graph)
        if fa3 is not None:
            out[f"fa3{tag}_ms"] = bench(fa3_step(fa3, q, k, v), graph)
    return out


def with_ratios(row, dense, base, dash_ms=None):
    """The row with the dense times and speedups over the dense baseline (and over DashAttention)."""
    row = dict(row, **dense, baseline=base)
    if "ms" in row:
        row["speedup"] = dense[f"{base}_ms"] / row["ms"]
        if "graph_ms" in row:
            row["speedup_graph"] = dense[f"{base}_graph_ms"] / row["graph_ms"]
        if dash_ms is not None:
            row["time_vs_dash"] = row["ms"] / dash_ms
    return row


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlen", default="32k,128k")
    ap.add_argument("--decode-len", default="128k")
    ap.add_argument("--hkv", default="8")
    ap.add_argument("--sparsity", default="0.75,0.9")
    ap.add_argument("--skip", default="", help="prefill and/or decode")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    fa3 = fa3_module()
    base = "fa3" if fa3 is not None else "cudnn"
    if fa3 is None:
        print("FlashAttention-3 is not installed: speedups are over cuDNN (named in every row)", flush=True)
    sparsities = [float(x) for x in args.sparsity.split(",")]
    rows = []
    phases = [("prefill", args.seqlen, prefill_rows, dense_prefill),
              ("decode", args.decode_len, decode_rows, dense_decode)]  # fmt: skip
    for mode, lengths, method_rows, dense_fn in phases:
        if mode in args.skip:
            continue
        for hkv in [int(x) for x in args.hkv.split(",")]:
            for n in parse_size_list(lengths):
                q, k, v = structured_qkv(1, HQ, hkv, n, D, chunk_size=C, dtype=torch.bfloat16, device="cuda", seed=1)
                dense = dense_fn(q, k, v, fa3)
                for sp in sparsities:
                    t0 = time.time()
                    found = method_rows(n, hkv, sp, q, k, v, fa3)
                    dash_ms = next(r["ms"] for r in found if r["method"] == "dash")
                    for r in found:
                        row = with_ratios(dict(mode=mode, b=1, hq=HQ, hkv=hkv, d=D, n=n, target_sparsity=sp, **r),
                                          dense, base, dash_ms)  # fmt: skip
                        rows.append(row)
                        print(json.dumps({k_: (round(v_, 4) if isinstance(v_, float) else v_)
                                          for k_, v_ in row.items()}), flush=True)  # fmt: skip
                    print(f"  [{mode} Hkv={hkv} N={n} sparsity={sp}: {time.time() - t0:.0f}s]", flush=True)
                    save_rows(args.out, "bench_baselines.json", rows)
                del q, k, v
                torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
