"""NSA on the GPU: the kernel paths checked against the PyTorch reference, then timed against
FlashAttention-3 / cuDNN in the same process (``do_bench`` medians, L2 flushed).

Paths: ``nsa-dash-kernels`` (every stage on dashbench's kernels) and, where fla-core allows
(GQA ratio a power of two >= 16), ``nsa`` (fla-core's selected-attention kernel fed the same
selection). Configurations: the paper's (top-16, window 512) and the DashAttention authors'
(top-64, 1 + 16 local forced, no window). Random parameters of the right shapes.

    python scripts/bench_nsa.py --out $OUT
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
from dashbench.kernels.nsa import fla_refusal, nsa_attention
from dashbench.kernels.reference.nsa import NSAConfig, NSAParams, nsa_reference
from dashbench.units import parse_size_list

CONFIGS = {"paper": NSAConfig.paper(), "dash-paper": NSAConfig.dash_paper()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlen", default="32k,128k")
    ap.add_argument("--hkv", default="2,8")
    ap.add_argument("--configs", default="paper,dash-paper")
    ap.add_argument("--train-seqlen", default="32k")
    ap.add_argument("--decode-len", default="128k")
    ap.add_argument("--batch", default="1,8")
    ap.add_argument("--skip", default="", help="fwd, train and/or decode")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    fa3 = fa3_module()
    rows = []
    for hkv in [int(x) for x in args.hkv.split(",")] if "fwd" not in args.skip else []:
        for n in parse_size_list(args.seqlen):
            q, k, v = structured_qkv(1, 32, hkv, n, 128, dtype=torch.bfloat16, device="cuda", seed=1)
            dense = {"cudnn": bench(lambda: cudnn(q, k, v))}
            if fa3 is not None:
                dense["fa3"] = bench(fa3_step(fa3, q, k, v))
            base = "fa3" if fa3 is not None else "cudnn"
            fla_ok = fla_refusal(q, k) is None
            for name in args.configs.split(","):
                t0 = time.time()
                cfg = CONFIGS[name]
                params = NSAParams.random(cfg, 32, hkv, 128, seed=0, device="cuda")
                out, sel = nsa_attention(q, k, v, params, cfg, return_selection=True)
                pick = sample_rows(n)[::4].to("cuda")
                ref, ref_sel = nsa_reference(q[:, :, pick], k, v, params, cfg, q_positions=pick, return_selection=True)
                own = nsa_reference(q[:, :, pick], k, v, params, cfg, q_positions=pick, blocks=sel.blocks[:, :, pick])
                row = dict(mode="fwd", hkv=hkv, n=n, config=name, topk=cfg.topk, window=cfg.window,
                           token_density=sel.mean_density,
                           rows_selecting_otherwise=float((ref_sel.blocks != sel.blocks[:, :, pick]).any(-1).float().mean()),
                           rel_err=relative_error(out[:, :, pick], own), rel_err_vs_reference=relative_error(out[:, :, pick], ref),
                           nsa_dash_kernels_ms=bench(lambda: nsa_attention(q, k, v, params, cfg)),
                           **{f"{d}_ms": t for d, t in dense.items()}, baseline=base)  # fmt: skip
                row["speedup_dash_kernels"] = dense[base] / row["nsa_dash_kernels_ms"]
                if fla_ok:
                    out_fla = nsa_attention(q, k, v, params, cfg, selected_attention="fla")
                    row["fla_vs_dash_kernels_rel_diff"] = relative_error(out_fla, out)
                    row["nsa_fla_ms"] = bench(lambda: nsa_attention(q, k, v, params, cfg, selected_attention="fla"))
                    row["speedup_fla"] = dense[base] / row["nsa_fla_ms"]
                rows.append(row)
                save(args.out, rows)
                print(json.dumps({k_: (round(v_, 4) if isinstance(v_, float) else v_) for k_, v_ in row.items()})
                      + f" [{time.time() - t0:.0f}s]", flush=True)  # fmt: skip
            del q, k, v
            torch.cuda.empty_cache()
    for hkv in [int(x) for x in args.hkv.split(",")] if "train" not in args.skip else []:
        for n in parse_size_list(args.train_seqlen):
            q, k, v = structured_qkv(1, 32, hkv, n, 128, dtype=torch.bfloat16, device="cuda", seed=2)
            a = [t.clone().requires_grad_() for t in (q, k, v)]
            do = torch.randn_like(q)
            t_dense = bench(lambda: cudnn(*a).backward(do), grads=a)
            for name in args.configs.split(","):
                cfg = CONFIGS[name]
                params = NSAParams.random(cfg, 32, hkv, 128, seed=0, device="cuda")
                row = dict(mode="fwd+bwd", hkv=hkv, n=n, config=name, cudnn_ms=t_dense,
                           nsa_dash_kernels_ms=bench(lambda: nsa_attention(*a, params, cfg).backward(do), grads=a))
                if fla_refusal(q, k) is None:
                    row["nsa_fla_ms"] = bench(
                        lambda: nsa_attention(*a, params, cfg, selected_attention="fla").backward(do), grads=a)
                rows.append(row)
                save(args.out, rows)
                print(json.dumps(row), flush=True)
    if "decode" not in args.skip:
        rows += decode_rows(args, fa3)
    save(args.out, rows)
    return 0


def decode_rows(args, fa3):
    """One decode step per sequence at the cache's end: checked against the reference's last
    row, timed plain and as a CUDA graph against FA3's KV-cache kernel."""
    from dashbench.kernels.nsa import nsa_compressed_cache, nsa_decode

    rows = []
    for hkv in [int(x) for x in args.hkv.split(",")]:
        for L in parse_size_list(args.decode_len):
            q1, k1, v1 = structured_qkv(1, 32, hkv, L, 128, dtype=torch.bfloat16, device="cuda", seed=4)
            for B in [int(x) for x in args.batch.split(",")]:
                k, v = k1.expand(B, -1, -1, -1).contiguous(), v1.expand(B, -1, -1, -1).contiguous()
                q = q1[:, :, -1:].expand(B, -1, -1, -1).contiguous()
                for name in args.configs.split(","):
                    cfg = CONFIGS[name]
                    params = NSAParams.random(cfg, 32, hkv, 128, seed=0, device="cuda")
                    cache = nsa_compressed_cache(k, v, params, cfg)
                    step = lambda: nsa_decode(q, k, v, params, cfg, compressed=cache)  # noqa: E731
                    row = dict(mode="decode", hkv=hkv, L=L, B=B, config=name,
                               rel_err=relative_error(step(), nsa_reference(q, k, v, params, cfg)),
                               nsa_dash_kernels_ms=bench(step),
                               nsa_dash_kernels_graph_ms=bench(step, graph=True))  # fmt: skip
                    if fa3 is not None:
                        row["fa3_ms"] = bench(fa3_step(fa3, q, k, v))
                        row["fa3_graph_ms"] = bench(fa3_step(fa3, q, k, v), graph=True)
                        row["speedup_graph"] = row["fa3_graph_ms"] / row["nsa_dash_kernels_graph_ms"]
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                del k, v
                torch.cuda.empty_cache()
    return rows


def save(out: Path | None, rows: list) -> None:
    save_rows(out, "bench_nsa.json", rows)


if __name__ == "__main__":
    sys.exit(main())
