"""Where a DashAttention training step (forward + backward) spends its time: per-kernel GPU time
(torch profiler) on structured inputs at the 25% target, for the two ways of forming the chunk
summaries' gradient (atomics from the dq kernel, or inside the dk/dv kernel), with the gradients
of each compared with the first's.

    python scripts/profile_backward.py --out $OUT
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from dashbench.harness.inputs import structured_qkv
from dashbench.kernels import calibrate_scaling, dash_attention
from dashbench.kernels.dash import backward
from profiling import kernel_times  # scripts/profiling.py

# (B, Hq, Hkv, D, N): the shapes at 32k and 8k, and the Pareto model's attention (train at 8k)
SHAPES = ((1, 32, 8, 128, 32768), (1, 32, 2, 128, 32768), (1, 32, 8, 128, 8192), (1, 32, 2, 128, 8192),
          (4, 4, 1, 64, 8192))  # fmt: skip
# Tried and slower (h100-dash/bwd-summary/): K/V through descriptors, 8-warp dq, 4-warp dk/dv,
# the summary product on an fp32 copy of q (tf32x3), w's bf16 head alone, the one-pass dq
# (h100-dash/lean-router/).
# name: backward settings (the rest at their defaults). Stop 16 (results/reference/h100-dash/
# stop16/): the dq kernel's rows in the mma layout won (now the default); routing scores from the
# chunk's attention scores lost and were removed. Stop 17: the dk/dv kernel's two loops lost
# (stop17/e4b73a9/; removed); its routing dot on the tensor cores won with the atomics (stop17/f04ddc9/).
# The dq kernel's routing dot on the tensor cores (stop17/da88dfc/) was slower and was removed.
# Warps: stop 17's ncu found both kernels spilling at 255 registers; more warps share the
# accumulators (8-warp dq lost before the mma-layout rows: 65.1 vs 41.1 ms, train/).
VARIANTS = {
    "atomics": dict(SUMMARY_IN_KV=False),
    "in-kv": dict(SUMMARY_IN_KV=True),
    "in-kv+kvmma": dict(SUMMARY_IN_KV=True, BWD_KV_ROUTE_MMA=True),
    "atomics+q8warps": dict(SUMMARY_IN_KV=False, BWD_Q_WARPS=8),
    "in-kv+q8warps": dict(SUMMARY_IN_KV=True, BWD_Q_WARPS=8),
    "atomics+relaxed": dict(SUMMARY_IN_KV=False, BWD_RELAXED_ATOMICS=True),  # stop 18
    "atomics+relaxed+kvmma0": dict(SUMMARY_IN_KV=False, BWD_RELAXED_ATOMICS=True, BWD_KV_ROUTE_MMA=False),
    "kv4warps": dict(BWD_KV_WARPS=4),  # stop 27: retimed since the relaxed atomics and mma rows
    # Stop 27, removed (results/reference/h100-dash/stop27/89892df_b/): dq's attention share
    # formed in the dk/dv kernel (dS K added into an fp32 dq by TMA reduce; betas stored for a
    # dq kernel left with the prior's part): 32k, 25%, dk/dv 14.6 -> 34.7 ms, dq 16.7 -> 8.1 (Hkv
    # 2); 21.8 -> 49.4 and 29.1 -> 14.3 (Hkv 8); atomics instead of the TMA reduce slower still.
    # stop 27 (now the default): 32k, 25%, dq kernel 29.4 -> 18.8 ms (Hkv 8), 16.6 -> 11.3 (Hkv 2);
    # with 8 warps 38.8 / 22.5 (stop27/1c6ab12_e/)
    "deferred": dict(BWD_Q_DEFERRED_TERMS=True),
    "undeferred": dict(BWD_Q_DEFERRED_TERMS=False),
    "default": dict(),
    # Stop 28, removed (results/reference/h200-dash/stop28/8803d70_a/): the Triton dk/dv kernel in
    # the transposed order (S^T = K Q^T), 32k, 25%: 22.2 -> 26.9 ms (Hkv 8), 14.8 -> 17.9 (Hkv 2);
    # with descriptors or the routing dot on the tensor cores no better.
    # stop 28 (now the default): dk/dv by the Gluon kernel (producer warp, transposed order, the
    # stored biases), 22.29 -> 8.25 ms (Hkv 8), 14.87 -> 6.29 (Hkv 2) (stop28/bf8f375_c/)
    "gluonkv": dict(BWD_GLUON_KV=True),
    "tritonkv": dict(BWD_GLUON_KV=False),
    # stop 28 (2 slots now the default): dq by the Gluon kernel (2 or 3 ring slots), 32k, 25%:
    # 19.24 -> 10.52 / 15.01 ms (Hkv 8), 11.57 -> 5.94 / 8.70 (Hkv 2) (stop28/469a8a7_d/)
    "gluonq": dict(BWD_GLUON_Q=True),
    "gluonq3": dict(BWD_GLUON_Q=True, BWD_GLUON_Q_STAGES=3),
    "tritonq": dict(BWD_GLUON_Q=False),
    # stop 29, timing only (wrong gradients): what the Gluon dq kernel's second pass costs, and
    # its summary-gradient atomics within it
    "dq_no_atomics": dict(BWD_GLUON_Q_SECOND_PASS=1),
    "dq_no_second_pass": dict(BWD_GLUON_Q_SECOND_PASS=0),
    # stop 30: the summaries' gradient in the Gluon dk/dv kernel (per chunk, no atomics; the dq
    # kernel storing k_row, its second pass without the summary product) was correct and slower:
    # 32k, 25%, Hkv 8: dq 10.62 -> 8.71 ms but dk/dv 8.39 -> 15.11 (Hkv 2: 6.07 -> 5.00, 6.32 ->
    # 10.66); removed, commit 469189b has it (stop30/469189b_d/). The dk/dv kernel's registers:
    "kv_regs168": dict(BWD_GLUON_KV_MAXNREG=168),
}
SETTINGS = ("SUMMARY_IN_KV", "BWD_Q_ONE_PASS", "BWD_Q_ROUTE_MMA_LAYOUT", "BWD_KV_ROUTE_MMA", "BWD_Q_WARPS",
            "BWD_KV_WARPS", "BWD_RELAXED_ATOMICS", "BWD_Q_DEFERRED_TERMS", "BWD_GLUON_KV", "BWD_GLUON_Q",
            "BWD_GLUON_Q_STAGES", "BWD_GLUON_Q_SECOND_PASS", "BWD_GLUON_KV_MAXNREG")


def profile_shape(B, hq, hkv, d, n, C=64) -> list[dict]:
    q, k, v = structured_qkv(B, hq, hkv, n, d, chunk_size=C, dtype=torch.bfloat16, device="cuda", seed=1)
    w = torch.zeros(hkv, d, device="cuda", dtype=torch.bfloat16)
    scaling = calibrate_scaling(q, k, w, 0.25, chunk_size=C)
    args = [t.clone().requires_grad_() for t in (q, k, v, w)]
    do = torch.randn_like(q)

    def step():
        for t in args:
            t.grad = None
        dash_attention(*args, chunk_size=C, scaling=scaling).backward(do)

    rows, grads0 = [], None
    defaults = {name: getattr(backward, name) for name in SETTINGS}
    for variant, settings in VARIANTS.items():
        for name, value in {**defaults, **settings}.items():
            setattr(backward, name, value)
        step()
        grads = [t.grad.float() for t in args]
        grads0 = grads0 or grads
        diff = {name: float((a - b).norm() / b.norm()) for name, a, b in zip("q k v head_cls".split(), grads, grads0)}
        row = dict(B=B, hq=hq, hkv=hkv, d=d, n=n, scaling=scaling, variant=variant,
                   grad_rel_diff_vs_atomics=diff, kernels_ms=kernel_times(step, reps=5))  # fmt: skip
        row["total_ms"] = sum(row["kernels_ms"].values())
        rows.append(row)
        top = {k: round(v, 2) for k, v in list(row["kernels_ms"].items())[:4]}
        print(json.dumps(dict(shape=f"B{B} {hq}/{hkv} d{d} n{n}", variant=variant, total=round(row["total_ms"], 2),
                              **top, diff={k: f"{v:.1e}" for k, v in diff.items()})), flush=True)  # fmt: skip
    for name, value in defaults.items():
        setattr(backward, name, value)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    ap.add_argument("--shapes", type=int, default=len(SHAPES), help="the first this many of SHAPES")
    ap.add_argument("--skip", type=int, default=0, help="leave out this many of SHAPES first")
    args = ap.parse_args()
    for name in list(VARIANTS):
        if name not in args.variants.split(","):
            del VARIANTS[name]
    rows = []
    for shape in SHAPES[args.skip : args.shapes]:
        rows += profile_shape(*shape)
        torch.cuda.empty_cache()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "profile_backward.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
