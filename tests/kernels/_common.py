"""Shared by the DashAttention kernel tests: device choice, inputs, error measure."""

import os

import pytest
import torch

needs_triton = pytest.mark.skipif(
    not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1",
    reason="needs a GPU or TRITON_INTERPRET=1",
)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# fp32 inputs: exact in the CPU interpreter; on the GPU the attention products run in tf32.
FP32_TOL = 1e-5 if DEVICE == "cpu" else 3e-3


def make_inputs(B, hq, hkv, n, d, seed, dtype=torch.float32):
    """Seeded Gaussian q, k, v and a small random head_cls, on DEVICE."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, h, n, d, generator=g) for h in (hq, hkv, hkv))
    w = torch.randn(hkv, d, generator=g) / d**0.5
    return [t.to(DEVICE, dtype) for t in (q, k, v, w)]


def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()
