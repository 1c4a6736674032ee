"""Gradient error of the fp32 kernels on the GPU (tf32 products) for the sharpest prior the
tests use (G=3 with padded rows, sigma=0.05), over several seeds: the measurement behind the
GPU tolerance of ``test_gradients_match_the_reference_in_float64``.

    python scripts/gpu_grad_probe.py
"""

import sys

import torch

sys.path.insert(0, "tests/kernels/dash")
from _common import make_inputs, rel  # noqa: E402

from dashbench.kernels import dash_attention  # noqa: E402
from dashbench.kernels.reference import dash_attention_reference  # noqa: E402

for seed in range(6):
    q, k, v, w = make_inputs(1, 3, 1, 75, 64, seed=80 + seed)
    args = [t.clone().requires_grad_() for t in (q, k, v, w)]
    do = torch.randn_like(q)
    kw = dict(chunk_size=32, scaling=6.0, estimate_diagonal=True, sigma=0.05)
    out = dash_attention(*args, **kw)
    out.backward(do)
    ref_args = [t.double().clone().requires_grad_() for t in (q, k, v, w)]
    ref = dash_attention_reference(*ref_args, compute_dtype=torch.float64, **kw)
    ref.backward(do.double())
    errs = " ".join(f"{n}={rel(a.grad, b.grad):.2e}" for n, a, b in zip("q k v w".split(), args, ref_args))
    print(seed, "out", f"{rel(out, ref):.2e}", errs)
