"""Streamed statistics equal those of the explicit attention matrix (float64, tiny inputs), for
every method; and each hierarchical method's output equals its own reference implementation's."""

import math

import pytest
import torch
from dashbench.kernels.reference import (
    InfLLMv2Config,
    NSAConfig,
    dash_attention_reference,
    infllmv2_reference,
)
from dashbench.kernels.reference.infllmv2 import _attend_selected
from entmax import entmax15

from dashbench.dispersion.methods import METHODS, MethodSettings, method_distribution, parse_scaling
from dashbench.dispersion.stats import ENTMAX15, SOFTMAX, stats_from_weights, streamed_token_stats

FIELDS = ("entropy", "max_weight", "support", "mass", "out", "needle_weight", "normalized_entropy")
# Small blocks so that a 300-token sequence has real selections to make.
SETTINGS = MethodSettings(
    chunk_size=16,
    dash_scaling="3",
    infllmv2=InfLLMv2Config(block_size=16, kernel_size=8, kernel_stride=4, init_blocks=1, local_blocks=2, topk=5),
    nsa=NSAConfig.paper(block_size=16, cmp_size=8, cmp_stride=4, topk=5, local_blocks=1, compression="mean"),
)


def _inputs(seed=0, B=2, hq=4, hkv=2, R=6, N=300, D=16):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, hq, R, D, generator=g, dtype=torch.float64) * 1.5
    k = torch.randn(B, hkv, N, D, generator=g, dtype=torch.float64) * 1.5
    v = torch.randn(B, hkv, N, D, generator=g, dtype=torch.float64)
    positions = torch.tensor([0, 17, 95, 200, 263, N - 1][:R])
    needle = torch.tensor([0, 3, 90, 15, 250, 100][:R])
    head_cls = torch.randn(hkv, D, generator=g, dtype=torch.float64)
    return q, k, v, positions, needle, head_cls


