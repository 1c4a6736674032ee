"""The planted-needle generator and its analytic property: softmax's needle weight falls with
length, 1.5-entmax's does not (measured by the streamed statistics, compared to closed forms)."""

import math
from itertools import pairwise

import pytest
import torch
from entmax import entmax15

from dashbench.dispersion.planted import (
    entmax15_needle_weight,
    needle_positions,
    planted_needle,
    softmax_needle_weight,
)
from dashbench.dispersion.stats import ENTMAX15, SOFTMAX, streamed_token_stats


def _logits(p):
    B, Hq, R, D = p.q.shape
    k = p.k.repeat_interleave(Hq // p.k.shape[1], dim=1)
    return p.q @ k.transpose(-1, -2) / math.sqrt(D)  # [B, Hq, R, N]


def test_needle_logit_is_the_margin_and_equal_distractors_are_zero():
    p = planted_needle(300, 6, batch=2, heads=(4, 2), head_dim=16, margin=5.5, seed=3)
    s = _logits(p)
    rows = torch.arange(6)
    assert torch.equal(p.positions, torch.arange(294, 300))
    assert torch.equal(p.needle, needle_positions(300, 6, 0.5)) and torch.equal(p.needle, torch.arange(147, 153))
    assert (p.needle < p.positions).all()
    torch.testing.assert_close(s[..., rows, p.needle], torch.full((2, 4, 6), 5.5, dtype=torch.float64))
    off = torch.ones_like(s, dtype=torch.bool)
    off[..., rows, p.needle] = False
    assert s[off].abs().max() < 1e-12  # every other key, other rows' needles included, has logit 0


def test_gaussian_distractors_have_the_asked_spread_and_the_seed_fixes_everything():
    p = planted_needle(4096, 4, head_dim=32, margin=3.0, distractor_std=2.0, seed=1)
    s = _logits(p)[0, 0]  # [R, N]
    keep = torch.ones_like(s, dtype=torch.bool)
    keep[torch.arange(4), p.needle] = False
    assert abs(s[keep].std().item() - 2.0) < 0.05 and abs(s[keep].mean().item()) < 0.05
    again = planted_needle(4096, 4, head_dim=32, margin=3.0, distractor_std=2.0, seed=1)
    assert torch.equal(p.k, again.k) and torch.equal(p.v, again.v) and torch.equal(p.q, again.q)
    other = planted_needle(4096, 4, head_dim=32, margin=3.0, distractor_std=2.0, seed=2)
    assert not torch.equal(p.k, other.k)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n=64, rows=64), "must exceed"),
        (dict(n=256, rows=20, head_dim=16), "orthogonal directions"),
        (dict(n=256, rows=4, depth=1.0), "depth"),
        (dict(n=256, rows=4, margin=-1.0), "margin"),
        (dict(n=256, rows=4, distractor_std=-0.5), "distractor_std"),
        (dict(n=256, rows=4, heads=(3, 2)), "multiple"),
    ],
)
def test_bad_planted_arguments_are_named(kwargs, message):
    args = dict(head_dim=16) | kwargs
    n, rows = args.pop("n"), args.pop("rows")
    with pytest.raises(ValueError, match=message):
        planted_needle(n, rows, **args)


def test_softmax_needle_weight_is_the_closed_form_and_falls_with_length():
    margin, weights = 6.0, []
    for n in (128, 512, 2048, 8192):
        p = planted_needle(n, 4, heads=(2, 1), head_dim=16, margin=margin)
        st = streamed_token_stats(p.q, p.k, p.v, p.positions, normalizer=SOFTMAX, needle=p.needle)
        expected = softmax_needle_weight(margin, p.positions + 1)  # position + 1 causal keys
        torch.testing.assert_close(st.needle_weight, expected.expand_as(st.needle_weight), rtol=1e-12, atol=0)
        weights.append(st.needle_weight.mean().item())
    assert all(a > b for a, b in pairwise(weights))
    assert weights[0] > 0.7 and weights[-1] < 0.05  # e^6 / (e^6 + n - 1): 0.76 at 128, 0.047 at 8k


def test_entmax_needle_weight_stays_one_when_the_margin_clears_the_threshold():
    for n in (128, 512, 2048, 8192):
        p = planted_needle(n, 4, heads=(2, 1), head_dim=16, margin=2.5)
        st = streamed_token_stats(p.q, p.k, p.v, p.positions, normalizer=ENTMAX15, needle=p.needle)
        torch.testing.assert_close(st.needle_weight, torch.ones_like(st.needle_weight), rtol=0, atol=1e-12)
        assert (st.support == 1).all() and st.entropy.abs().max() < 1e-12
        cos = st.needle_cosine(p.v[:, :, p.needle].repeat_interleave(2, dim=1))
        torch.testing.assert_close(cos, torch.ones_like(cos))  # the output is the needle's value


def test_entmax_below_the_threshold_keeps_every_key_but_never_falls_below_m2_over_4():
    margin, weights = 1.2, []
    for n in (128, 1024, 8192):
        p = planted_needle(n, 2, head_dim=8, margin=margin)
        st = streamed_token_stats(p.q, p.k, p.v, p.positions, normalizer=ENTMAX15, needle=p.needle)
        torch.testing.assert_close(st.needle_weight[0, 0], entmax15_needle_weight(margin, p.positions + 1),
                                   rtol=1e-10, atol=0)  # fmt: skip
        assert (st.support == p.positions + 1).all()  # the distractors are in the support
        weights.append(st.needle_weight.mean().item())
    assert all(a > b > margin**2 / 4 for a, b in pairwise(weights))


@pytest.mark.parametrize("margin", [0.0, 0.7, 1.9, 2.0, 3.0])
def test_entmax_closed_form_matches_the_entmax_package(margin):
    for n in (1, 2, 17, 1000):
        z = torch.zeros(n, dtype=torch.float64)
        z[0] = margin
        # 1e-10: the package's sort-and-cumsum solve is off by 2e-12 at n=1000 (the closed form
        # matches a 50-digit mpmath evaluation to the last bit)
        assert abs(entmax15(z, dim=-1)[0].item() - entmax15_needle_weight(margin, n).item()) < 1e-10
