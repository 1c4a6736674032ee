"""Where the kernels' gradient error against the fp32 reference comes from, at one training
shape (the issue's 32k, 32/8 heads, structured 25% by default): the error of q, k, v and
head_cls under each of ``VARIANTS`` (forward settings of the router and the attention), dq's
error without its worst tokens, and those tokens with their routing. (Stop 15's version compared
the two routers and the summary-gradient paths.)

    PYTHONPATH=scripts python scripts/probe_grad_error.py --seqlen 32k --hkv 8
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from dashbench.harness.correctness import relative_error
from dashbench.harness.inputs import structured_qkv
from dashbench.kernels import calibrate_scaling, dash_attention
from benchtools import dq_error_split, under_settings  # scripts/benchtools.py
from dashbench.kernels.reference import dash_attention_reference
from dashbench.units import parse_size_list


# name: settings (benchtools' MODULE.NAME=VALUE) the forward and backward run under. Stop 15
# compared the routers and summary-gradient paths here; stop 26 the warm router tiles (on at
# 32k since stop 25), after the training step's 32k, Hkv 8 row measured dq 0.10 against 0.005.
VARIANTS = {
    "default": [],
    "cold_tiles": ["route.ROUTE_WARM_TILES=1"],  # one tile a program: every tile starts cold
    "no_merged_max": ["route.ROUTE_MERGED_MAX=False"],
    "triton_attend": ["interface.ATTEND_GLUON=False"],
    "no_stored_bias": ["interface.ATTEND_STORED_BIAS=False"],
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlen", default="32k")
    ap.add_argument("--hkv", type=int, default=8)
    ap.add_argument("--density", type=float, default=0.25)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    n, hkv, C = parse_size_list(args.seqlen)[0], args.hkv, 64
    q, k, v = structured_qkv(1, 32, hkv, n, 128, chunk_size=C, dtype=torch.bfloat16, device="cuda", seed=1)
    w = torch.zeros(hkv, 128, device="cuda", dtype=torch.bfloat16)
    scaling = calibrate_scaling(q, k, w, args.density, chunk_size=C)
    do = torch.randn(q.shape, generator=torch.Generator("cuda").manual_seed(3), device="cuda", dtype=q.dtype)
    ref_args = [t.float().clone().requires_grad_() for t in (q, k, v, w)]
    ref_out = dash_attention_reference(*ref_args, chunk_size=C, scaling=scaling)
    ref_out.backward(do.float())
    ref_out = ref_out.detach()
    report = dict(n=n, hkv=hkv, scaling=scaling, variants={})
    for name, settings in VARIANTS.items():
        a = [t.clone().requires_grad_() for t in (q, k, v, w)]
        out, stats = under_settings(lambda: dash_attention(*a, chunk_size=C, scaling=scaling, return_stats=True),
                                    settings)()  # fmt: skip
        under_settings(lambda: out.backward(do), settings)()
        row = {"settings": settings, "out": relative_error(out, ref_out)}
        row.update({f"d{x}": relative_error(t.grad, r.grad) for x, t, r in zip(("q", "k", "v", "head_cls"), a, ref_args)})
        # dq's error without the worst tokens, their share, and which tokens they are
        split = dq_error_split(a[0].grad, ref_args[0].grad)
        top = split.pop("worst")
        row.update(split)
        row["dq_worst_tokens"] = [
            dict(pos=int(p), err=float(ev.sqrt()), ref_norm=float(ref_args[0].grad[0, :, p].norm()),
                 chunks=[int(c) for c in stats.active_chunks[0, :, p].tolist()])
            for p, ev in zip(top.indices.tolist(), top.values)
        ]
        report["variants"][name] = row
        print(name, json.dumps({k_: v_ for k_, v_ in row.items() if k_ != "dq_worst_tokens"}), flush=True)
        print("   worst dq tokens:", row["dq_worst_tokens"][:4], flush=True)
        del a, out
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"probe_grad_error_{n}_{hkv}.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
