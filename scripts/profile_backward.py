"""Where a DashAttention training step (forward + backward) spends its time: per-kernel GPU time
(torch profiler) at 32k, structured inputs at the 25% target, next to cuDNN's step.

    python scripts/profile_backward.py --out $OUT
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from dashbench.harness.inputs import structured_qkv
from dashbench.kernels import calibrate_scaling, dash_attention
from dashbench.kernels.dash import backward, interface
from profiling import kernel_times  # scripts/profiling.py


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = []
    for hkv in (8, 2):
        n, C = 32768, 64
        q, k, v = structured_qkv(1, 32, hkv, n, 128, chunk_size=C, dtype=torch.bfloat16, device="cuda", seed=1)
        w = torch.zeros(hkv, 128, device="cuda", dtype=torch.bfloat16)
        scaling = calibrate_scaling(q, k, w, 0.25, chunk_size=C)
        args_ = [t.clone().requires_grad_() for t in (q, k, v, w)]
        do = torch.randn_like(q)

        def step():
            for t in args_:
                t.grad = None
            dash_attention(*args_, chunk_size=C, scaling=scaling).backward(do)

        # atomics: the summary gradient by atomics from the dq kernel (before), else in the dk/dv kernel
        grads0 = None
        # (K/V through descriptors, "+tma", and 8-warp dq were slower at c367c09: h100-dash/bwd-summary/)
        for variant in ("atomics", "in-kv", "in-kv-head-only"):
            interface.BACKWARD_TMA = variant.endswith("tma")
            backward.SUMMARY_IN_KV = variant.startswith("in-kv")
            backward.BWD_Q_WARPS = 8 if variant.endswith("q8warps") else 4
            backward.BWD_KV_WARPS = 4 if variant.endswith("kv4warps") else 8
            backward.SUMMARY_TAIL = not variant.endswith("head-only")
            step()
            grads = [t.grad.float() for t in args_]
            grads0 = grads0 or grads
            diff = {name: float((a - b).norm() / b.norm()) for name, a, b in zip("q k v head_cls".split(), grads, grads0)}
            row = dict(hkv=hkv, n=n, scaling=scaling, variant=variant, grad_rel_diff_vs_atomics=diff,
                       kernels_ms=kernel_times(step, reps=5))  # fmt: skip
            row["total_ms"] = sum(row["kernels_ms"].values())
            rows.append(row)
            top = {k: round(v, 2) for k, v in list(row["kernels_ms"].items())[:4]}
            print(json.dumps(dict(hkv=hkv, variant=variant, total=round(row["total_ms"], 2), **top,
                                  diff={k: f"{v:.1e}" for k, v in diff.items()})), flush=True)  # fmt: skip
        interface.BACKWARD_TMA = False
        backward.SUMMARY_IN_KV, backward.BWD_Q_WARPS, backward.BWD_KV_WARPS, backward.SUMMARY_TAIL = True, 4, 8, True
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "profile_backward.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
