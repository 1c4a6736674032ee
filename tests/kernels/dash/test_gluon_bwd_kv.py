"""The Gluon dk/dv kernel (kernels/dash/gluon_bwd_kv.py): its sm_90 build, and on the GPU
``dash_attention``'s gradients with it against the Triton dk/dv kernel and the float64 reference."""

import pytest
import torch
from _common import rel, sm90_listing

from dashbench.kernels import dash_attention
from dashbench.kernels.reference import dash_attention_reference

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="Gluon kernels run only on a GPU")


def _grads(q, k, v, w, do, **kw):
    args = [t.clone().requires_grad_() for t in (q, k, v, w)]
    out = dash_attention(*args, **kw)
    out.backward(do)
    return [out.float()] + [t.grad.float() for t in args]


@needs_gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("B, hq, hkv, n, d", [(1, 8, 2, 1000, 128), (1, 32, 2, 777, 128), (2, 6, 2, 700, 128),
                                              (1, 4, 4, 513, 64), (2, 16, 1, 300, 64)])  # fmt: skip
def test_gluon_dk_dv_equal_the_triton_kernels(monkeypatch, dtype, B, hq, hkv, n, d):
    """The same gradients with the Gluon dk/dv kernel as with the Triton one: odd lengths, 4, 16,
    3 (padded) and 1 heads a KV head, two sequences, both half dtypes. The Gluon kernel reads the
    forward's stored fp16 biases where the Triton kernel recomputes the prior in fp32, and both
    round P and dS to q's dtype: dk and dv agree to that rounding."""
    from dashbench.kernels.dash import backward

    g = torch.Generator(device="cuda").manual_seed(n)
    q, k, v = (torch.randn(B, h, n, d, generator=g, device="cuda").to(dtype) for h in (hq, hkv, hkv))
    w = (0.3 * torch.randn(hkv, d, generator=g, device="cuda")).to(dtype)
    do = torch.randn(q.shape, generator=g, device="cuda").to(dtype)
    kw = dict(chunk_size=64, scaling=4.0)
    results = []
    for on in (False, True):
        monkeypatch.setattr(backward, "BWD_GLUON_KV", on)
        results.append(_grads(q, k, v, w, do, **kw))
    for name, a, b in zip(("out", "dq", "dk", "dv", "dhead_cls"), *results):
        assert rel(b, a) < 1e-2, (name, rel(b, a))
    assert rel(results[1][3], results[0][3]) > 0  # the Gluon kernel ran (its rounding differs)


@needs_gpu
def test_gluon_dk_dv_match_the_reference_in_float64(monkeypatch):
    """Against autograd through the float64 reference (bf16 inputs: 3e-2, as the half-precision
    gradient test)."""
    from dashbench.kernels.dash import backward

    monkeypatch.setattr(backward, "BWD_GLUON_KV", True)
    g = torch.Generator(device="cuda").manual_seed(3)
    q, k, v = (torch.randn(1, h, 900, 128, generator=g, device="cuda").bfloat16() for h in (8, 2, 2))
    w = (0.3 * torch.randn(2, 128, generator=g, device="cuda")).bfloat16()
    do = torch.randn(q.shape, generator=g, device="cuda").bfloat16()
    got = _grads(q, k, v, w, do, chunk_size=64, scaling=4.0)
    ref_args = [t.double().clone().requires_grad_() for t in (q, k, v, w)]
    dash_attention_reference(*ref_args, chunk_size=64, scaling=4.0, compute_dtype=torch.float64).backward(do.double())
    for name, a, want in zip(("dq", "dk", "dv", "dhead_cls"), got[1:], ref_args):
        assert rel(a, want.grad) < 3e-2, (name, rel(a, want.grad))


def test_gluon_dk_dv_compile_for_sm90_with_two_ctas_an_sm():
    """The consumer's step issues S^T and dP^T together and waits for S^T alone before its ex2s;
    at 2 stages two CTAs' shared memory fits an SM."""
    lines = sm90_listing("dashbench.kernels.dash.gluon_bwd_kv", 5)
    assert all("HGMMA DEPBAR1 EX2" in line for line in lines), lines
    for line in lines:
        if "stages=2" in line:
            assert int(line.split("shared ")[1].split(" B")[0]) < 113 * 1024 + 1024, line
