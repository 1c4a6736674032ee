"""Registers, spills and shared memory of the kernels a DashAttention prefill, its backward, a
decode step and block-sparse attention actually compiled on this GPU (Triton's own launch
specializations; compile_check.py's ahead-of-time cubins may differ).

    python scripts/kernel_resources.py --out $OUT
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import triton

from dashbench.harness.inputs import structured_qkv
from dashbench.kernels import DashCache, dash_attention, dash_decode
from dashbench.kernels.dash import attend, backward, decode_kernels, prior, route, summarize
from dashbench.kernels.dash.block_sparse import block_sparse_attention


def compiled_kernels():
    """(name, CompiledKernel) of every jitted function in the dash modules that was compiled."""
    for module in (summarize, route, prior, attend, backward, decode_kernels):
        for name, fn in vars(module).items():
            if not isinstance(fn, triton.runtime.jit.JITFunction):
                continue
            for caches in getattr(fn, "device_caches", {}).values():
                for kernel in caches[0].values():
                    yield f"{module.__name__.rsplit('.', 1)[-1]}.{name}", kernel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    for hkv in (8, 2):
        q, k, v = structured_qkv(1, 32, hkv, 8192, 128, chunk_size=64, dtype=torch.bfloat16, device="cuda", seed=1)
        w = torch.zeros(hkv, 128, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        q, k, v = (t.requires_grad_() for t in (q, k, v))
        out = dash_attention(q, k, v, w, chunk_size=64, scaling=4.0)
        out.backward(torch.randn_like(out))
        cache = DashCache.from_prefill(k.detach(), v.detach(), w.detach(), chunk_size=64)
        dash_decode(q[:, :, -1:].detach(), cache, scaling=4.0)
        ids = torch.arange(8, device="cuda")
        own = torch.arange(8192, device="cuda")[:, None] // 64
        blocks = torch.where(ids < own, ids, -1).expand(1, hkv, 8192, 8).contiguous()  # the first 8, causal
        block_sparse_attention(q.detach(), k.detach(), v.detach(), blocks, block_size=64)
    torch.cuda.synchronize()
    rows = []
    for name, kernel in compiled_kernels():
        kernel._init_handles()
        const = {k: v for k, v in getattr(kernel.src, "constants", {}).items() if isinstance(v, (int, bool, str))}
        rows.append(dict(kernel=name, regs=kernel.n_regs, spills=kernel.n_spills, shared=kernel.metadata.shared,
                         num_warps=kernel.metadata.num_warps, num_stages=kernel.metadata.num_stages,
                         constants={str(k): v for k, v in const.items()}))
        print(json.dumps(rows[-1]), flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "kernel_resources.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
