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


def test_window_density_is_an_upper_bound_and_reduces_to_topk_without_window():
    from dashbench.sparsity import topk_window_token_density

    assert topk_window_token_density(10, 5000, 64, 0, 1) == topk_token_density(10, 5000, 64)
    # brute force: per token, the union of the window, the local blocks and the further blocks
    # placed where they add the most keys (the earliest ones not yet covered), for a small case
    n, bs, w, local, topk = 700, 16, 40, 1, 6
    total = 0.0
    for i in range(n):
        own = i // bs
        keys = set(range(max(0, i - w + 1), i + 1))
        forced = list(range(max(0, own - local), own + 1))
        for j in forced:
            keys |= set(range(j * bs, min(j * bs + bs, i + 1)))
        extra = max(0, min(own + 1, topk) - len(forced))
        j = 0
        while extra and j < own:
            block = set(range(j * bs, j * bs + bs))
            if not block <= keys:
                keys |= block
                extra -= 1
            j += 1
        total += len(keys) / (i + 1)
    assert topk_window_token_density(topk, n, bs, w, local) == pytest.approx(total / n, rel=2e-2)


def test_method_configs_meet_the_target_or_warn():
    from dashbench.sparsity import infllmv2_config_for, nsa_config_for, topk_window_token_density

    cfg = infllmv2_config_for(0.9, 131072)
    assert cfg.topk == topk_for_sparsity(0.9, 131072, min_topk=18) and cfg.local_blocks == 16
    nsa = nsa_config_for(0.9, 131072)
    assert topk_window_token_density(nsa.topk, 131072, 64, nsa.window, nsa.local_blocks) <= 0.1
    from dashbench.kernels.reference.nsa import NSAConfig

    paper = nsa_config_for(0.75, 32768, NSAConfig.paper())
    assert paper.window == 512 and paper.topk >= paper.forced_blocks
    with pytest.warns(UserWarning, match="out of reach"):
        nsa_config_for(0.99, 8192, NSAConfig.paper())


def test_decode_configs_meet_the_last_tokens_density():
    from dashbench.kernels.reference.nsa import NSAConfig
    from dashbench.sparsity import infllmv2_config_for, nsa_config_for, topk_window_token_density

    L = 131072
    assert infllmv2_config_for(0.75, L, over="last").topk == 512  # 32k of 128k keys
    cfg = NSAConfig.paper()  # window 512; the own block and 1 local block forced, both inside it
    nsa = nsa_config_for(0.9, L, cfg, over="last")
    # the last token: the window's 512 keys and topk - 2 further blocks
    last = (512 + (nsa.topk - 2) * 64) / L
    assert topk_window_token_density(nsa.topk, L, 64, 512, cfg.local_blocks, over="last") == pytest.approx(last)
    assert last <= 0.1 < (512 + (nsa.topk - 1) * 64) / L
    with pytest.raises(ValueError, match="over"):
        topk_window_token_density(4, L, 64, 512, 2, over="first")
