"""The Gluon dq kernel (kernels/dash/gluon_bwd_q.py): its sm_90 build, and on the GPU
``dash_attention``'s gradients with it against the Triton dq kernel and the float64 reference."""

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


SHAPES = [(1, 8, 2, 1000, 128, True, 1.0), (1, 32, 2, 777, 128, True, 1.0), (2, 6, 2, 700, 128, True, 0.5),
          (1, 4, 4, 513, 64, False, 1.0), (2, 16, 1, 300, 64, True, 2.0)]


@needs_gpu
@pytest.mark.parametrize("dtype, B, hq, hkv, n, d, est, sigma",
                         [(torch.bfloat16, *s) for s in SHAPES] + [(torch.float16, *s) for s in SHAPES[1:3]])
def test_gluon_dq_equals_the_triton_kernel(monkeypatch, dtype, B, hq, hkv, n, d, est, sigma):
    """The same gradients with the Gluon dq kernel as with the Triton one: odd lengths, 4, 16, 3
    (padded) and 1 heads a KV head, two sequences, with and without the prior's centring, sharp
    and flat priors, both half dtypes. head_cls's gradient comes through the summaries' (the dq
    kernels' atomics). Both round dS to q's dtype; the Gluon kernel takes w (the entmax JVP's
    weights) to 16 bits and the routing product in three pieces of the summary: agreement to that
    rounding."""
    from dashbench.kernels.dash import backward

    case = gluon_backward_case(B, hq, hkv, n, d, dtype, seed=n)
    results = grads_with_switches_off_and_on(monkeypatch, backward, ["BWD_GLUON_Q"], case, chunk_size=64,
                                             scaling=4.0, estimate_diagonal=est, sigma=sigma)  # fmt: skip
    for name, a, b in zip(("out", "dq", "dk", "dv", "dhead_cls"), *results):
        assert rel(b, a) < 1e-2, (name, rel(b, a))
    assert rel(results[1][1], results[0][1]) > 0  # the Gluon kernel ran (its rounding differs)


@needs_gpu
@pytest.mark.parametrize("stages", [2, 3])
def test_gluon_dq_matches_the_reference_in_float64(monkeypatch, stages):
    """Against autograd through the float64 reference (bf16 inputs: 3e-2, as the half-precision
    gradient test), at both ring sizes."""
    from dashbench.kernels.dash import backward

    monkeypatch.setattr(backward, "BWD_GLUON_Q", True)
    monkeypatch.setattr(backward, "BWD_GLUON_Q_STAGES", stages)
    case = gluon_backward_case(1, 8, 2, 900, 128, torch.bfloat16, seed=3)
    got = dash_out_and_grads(*case, chunk_size=64, scaling=4.0)
    assert_grads_match_fp64(got, case, 3e-2, chunk_size=64, scaling=4.0)


def test_gluon_dq_compiles_for_sm90_without_spills():
    """Every build compiles with nothing spilled; at 2 stages two CTAs' shared memory fits an SM."""
    lines = sm90_listing("dashbench.kernels.dash.gluon_bwd_q", 5)
    assert all("stack 0 B" in line for line in lines), lines
    for line in lines:
        if "stages=2" in line:
            assert int(line.split("shared ")[1].split(" B")[0]) < 113 * 1024 + 1024, line


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_summary_rows_hold_the_summary_in_three_pieces_twice(dtype):
    """The Gluon dq kernel's summary tile: rows 0-2 sum to the fp32 summary within fp32 rounding
    (bf16 pieces: 24 bits; fp16: 33, the third piece's underflow aside), rows 3-5 repeat them (the
    rank-1 update's second operand), the rest are zero; one [16, D] tile a (batch, KV head, chunk)."""
    from dashbench.kernels.dash.gluon_bwd_q import summary_rows

    s = torch.randn(2, 3, 5, 64, generator=torch.Generator().manual_seed(1))
    tiles = summary_rows(s, dtype).view(2, 3, 5, 16, 64)
    assert tiles.dtype == dtype
    total = tiles[:, :, :, :3].float().sum(3)
    assert (total - s).abs().max() <= 2e-7 * s.abs().max()
    assert torch.equal(tiles[:, :, :, 3:6], tiles[:, :, :, 0:3])
    assert not tiles[:, :, :, 6:].any()


@needs_gpu
@pytest.mark.parametrize("B, hq, hkv, n, d", [(1, 8, 2, 1, 128), (2, 32, 2, 63, 128), (1, 6, 2, 65, 64),
                                              (2, 4, 4, 130, 128)])  # fmt: skip
def test_gluon_backward_at_short_and_odd_lengths(monkeypatch, B, hq, hkv, n, d):
    """Both Gluon backward kernels against both Triton ones where lists are empty or short: one
    token, less than a chunk, one past it (bf16; TMA boxes past the sequence arrive as zeros)."""
    from dashbench.kernels.dash import backward

    case = gluon_backward_case(B, hq, hkv, n, d, torch.bfloat16, seed=n + 7)
    results = grads_with_switches_off_and_on(monkeypatch, backward, ["BWD_GLUON_Q", "BWD_GLUON_KV"], case,
                                             chunk_size=64, scaling=4.0)  # fmt: skip
    for name, a, b in zip(("out", "dq", "dk", "dv", "dhead_cls"), *results):
        if a.abs().max() < 1e-4:  # one token: dq, dk and dhead_cls are zero but for rounding
            assert b.abs().max() < 1e-4, name
        else:
            assert rel(b, a) < 1e-2, (name, rel(b, a))
