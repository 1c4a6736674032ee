"""Reproduce the dq kernel's illegal address with backward.BWD_Q_SUMMARY_MMA on the GPU (stop 17):
one small fp32 and one bf16 case, each with the switch off then on, synchronizing after each.

    compute-sanitizer --tool memcheck python scripts/debug_q_summary_mma.py
"""

import sys

import torch

from dashbench.kernels import dash_attention
from dashbench.kernels.dash import backward

for dtype, d, hq, hkv in ((torch.float32, 128, 6, 2), (torch.bfloat16, 128, 4, 2), (torch.float32, 64, 4, 2)):
    g = torch.Generator(device="cuda").manual_seed(0)
    q = torch.randn(1, hq, 130, d, device="cuda", generator=g).to(dtype)
    k = torch.randn(1, hkv, 130, d, device="cuda", generator=g).to(dtype)
    v = torch.randn(1, hkv, 130, d, device="cuda", generator=g).to(dtype)
    w = torch.randn(hkv, d, device="cuda", generator=g).to(dtype)
    for on, cols in ((False, 16), (True, 32), (True, 64), (True, 16)):  # 16 last: it crashed
        backward.BWD_Q_SUMMARY_MMA, backward.BWD_Q_SUMMARY_COLUMNS = on, cols
        args = [t.clone().requires_grad_() for t in (q, k, v, w)]
        out = dash_attention(*args, chunk_size=32, scaling=3.0)
        out.backward(torch.ones_like(out))
        torch.cuda.synchronize()
        print(dtype, d, hq, hkv, "on" if on else "off", cols, float(args[0].grad.float().norm()), flush=True)
sys.exit(0)
