"""The shared sparsity definition and the top-k knob map (spec: baselines.md)."""

import pytest
import torch

from dashbench.sparsity import sparsity, token_density_from_blocks, topk_for_sparsity, topk_token_density


@pytest.mark.parametrize("length, expected", [(32768, (128, 51, 26)), (131072, (512, 205, 102))])
def test_topk_for_the_spec_table(length, expected):
    assert tuple(topk_for_sparsity(s, length, over="last") for s in (0.75, 0.9, 0.95)) == expected


@pytest.mark.parametrize("length", [8192, 32768, 131072])
@pytest.mark.parametrize("target", [0.5, 0.75, 0.9])
def test_topk_over_the_prefill_meets_the_mean_density(length, target):
    topk = topk_for_sparsity(target, length)
    got = topk_token_density(topk, length)
    step = topk_token_density(topk + 1, length) - topk_token_density(topk, length)
    assert abs(got - (1 - target)) <= step  # the nearest integer topk
    assert topk < topk_for_sparsity(target, length, over="last")


def test_topk_floor_warns_and_reports_the_reachable_sparsity():
    with pytest.warns(UserWarning, match="below the 18 forced blocks"):
        assert topk_for_sparsity(0.95, 16384, min_topk=18, over="last") == 18
    with pytest.raises(ValueError, match="sparsity"):
        topk_for_sparsity(1.0, 1024)


def test_topk_density_is_the_mean_of_the_per_token_counts():
    n, bs, topk = 1000, 64, 4
    blocks = []
    for i in range(n):
        own = i // bs
        ids = list(range(max(0, own - topk + 1), own + 1))
        blocks.append(ids + [-1] * (topk - len(ids)))
    density = token_density_from_blocks(torch.tensor(blocks), torch.arange(n), bs)
    assert density.mean().item() == pytest.approx(topk_token_density(topk, n, bs))
    assert topk_token_density(16, 1000, 64) == 1.0  # every block fits in 16


def test_token_density_counts_only_causal_keys_of_the_own_block():
    blocks = torch.tensor([[0, 2, -1]])
    assert token_density_from_blocks(blocks, torch.tensor([130]), 64).item() == pytest.approx((64 + 3) / 131)
    assert sparsity(0.25) == 0.75


def test_density_in_token_slices_equals_one_pass(monkeypatch):
    from dashbench import sparsity as module

    blocks = torch.randint(-1, 20, (2, 3, 500, 7))
    positions = torch.arange(1000, 1500)
    whole = token_density_from_blocks(blocks, positions, 64)
    monkeypatch.setattr(module, "_ELEMENTS", 50)  # two tokens of 3 x 7 entries at a time
    assert torch.equal(token_density_from_blocks(blocks, positions, 64), whole)
