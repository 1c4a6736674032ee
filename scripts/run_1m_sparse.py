"""InfLLMv2 and NSA at a million tokens: prefill and one decode step run without a crash (64-bit
indexing), are checked on sampled rows against the references, and their peak memory is
reported. Not a benchmark: one run each, timed by a pair of CUDA events after an 8k warm-up.

    python scripts/run_1m_sparse.py --seqlen 1m --out $OUT

i.i.d. Gaussian inputs drawn on the GPU (seeded), as scripts/run_1m.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from benchtools import save_rows, timed  # scripts/benchtools.py

from dashbench.harness.correctness import relative_error
from dashbench.kernels import InfLLMv2Config, infllmv2_attention, infllmv2_decode
from dashbench.kernels.dash.block_sparse import block_sparse_attention, selection_lists, tiles_for
from dashbench.kernels.infllmv2 import infllmv2_select
from dashbench.kernels.nsa import nsa_attention, nsa_compressed_cache, nsa_decode
from dashbench.kernels.reference import infllmv2_reference
from dashbench.kernels.reference.infllmv2 import compress_keys
from dashbench.kernels.reference.nsa import NSAConfig, NSAParams, nsa_reference
from dashbench.units import parse_size_list


def methods(hq, hkv, d):
    """(name, prefill(q, k, v), decode_step(k, v) -> step(q1) (the cache's compressed keys
    made once, as a decode loop keeps them), reference(q_rows, k, v, positions),
    stages(q, k, v): {stage: ms} of single runs)"""
    iv2 = InfLLMv2Config()
    yield ("infllmv2", lambda q, k, v: infllmv2_attention(q, k, v, iv2, return_selection=True),
           lambda k, v: (lambda q1, ck=compress_keys(k.float(), iv2.kernel_size, iv2.kernel_stride):
                         infllmv2_decode(q1, k, v, iv2, compressed_keys=ck)),
           lambda q, k, v, pos: infllmv2_reference(q, k, v, iv2, q_positions=pos),
           lambda q, k, v: infllmv2_stages(q, k, v, iv2))  # fmt: skip
    cfg = NSAConfig.dash_paper()
    params = NSAParams.random(cfg, hq, hkv, d, seed=0, device="cuda")
    yield ("nsa-dash-kernels", lambda q, k, v: nsa_attention(q, k, v, params, cfg, return_selection=True),
           lambda k, v: (lambda q1, cmp=nsa_compressed_cache(k, v, params, cfg):
                         nsa_decode(q1, k, v, params, cfg, compressed=cmp)),
           lambda q, k, v, pos: nsa_reference(q, k, v, params, cfg, q_positions=pos),
           lambda q, k, v: {})  # fmt: skip


def infllmv2_stages(q, k, v, cfg):
    """Selection (stage 1 and top-k), lists and attention, one run each."""
    bm = tiles_for(q.shape[1] // k.shape[1], cfg.block_size)
    sel, select_ms = timed(lambda: infllmv2_select(q, k, cfg))
    lists, lists_ms = timed(lambda: selection_lists(sel.blocks, bm, cfg.block_size))
    _, attend_ms = timed(lambda: block_sparse_attention(q, k, v, sel.blocks, block_size=cfg.block_size, lists=lists))
    return dict(select_ms=select_ms, lists_ms=lists_ms, attend_ms=attend_ms)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlen", default="1m")
    ap.add_argument("--hq", type=int, default=32)
    ap.add_argument("--hkv", type=int, default=8)
    ap.add_argument("--methods", default="infllmv2,nsa-dash-kernels")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    D, hq, hkv = 128, args.hq, args.hkv
    rows_out = []
    for n in parse_size_list(args.seqlen):
        g = torch.Generator("cuda").manual_seed(n)
        q, k, v = (torch.randn(1, h, n, D, generator=g, device="cuda", dtype=torch.bfloat16) for h in (hq, hkv, hkv))
        io_bytes = (2 * q.numel() + 2 * k.numel()) * 2
        for name, prefill, decode, reference, stages in methods(hq, hkv, D):
            if name not in args.methods.split(","):
                continue
            prefill(q[:, :, :8192], k[:, :, :8192], v[:, :, :8192])  # compile
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            (out, sel), ms = timed(lambda: prefill(q, k, v))
            peak_extra = torch.cuda.max_memory_allocated() - before - out.numel() * 2
            rows = torch.cat([torch.arange(8), torch.randperm(n - 16, generator=torch.Generator().manual_seed(0))[:16] + 8,
                              torch.arange(n - 8, n)]).sort().values.cuda()  # fmt: skip
            err = relative_error(out[:, :, rows], reference(q[:, :, rows], k, v, rows))
            last = out[:, :, -1:].clone()
            density = sel.mean_density
            del out, sel
            torch.cuda.empty_cache()
            stage_ms = stages(q, k, v)
            torch.cuda.empty_cache()
            step = decode(k, v)
            step(q[:, :, -1:])  # compile
            dec, dec_ms = timed(lambda: step(q[:, :, -1:]))
            row = dict(method=name, n=n, hq=hq, hkv=hkv, d=D, dtype="bf16", inputs="random (GPU generator)",
                       token_density=density, prefill_ms=ms, rel_err_sampled_rows=err, sampled_rows=len(rows),
                       peak_extra_gib=peak_extra / 2**30, peak_extra_vs_qkvo=peak_extra / io_bytes,
                       **stage_ms, decode_ms=dec_ms, decode_vs_prefill_last_row=relative_error(dec, last),
                       device=torch.cuda.get_device_name())  # fmt: skip
            rows_out.append(row)
            print(json.dumps(row), flush=True)
            save_rows(args.out, "run_1m_sparse.json", rows_out)  # after each: a run cut short keeps its rows
        del q, k, v
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
