"""DashAttention training step (fwd+bwd) and decode step vs dense, on the GPU: checked, then timed.

fwd+bwd: at each length, ``scaling`` is calibrated to the target token density on structured
inputs; the gradients of q, k, v and head_cls are compared with autograd through the fp32
reference; then ``dash_attention(...).backward(do)`` and cuDNN's fused attention forward+backward
(FA3's PyPI wheel has no backward) are timed with ``do_bench``.

decode: a cache of length L (structured inputs, batch B as copies of one sequence) is routed at
the target density (calibrated on the decoded row itself); one step is checked against the
reference's row ``L - 1`` and timed against FA3's ``flash_attn_with_kvcache`` and cuDNN SDPA:
plain (``*_ms``: L2 flushed, host launches in the time), replayed in a CUDA graph (``*_graph_ms``:
warm L2, which a sparse step's reads may fit), and replayed in a graph that rotates over copies
of the cache (``*_cold_ms``: cold reads, the headline ``speedup_cold``).

    python scripts/bench_dash_bwd_decode.py --out results/reference/h100-dash
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

import torch
from benchtools import (  # scripts/benchtools.py
    bench,
    cached_kv,
    cold_decode_copies,
    cudnn,
    decode_batch,
    decode_case,
    dq_error_split,
    fa3_module,
    fa3_step,
    graph_ms_rotating,
)

from dashbench.harness.correctness import relative_error
from dashbench.harness.inputs import structured_qkv
from dashbench.kernels import calibrate_scaling, dash_attention, dash_decode
from dashbench.kernels.dash import interface
from dashbench.kernels.reference import dash_attention_reference
from dashbench.units import parse_size_list


def train_rows(seqlens, hkvs, density, C):
    rows = []
    for hkv in hkvs:
        for n in seqlens:
            q, k, v = structured_qkv(1, 32, hkv, n, 128, chunk_size=C, dtype=torch.bfloat16, device="cuda", seed=1)
            w = torch.zeros(hkv, 128, device="cuda", dtype=torch.bfloat16)
            scaling = calibrate_scaling(q, k, w, density, chunk_size=C)
            args = [t.clone().requires_grad_() for t in (q, k, v, w)]
            do = torch.randn(q.shape, generator=torch.Generator("cuda").manual_seed(3), device="cuda",
                             dtype=q.dtype)  # fmt: skip
            out, stats = dash_attention(*args, chunk_size=C, scaling=scaling, return_stats=True)
            out.backward(do)
            ref_args = [t.float().clone().requires_grad_() for t in (q, k, v, w)]
            dash_attention_reference(*ref_args, chunk_size=C, scaling=scaling).backward(do.float())
            errs = {f"rel_err_d{name}": relative_error(a.grad, r.grad)
                    for name, a, r in zip(("q", "k", "v", "head_cls"), args, ref_args)}
            errs.update({k_: v_ for k_, v_ in dq_error_split(args[0].grad, ref_args[0].grad).items() if k_ != "worst"})
            # Yardstick (FlashAttention's): the same reference computed in bf16, against fp32.
            low_args = [t.clone().requires_grad_() for t in (q, k, v, w)]
            dash_attention_reference(*low_args, chunk_size=C, scaling=scaling,
                                     compute_dtype=torch.bfloat16).backward(do)  # fmt: skip
            errs.update({f"ref_bf16_err_d{name}": relative_error(a.grad, r.grad)
                         for name, a, r in zip(("q", "k", "v", "head_cls"), low_args, ref_args)})
            del ref_args, low_args

            def step():
                dash_attention(*args, chunk_size=C, scaling=scaling).backward(do)

            t_dash = bench(step, grads=args)
            # The TMA variant (K/V through tensor descriptors): checked against the default
            # kernels' gradients, then timed.
            ref_grads = [a.grad.clone() for a in args]
            interface.BACKWARD_TMA = True
            for a in args:
                a.grad = None
            dash_attention(*args, chunk_size=C, scaling=scaling).backward(do)
            tma_diff = max(relative_error(a.grad, r) for a, r in zip(args, ref_grads))
            t_dash_tma = bench(step, grads=args)
            interface.BACKWARD_TMA = False
            del ref_grads
            dense_args = [t.clone().requires_grad_() for t in (q, k, v)]

            def dense_step():
                cudnn(*dense_args, causal=True).backward(do)

            t_dense = bench(dense_step, grads=dense_args)
            row = dict(mode="fwd+bwd", hkv=hkv, n=n, target_density=density, scaling=scaling,
                       token_density=stats.mean_density, pair_density=stats.pair_density,
                       compute_density=stats.compute_density, dash_ms=t_dash, cudnn_ms=t_dense,
                       dash_tma_ms=t_dash_tma, tma_max_rel_diff=tma_diff,
                       speedup=t_dense / t_dash, **errs)
            rows.append(row)
            print(json.dumps(row), flush=True)
            del q, k, v, args, dense_args
            torch.cuda.empty_cache()
    return rows


def decode_rows(lengths, hkvs, batches, density, C):
    rows = []
    fa3 = fa3_module()
    for hkv in hkvs:
        for L in lengths:
            q1, k1, v1, w, scaling = decode_case(hkv, L, density, C)
            for B in batches:
                q, k, v, cache = decode_batch(q1, k1, v1, w, B, C)
                out, stats = dash_decode(q, cache, scaling=scaling, return_stats=True)
                ref = dash_attention_reference(q, k, v, w, chunk_size=C, scaling=scaling)
                err = relative_error(out, ref)
                row = dict(mode="decode", hkv=hkv, L=L, B=B, target_density=density, scaling=scaling,
                           token_density=stats.mean_density, rel_err=err)
                del ref, out
                for graph in (False, True):  # plain: L2 flushed, host launches; graph: warm L2
                    tag = "_graph" if graph else ""
                    row[f"dash{tag}_ms"] = bench(lambda: dash_decode(q, cache, scaling=scaling), graph)
                    row[f"cudnn{tag}_ms"] = bench(lambda: cudnn(q, k, v, causal=False), graph)
                    if fa3 is not None:
                        row[f"fa3{tag}_ms"] = bench(fa3_step(fa3, q, k, v), graph)
                # graph replays rotating over cache copies: no launch gaps and cold reads
                qs, caches, row["l2_multiple"] = cold_decode_copies(q, cache, stats.mean_density)
                row["copies"] = len(caches)
                row["dash_cold_ms"] = graph_ms_rotating(
                    [lambda q=q_i, c=c: dash_decode(q, c, scaling=scaling) for q_i, c in zip(qs, caches)])
                row["cudnn_cold_ms"] = graph_ms_rotating(
                    [lambda q=q_i, c=c: cudnn(q, *cached_kv(c), causal=False) for q_i, c in zip(qs, caches)])
                if fa3 is not None:
                    row["fa3_cold_ms"] = graph_ms_rotating([fa3_step(fa3, q_i, *cached_kv(c)) for q_i, c in zip(qs, caches)])
                base = "fa3" if fa3 is not None else "cudnn"
                row["speedup"] = row[f"{base}_ms"] / row["dash_ms"]
                row["speedup_graph"] = row[f"{base}_graph_ms"] / row["dash_graph_ms"]
                row["speedup_cold"] = row[f"{base}_cold_ms"] / row["dash_cold_ms"]
                # the baseline is the fastest dense provider: at decode cuDNN can beat FA3
                fastest = min((b for b in ("fa3", "cudnn") if f"{b}_cold_ms" in row), key=lambda b: row[f"{b}_cold_ms"])
                row["fastest_dense_cold"] = fastest
                row["speedup_vs_fastest_cold"] = row[f"{fastest}_cold_ms"] / row["dash_cold_ms"]
                row["baseline"] = base
                rows.append(row)
                print(json.dumps(row), flush=True)
                del k, v, cache, caches, qs
                torch.cuda.empty_cache()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-seqlen", default="8k,32k")
    ap.add_argument("--decode-len", default="32k,128k")
    ap.add_argument("--hkv", default="8,2")
    ap.add_argument("--batch", default="1,8")
    ap.add_argument("--train-density", type=float, default=0.25)
    ap.add_argument("--decode-density", type=float, default=0.10)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--skip", default="", help="train and/or decode")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--backward-setting", action="append", default=[], metavar="NAME=VALUE",
                    help="set dashbench.kernels.dash.backward.NAME (a Python literal) before timing")
    ap.add_argument("--decode-setting", action="append", default=[], metavar="NAME=VALUE",
                    help="set dashbench.kernels.dash.decode_kernels.NAME (a Python literal) before timing")
    args = ap.parse_args()
    from dashbench.kernels.dash import backward, decode_kernels

    settings = {}
    for module, items in ((backward, args.backward_setting), (decode_kernels, args.decode_setting)):
        for item in items:
            name, value = item.split("=", 1)
            if not hasattr(module, name):
                raise SystemExit(f"{module.__name__} has no setting {name}")
            settings[name] = ast.literal_eval(value)
            setattr(module, name, settings[name])
    hkvs = [int(h) for h in args.hkv.split(",")]
    t0 = time.time()
    rows = []
    if "train" not in args.skip:
        rows += train_rows(parse_size_list(args.train_seqlen), hkvs, args.train_density, args.chunk)
    if "decode" not in args.skip:
        batches = [int(b) for b in args.batch.split(",")]
        rows += decode_rows(parse_size_list(args.decode_len), hkvs, batches, args.decode_density, args.chunk)
    print(f"done in {time.time() - t0:.0f}s")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        meta = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                "command": "python " + " ".join(sys.argv), "settings": settings, "rows": rows}
        (args.out / "bench_dash_bwd_decode.json").write_text(json.dumps(meta, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
