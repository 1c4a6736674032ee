"""The DashAttention reference against a literal per-token transcription of the spec."""

import math

import pytest
import torch
from entmax import entmax_bisect

from dashbench.kernels.reference import attention_reference
from dashbench.kernels.reference.dash import (
    calibrate_scaling,
    chunk_summaries,
    dash_attention_reference,
    dash_routing_stats,
)


def literal_dash(q, k, v, head_cls, C, scaling, sigma, estimate_diagonal):
    """Token by token, in float64, with bisection entmax: slow, independent, obviously the spec."""
    q, k, v, head_cls = (t.double() for t in (q, k, v, head_cls))
    B, Hq, N, D = q.shape
    Hkv = k.shape[1]
    G = Hq // Hkv
    scale = 1 / math.sqrt(D)
    out = torch.zeros_like(q)
    active_counts = torch.zeros(B, Hkv, N, dtype=torch.int64)
    n_c = math.ceil(N / C)
    for b in range(B):
        for h in range(Hkv):
            S = []
            for c in range(n_c):
                keys = k[b, h, c * C : min((c + 1) * C, N)]
                w = torch.softmax(keys @ head_cls[h] * scale, 0)
                S.append(w @ keys)
            for i in range(N):
                own = i // C
                p_bar = torch.zeros(n_c, dtype=torch.float64)
                if own > 0:
                    for g in range(G):
                        z = torch.stack([scaling * q[b, h * G + g, i] @ S[c] * scale for c in range(own)])
                        p_bar[:own] += entmax_bisect(z, alpha=1.5, n_iter=200) / G
                routed = [c for c in range(own) if p_bar[c] > 1e-20]
                bias = {own: 0.0}
                if routed:
                    logs = torch.log(p_bar[routed])
                    centre = logs.mean() if estimate_diagonal else 0.0
                    div = sigma if estimate_diagonal else 1.0
                    for c, lp in zip(routed, logs):
                        bias[c] = float((lp - centre) / div)
                active_counts[b, h, i] = len(bias)
                keys = [j for j in range(i + 1) if j // C in bias]
                for g in range(G):
                    s = torch.stack([q[b, h * G + g, i] @ k[b, h, j] * scale + bias[j // C] for j in keys])
                    a = torch.softmax(s, 0)
                    out[b, h * G + g, i] = a @ v[b, h, keys]
    return out, active_counts


def _inputs(B, hq, hkv, N, D, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, hq, N, D, generator=g, dtype=dtype)
    k = torch.randn(B, hkv, N, D, generator=g, dtype=dtype)
    v = torch.randn(B, hkv, N, D, generator=g, dtype=dtype)
    head_cls = torch.randn(hkv, D, generator=g, dtype=dtype)
    return q, k, v, head_cls


@pytest.mark.parametrize(
    "B, hq, hkv, N, D, C, scaling, sigma, est",
    [
        (1, 2, 1, 37, 16, 8, 3.0, 1.0, True),
        (2, 4, 2, 40, 8, 8, 6.0, 1.0, True),
        (1, 4, 1, 33, 16, 4, 2.0, 0.5, True),
        (1, 2, 2, 25, 8, 8, 4.0, 1.0, False),
        (1, 3, 1, 1, 8, 8, 1.0, 1.0, True),
    ],
)
def test_matches_the_literal_transcription(B, hq, hkv, N, D, C, scaling, sigma, est):
    q, k, v, w = _inputs(B, hq, hkv, N, D, seed=N + hq)
    out, stats = dash_attention_reference(q, k, v, w, chunk_size=C, scaling=scaling, sigma=sigma,
                                          estimate_diagonal=est, return_stats=True,
                                          compute_dtype=torch.float64)  # fmt: skip
    want, counts = literal_dash(q, k, v, w, C, scaling, sigma, est)
    torch.testing.assert_close(out, want, rtol=1e-7, atol=1e-7)
    assert torch.equal(stats.active_chunks.long(), counts)


def test_streaming_blocks_and_row_subsets_agree_with_the_full_call():
    q, k, v, w = _inputs(2, 4, 2, 70, 16, seed=3)
    kw = dict(chunk_size=8, scaling=4.0, compute_dtype=torch.float64)
    full = dash_attention_reference(q, k, v, w, **kw)
    for block in (1, 7, 32):
        torch.testing.assert_close(dash_attention_reference(q, k, v, w, block_q=block, **kw), full)
    rows = torch.tensor([0, 7, 8, 33, 69])
    part = dash_attention_reference(q[:, :, rows], k, v, w, q_positions=rows, **kw)
    torch.testing.assert_close(part, full[:, :, rows])
    # Decode: one query at the last position is the prefill's last row.
    last = dash_attention_reference(q[:, :, -1:], k, v, w, **kw)
    torch.testing.assert_close(last, full[:, :, -1:])


def test_vanishing_scaling_routes_everything_and_equals_dense_attention():
    q, k, v, w = _inputs(1, 4, 2, 50, 16, seed=4)
    out, stats = dash_attention_reference(q, k, v, w, chunk_size=8, scaling=1e-9,
                                          return_stats=True, compute_dtype=torch.float64)  # fmt: skip
    dense = attention_reference(q, k, v, compute_dtype=torch.float64)
    torch.testing.assert_close(out, dense, rtol=1e-6, atol=1e-6)
    assert stats.mean_density == 1.0


def test_large_sigma_removes_the_prior():
    q, k, v, w = _inputs(1, 2, 1, 48, 8, seed=5)
    kw = dict(chunk_size=8, scaling=20.0, compute_dtype=torch.float64, return_stats=True)
    flat, stats = dash_attention_reference(q, k, v, w, sigma=1e12, **kw)
    assert stats.mean_density < 0.9  # the test needs some chunks left out
    # Dense attention restricted to the routed chunks, without any bias.
    want = torch.zeros_like(flat)
    for i in range(48):
        routed = _active_set(q, k, w, i)
        keys = [j for j in range(i + 1) if j // 8 == i // 8 or routed[j // 8]]
        want[0, :, i] = attention_reference(q[:, :, i : i + 1], k[:, :, keys], v[:, :, keys],
                                            causal=False, compute_dtype=torch.float64)[0, :, 0]  # fmt: skip
    torch.testing.assert_close(flat, want, rtol=1e-6, atol=1e-6)


def _active_set(q, k, w, i):
    S = chunk_summaries(k.double(), w.double(), 8)[0, 0]
    own = i // 8
    if own == 0:
        return {}
    z = 20.0 * q[0, :, i].double() @ S[:own].T / math.sqrt(q.shape[-1])
    p = entmax_bisect(z, alpha=1.5, n_iter=200, dim=-1).mean(0)
    return {c: bool(p[c] > 1e-20) for c in range(own)}


def test_tokens_of_the_first_chunk_attend_only_it():
    q, k, v, w = _inputs(1, 2, 1, 20, 8, seed=6)
    out, stats = dash_attention_reference(q, k, v, w, chunk_size=8, scaling=100.0,
                                          return_stats=True, compute_dtype=torch.float64)  # fmt: skip
    assert torch.all(stats.active_chunks[..., :8] == 1)
    assert torch.all(stats.token_density[..., :8] == 1)
    dense = attention_reference(q[:, :, :8], k[:, :, :8], v[:, :, :8], compute_dtype=torch.float64)
    torch.testing.assert_close(out[:, :, :8], dense)


def test_gradcheck_in_float64():
    q, k, v, w = _inputs(1, 2, 1, 13, 4, seed=7)
    args = [t.clone().requires_grad_() for t in (q, k, v, w)]

    def f(q, k, v, w):
        return dash_attention_reference(q, k, v, w, chunk_size=4, scaling=2.0,
                                        compute_dtype=torch.float64)  # fmt: skip

    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_density_falls_with_scaling_and_calibration_hits_the_target():
    q, k, v, w = _inputs(1, 4, 1, 512, 16, seed=8, dtype=torch.float32)
    densities = [dash_routing_stats(q, k, w, chunk_size=16, scaling=s).mean_density
                 for s in (0.01, 1.0, 10.0, 100.0)]  # fmt: skip
    assert densities == sorted(densities, reverse=True) and densities[0] > densities[-1]
    target = 0.4
    s = calibrate_scaling(q, k, w, target, chunk_size=16, sample_rows=400)
    rows = torch.arange(16, 512)
    got = dash_routing_stats(q[:, :, rows], k, w, chunk_size=16, scaling=s, q_positions=rows)
    assert abs(got.mean_density - target) < 0.02


def test_calibration_on_given_rows_meets_the_target_on_those_rows():
    q, k, v, w = _inputs(1, 8, 4, 512, 16, seed=10, dtype=torch.float32)
    last = torch.tensor([511])
    s = calibrate_scaling(q, k, w, 0.3, chunk_size=16, rows=last)
    got = dash_routing_stats(q[:, :, last], k, w, chunk_size=16, scaling=s, q_positions=last)
    assert abs(got.mean_density - 0.3) < 0.05  # 4 KV heads, 32 chunks: densities move in steps
    with pytest.raises(ValueError, match="rows must be"):
        calibrate_scaling(q, k, w, 0.3, chunk_size=16, rows=torch.tensor([512]))
    # a decode step's one query: the same scaling as from the whole prefill's queries
    assert calibrate_scaling(q[:, :, -1:], k, w, 0.3, chunk_size=16, rows=last) == s


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda q, k, v, w: (q, k, v, w[:, :-1]), "head_cls must be"),
        (lambda q, k, v, w: (q, k, v, w * float("nan")), "non-finite"),
        (lambda q, k, v, w: (q[:, :3], k, v, w), "multiple"),
        (lambda q, k, v, w: (q[0], k, v, w), r"\[B, H, N, D\]"),
    ],
)
def test_bad_inputs_raise_value_error(change, message):
    q, k, v, w = _inputs(1, 4, 2, 16, 8)
    with pytest.raises(ValueError, match=message):
        dash_attention_reference(*change(q, k, v, w), chunk_size=8)


def test_calibration_warns_when_the_target_is_out_of_reach():
    q, k, v, w = _inputs(1, 16, 1, 256, 16, seed=9, dtype=torch.float32)
    with pytest.warns(UserWarning, match="out of reach"):
        s = calibrate_scaling(q, k, w, 0.001, chunk_size=16)  # 16 heads' union: never this sparse
    assert s == pytest.approx(1e4)
