"""The Gluon dk/dv kernel (kernels/dash/gluon_bwd_kv.py): its sm_90 build, and on the GPU
``dash_attention``'s gradients with it against the Triton dk/dv kernel and the float64 reference."""

import pytest
import torch
from _common import (
    needs_gpu,
    assert_grads_match_fp64,
    dash_out_and_grads,
    gluon_backward_case,
    grads_with_switches_off_and_on,
    rel,
    sm90_listing,
)


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

    case = gluon_backward_case(B, hq, hkv, n, d, dtype, seed=n)
    results = grads_with_switches_off_and_on(monkeypatch, backward, ["BWD_GLUON_KV"], case, chunk_size=64,
                                             scaling=4.0)  # fmt: skip
    for name, a, b in zip(("out", "dq", "dk", "dv", "dhead_cls"), *results):
        assert rel(b, a) < 1e-2, (name, rel(b, a))
    assert rel(results[1][3], results[0][3]) > 0  # the Gluon kernel ran (its rounding differs)


@needs_gpu
def test_gluon_dk_dv_match_the_reference_in_float64(monkeypatch):
    """Against autograd through the float64 reference (bf16 inputs: 3e-2, as the half-precision
    gradient test)."""
    from dashbench.kernels.dash import backward

    monkeypatch.setattr(backward, "BWD_GLUON_KV", True)
    case = gluon_backward_case(1, 8, 2, 900, 128, torch.bfloat16, seed=3)
    got = dash_out_and_grads(*case, chunk_size=64, scaling=4.0)
    assert_grads_match_fp64(got, case, 3e-2, chunk_size=64, scaling=4.0)


@needs_gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("B, hq, hkv, n, d", [(1, 32, 2, 777, 128), (2, 16, 1, 300, 64), (1, 8, 2, 1000, 128)])
def test_gluon_dk_dv_at_168_registers_equal_128(monkeypatch, dtype, B, hq, hkv, n, d):
    """The dk/dv kernel built for 168 registers a thread (``BWD_GLUON_KV_MAXNREG``; faster at
    G = 16, stop 30) gives 128's gradients: the same arithmetic (the summaries' gradient, by
    atomics in another order, may differ in its last bits)."""
    from dashbench.kernels.dash import backward

    monkeypatch.setattr(backward, "BWD_GLUON_KV", True)
    case = gluon_backward_case(B, hq, hkv, n, d, dtype, seed=n + 2)
    results = []
    for maxnreg in (128, 168):
        monkeypatch.setattr(backward, "BWD_GLUON_KV_MAXNREG", maxnreg)
        results.append(dash_out_and_grads(*case, chunk_size=64, scaling=4.0))
    for name, a, b in zip(("out", "dq", "dk", "dv", "dhead_cls"), *results):
        assert rel(b, a) < 1e-4, (name, rel(b, a))
    assert torch.equal(results[0][3], results[1][3])  # dv: no atomics in its path


def test_gluon_dk_dv_compile_for_sm90_with_two_ctas_an_sm():
    """The consumer's step issues S^T and dP^T together and waits for S^T alone before its ex2s;
    at 2 stages two CTAs' shared memory fits an SM."""
    lines = sm90_listing("dashbench.kernels.dash.gluon_bwd_kv", 5)
    assert all("HGMMA DEPBAR1 EX2" in line for line in lines), lines
    for line in lines:
        if "stages=2" in line:
            assert int(line.split("shared ")[1].split(" B")[0]) < 113 * 1024 + 1024, line
