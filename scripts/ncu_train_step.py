"""One DashAttention training step (forward and backward) for ``ncu``: structured inputs,
scaling calibrated to the target token density, bf16, 32 query heads, head dim 128, chunk 64.

    ncu --kernel-name regex:"_bwd_kv|_bwd_q|_route_lean" --launch-count 3 \
        python scripts/ncu_train_step.py --seqlen 32k --hkv 8
"""

from __future__ import annotations

import torch

from dashbench.kernels import dash_attention
from ncu_attend import C, calibrated_case  # scripts/ncu_attend.py


def main() -> None:
    q, k, v, w, scaling = calibrated_case()
    args = [t.clone().requires_grad_() for t in (q, k, v, w)]
    out = dash_attention(*args, chunk_size=C, scaling=scaling)
    out.backward(torch.randn_like(out))
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
