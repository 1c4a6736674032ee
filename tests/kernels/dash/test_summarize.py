"""Stage 1's kernels (``summarize.py``): the summaries, and their backward fused with the
attention's dk (added) and dv (cast), against the reference's ``chunk_summaries`` in float64."""

import pytest
import torch
from _common import DEVICE, needs_triton

from dashbench.kernels.reference.dash import chunk_summaries

pytestmark = needs_triton


def _case(B, H, n, d, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    k = torch.randn(B, H, n, d, generator=g).to(dtype)
    w = (torch.randn(H, d, generator=g) / d**0.25).to(dtype)  # pooling weights far from uniform
    return k, w, g


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("n,chunk,d", [(1, 64, 64), (63, 32, 128), (65, 64, 64), (130, 128, 128), (200, 64, 64)])
def test_summaries_match_the_reference(n, chunk, d, dtype):
    from dashbench.kernels.dash.summarize import summarize

    k, w, _ = _case(2, 3, n, d, n, dtype)
    got = summarize(k.to(DEVICE), w.to(DEVICE), chunk).cpu()
    want = chunk_summaries(k.double(), w.double(), chunk)
    assert got.dtype == torch.float32 and got.shape == want.shape
    assert torch.allclose(got.double(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("n,chunk,d", [(1, 64, 64), (63, 32, 128), (65, 64, 64), (130, 128, 128), (200, 64, 64)])
def test_backward_adds_the_summaries_gradient_to_dk_and_casts_dv(n, chunk, d, dtype):
    """dk = dk_attention + d(sum S * dS)/dk and d head_cls = d(sum S * dS)/d head_cls by float64
    autograd through ``chunk_summaries``; dv is dv_attention in v's dtype. The kernel works in
    fp32 on the same half-precision values, so fp32 outputs hold to ~1e-5 and half-precision
    dk to its own rounding (2^-11 relative)."""
    from dashbench.kernels.dash.summarize import summarize_backward

    B, H = 2, 3
    k, w, g = _case(B, H, n, d, 7 * n + d, dtype)
    n_chunks = -(-n // chunk)
    d_sum = torch.randn(B, H, n_chunks, d, generator=g)
    dk_att, dv_att = (torch.randn(B, H, n, d, generator=g) for _ in range(2))
    k64, w64 = k.double().requires_grad_(), w.double().requires_grad_()
    (chunk_summaries(k64, w64, chunk) * d_sum.double()).sum().backward()

    dk, dv, dw = summarize_backward(k.to(DEVICE), w.to(DEVICE), d_sum.to(DEVICE), dk_att.to(DEVICE),
                                    dv_att.to(DEVICE), chunk, v_dtype=dtype)  # fmt: skip
    assert dk.dtype == dtype and dv.dtype == dtype and dw.dtype == torch.float32
    tol = 1e-5 if dtype == torch.float32 else 2e-3
    want_dk = dk_att.double() + k64.grad
    assert torch.allclose(dk.cpu().double(), want_dk, rtol=tol, atol=tol)
    assert torch.equal(dv.cpu(), dv_att.to(dtype))
    assert torch.allclose(dw.cpu().double(), w64.grad, rtol=1e-5, atol=1e-5 * n**0.5)


def test_backward_takes_strided_keys():
    """k as a transposed view (the autograd function saves what it was given): the same as its
    contiguous copy."""
    from dashbench.kernels.dash.summarize import summarize_backward

    g = torch.Generator().manual_seed(3)
    k = torch.randn(1, 70, 2, 64, generator=g).to(DEVICE).transpose(1, 2)
    w = torch.randn(2, 64, generator=g).to(DEVICE)
    d_sum = torch.randn(1, 2, 2, 64, generator=g).to(DEVICE)
    dk_att, dv_att = (torch.randn(1, 2, 70, 64, generator=g).to(DEVICE) for _ in range(2))
    got = summarize_backward(k, w, d_sum, dk_att, dv_att, 64)
    want = summarize_backward(k.contiguous(), w, d_sum, dk_att, dv_att, 64)
    assert all(torch.equal(a, b) for a, b in zip(got, want))
