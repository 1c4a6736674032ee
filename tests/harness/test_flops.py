import pytest
import torch

from dashbench.harness.cases import Case, Shape
from dashbench.harness.flops import attention_flops, causal_pairs, min_bytes


@pytest.mark.parametrize("n_q, n_k", [(1, 1), (1, 9), (5, 5), (7, 20), (64, 64), (113, 203)])
def test_causal_pairs_equals_the_mask_count(n_q, n_k):
    positions = torch.arange(n_k - n_q, n_k)
    mask = torch.arange(n_k)[None, :] <= positions[:, None]
    assert causal_pairs(n_q, n_k) == int(mask.sum())


def test_more_queries_than_keys_is_refused():
    with pytest.raises(ValueError):
        causal_pairs(4, 3)


def test_flops_prefill_decode_and_backward():
    shape = Shape(batch=2, heads_q=8, heads_kv=2, seqlen=1024, head_dim=128)
    fwd = attention_flops(Case("reference", "fwd", shape, "bf16"))
    assert fwd == 4 * 128 * (1024 * 1025 // 2) * 2 * 8
    assert attention_flops(Case("reference", "fwd+bwd", shape, "bf16")) == fwd * 7 // 2
    assert attention_flops(Case("reference", "decode", shape, "bf16")) == 4 * 128 * 1024 * 2 * 8


def test_min_bytes_for_decode_is_dominated_by_the_kv_cache():
    shape = Shape(batch=1, heads_q=32, heads_kv=8, seqlen=4096, head_dim=128)
    kv = 2 * 8 * 4096 * 128 * 2
    q_and_o = 2 * 32 * 128 * 2
    assert min_bytes(Case("fa3", "decode", shape, "bf16")) == kv + q_and_o