def _explicit(q, k, v, positions, needle, normalizer, bias=None, unit=None):
    """The full [B, Hq, R, N] weight matrix, normalized by torch.softmax / the entmax package."""
    B, Hq, R, D = q.shape
    N = k.shape[2]
    kq = k.repeat_interleave(Hq // k.shape[1], dim=1)
    s = q @ kq.transpose(-1, -2) / math.sqrt(D)
    if bias is not None:
        s = s + bias[..., torch.arange(N) // unit].repeat_interleave(Hq // k.shape[1], dim=1)
    s = s.masked_fill(torch.arange(N)[None, :] > positions[:, None], float("-inf"))
    w = torch.softmax(s, dim=-1) if normalizer == SOFTMAX else entmax15(s, dim=-1)
    return stats_from_weights(w, v, positions, needle)


def _assert_same(got, want, atol=1e-11):
    for name in FIELDS:
        a, b = getattr(got, name), getattr(want, name)
        torch.testing.assert_close(a, b, rtol=0, atol=atol, equal_nan=True, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("normalizer", [SOFTMAX, ENTMAX15])
@pytest.mark.parametrize("block_k", [1, 7, 64, None])
def test_dense_streamed_stats_equal_the_explicit_matrix(normalizer, block_k):
    q, k, v, positions, needle, _ = _inputs()
    got = streamed_token_stats(q, k, v, positions, normalizer=normalizer, needle=needle, block_k=block_k)
    _assert_same(got, _explicit(q, k, v, positions, needle, normalizer))


@pytest.mark.parametrize("method", METHODS)
def test_every_methods_streamed_stats_equal_its_explicit_matrix(method):
    q, k, v, positions, needle, head_cls = _inputs(seed=1)
    dist = method_distribution(method, q, k, v, positions, SETTINGS, head_cls)
    got = streamed_token_stats(q, k, v, positions, normalizer=dist.normalizer, bias=dist.bias, unit=dist.unit,
                               needle=needle, block_k=13)  # fmt: skip
    _assert_same(got, _explicit(q, k, v, positions, needle, dist.normalizer, dist.bias, dist.unit))
    if method in ("nsa", "infllmv2", "dash"):
        # a real selection: some late row attends fewer keys than its causal prefix
        assert (got.support[..., 3:] < positions[3:] + 1).any()
        assert dist.block.support.shape == (2, 2, 6) and (dist.block.support >= 1).all()


def test_hierarchical_outputs_equal_their_reference_implementations():
    q, k, v, positions, needle, head_cls = _inputs(seed=2)

    def streamed_out(method):
        dist = method_distribution(method, q, k, v, positions, SETTINGS, head_cls)
        return streamed_token_stats(q, k, v, positions, normalizer=dist.normalizer, bias=dist.bias, unit=dist.unit,
                                    block_k=29).out, dist  # fmt: skip

    out, _ = streamed_out("dash")
    ref = dash_attention_reference(q, k, v, head_cls, chunk_size=16, scaling=3.0, sigma=1.0, q_positions=positions,
                                   compute_dtype=torch.float64)  # fmt: skip
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    out, _ = streamed_out("infllmv2")
    ref = infllmv2_reference(q, k, v, SETTINGS.infllmv2, q_positions=positions, compute_dtype=torch.float64)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    out, dist = streamed_out("nsa")  # the selection branch, on the blocks NSA's reference selects
    blocks = (dist.bias > float("-inf")).nonzero()
    assert len(blocks)  # selection happened
    from dashbench.kernels.reference.nsa import NSAParams, _compressed_attention, _select, compress

    cfg = SETTINGS.nsa
    kc, vc = compress(k, v, cfg, NSAParams.random(cfg, 4, 2, 16, dtype=torch.float64))
    sel = _select(_compressed_attention(q, kc, vc, positions, cfg)[1], positions, -(-300 // 16), cfg)
    torch.testing.assert_close(out, _attend_selected(q, k, v, sel, positions, 16), rtol=0, atol=1e-12)


def test_dash_block_level_is_the_entmax_prior():
    q, k, v, positions, _, head_cls = _inputs(seed=3)
    dist = method_distribution("dash", q, k, v, positions, SETTINGS, head_cls)
    from dashbench.kernels.reference.dash import chunk_summaries, route

    p_bar = route(q, chunk_summaries(k, head_cls, 16), positions, 16, 3.0)
    has_earlier = positions >= 16
    torch.testing.assert_close(p_bar.sum(-1)[..., has_earlier], torch.ones(2, 2, int(has_earlier.sum()),
                                                                           dtype=torch.float64))  # fmt: skip
    plogp = torch.where(p_bar > 0, p_bar * torch.log(p_bar.clamp(min=1e-300)), torch.zeros_like(p_bar))
    torch.testing.assert_close(dist.block.entropy, -plogp.sum(-1))
    routed = (p_bar > 1e-20).sum(-1) + 1  # the own chunk is always attended
    torch.testing.assert_close(dist.block.support, routed.double())
    assert dist.block.kind == "entmax prior"
    infl = method_distribution("infllmv2", q, k, v, positions, SETTINGS, head_cls).block
    torch.testing.assert_close(infl.entropy, torch.log(infl.support))  # top-k: uniform over k blocks


def test_fp32_statistics_track_fp64():
    q, k, v, positions, needle, _ = _inputs(seed=4)
    for normalizer in (SOFTMAX, ENTMAX15):
        hi = streamed_token_stats(q, k, v, positions, normalizer=normalizer, needle=needle)
        lo = streamed_token_stats(q.float(), k.float(), v.float(), positions, normalizer=normalizer, needle=needle)
        for name in ("entropy", "max_weight", "needle_weight", "out"):
            torch.testing.assert_close(getattr(lo, name).double(), getattr(hi, name), rtol=0, atol=2e-5)


def test_bad_calls_raise_value_errors_naming_the_problem():
    q, k, v, positions, needle, _ = _inputs()
    with pytest.raises(ValueError, match="normalizer"):
        streamed_token_stats(q, k, v, positions, normalizer="sparsemax")
    with pytest.raises(ValueError, match="bias must be"):
        streamed_token_stats(q, k, v, positions, bias=torch.zeros(2, 2, 6, 3), unit=16)
    with pytest.raises(ValueError, match="unit"):
        streamed_token_stats(q, k, v, positions, bias=torch.zeros(2, 2, 6, 19))
    with pytest.raises(ValueError, match="causal key"):
        streamed_token_stats(q, k, v, positions, needle=positions + 1)
    with pytest.raises(ValueError, match="same shape"):
        streamed_token_stats(q, k, v[:, :, :-1], positions)
    with pytest.raises(ValueError, match="does not fit"):
        streamed_token_stats(q[..., :8], k, v, positions)
    with pytest.raises(ValueError, match="positions must"):
        streamed_token_stats(q, k, v, positions[:3])
    with pytest.raises(ValueError, match="unknown method 'hyper'"):
        method_distribution("hyper", q, k, v, positions)
    with pytest.raises(ValueError, match="scaling"):
        parse_scaling("-2")
    with pytest.raises(ValueError, match="density"):
        parse_scaling("density:1.5")
    assert parse_scaling("auto")[0] == "auto" and parse_scaling("density:0.2") == ("density", 0.2)
