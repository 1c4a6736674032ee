"""The InfLLMv2 reference against a literal per-token transcription of the spec."""

import math

import pytest
import torch

from dashbench.kernels.reference import attention_reference
from dashbench.kernels.reference.infllmv2 import (
    InfLLMv2Config,
    _overlap_windows,
    compress_keys,
    infllmv2_reference,
    infllmv2_selection,
)

SMALL = InfLLMv2Config(block_size=8, kernel_size=4, kernel_stride=2, init_blocks=1, local_blocks=2, topk=5)


def _inputs(B, hq, hkv, n, d, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, h, n, d, generator=g, dtype=dtype) for h in (hq, hkv, hkv)]


def _literal(q, k, v, cfg):
    """One token, one KV head at a time, straight from the spec's five steps."""
    B, Hq, N, D = q.shape
    Hkv = k.shape[1]
    G = Hq // Hkv
    bs, l, s = cfg.block_size, cfg.kernel_size, cfg.kernel_stride
    n_blocks = -(-N // bs)
    out = torch.zeros_like(q)
    chosen_scores = {}
    for b in range(B):
        for h in range(Hkv):
            ck = [k[b, h, s * m : s * m + l].mean(0) for m in range(0, (N - l) // s + 1)] if N >= l else []
            for i in range(N):
                own = i // bs
                visible = [m for m in range(len(ck)) if s * m + l - 1 <= i]
                summed = torch.zeros(len(ck), dtype=q.dtype)
                for g in range(G):
                    if visible:
                        x = torch.stack([q[b, h * G + g, i] @ ck[m] / math.sqrt(D) for m in visible])
                        summed[visible] += torch.softmax(x, 0)
                score = []
                for j in range(n_blocks):
                    over = [m for m in range(len(ck)) if s * m < bs * j + bs and s * m + l > bs * j]
                    sc = max([summed[m].item() for m in over], default=0.0)
                    if j < cfg.init_blocks or own - cfg.local_blocks <= j <= own:
                        sc = math.inf
                    score.append(sc if j <= own else -math.inf)
                order = sorted(range(own + 1), key=lambda j: -score[j])[: cfg.topk]
                chosen_scores[(b, h, i)] = (sorted(order), sorted(score[j] for j in order))
                keys = [t for j in order for t in range(j * bs, min(j * bs + bs, i + 1))]
                for g in range(G):
                    x = torch.stack([q[b, h * G + g, i] @ k[b, h, t] / math.sqrt(D) for t in keys])
                    out[b, h * G + g, i] = torch.softmax(x, 0) @ v[b, h, keys]
    return out, chosen_scores


@pytest.mark.parametrize("hq, hkv, n", [(2, 1, 1), (4, 2, 37), (6, 2, 64), (3, 3, 50)])
def test_matches_the_literal_transcription(hq, hkv, n):
    q, k, v = _inputs(2, hq, hkv, n, 8, seed=n)
    out, sel = infllmv2_reference(q, k, v, SMALL, return_selection=True, compute_dtype=torch.float64)
    want, chosen_scores = _literal(q, k, v, SMALL)
    assert torch.allclose(out, want, atol=1e-10)
    # The selected sets: compared through their scores, so ties at the k-th score may differ.
    # Recompute each token's block scores from the selection by counting.
    # Ties (a window straddling two blocks gives both its max) go to the earlier block in both.
    for (b, h, i), (ids, _) in chosen_scores.items():
        got = sel.blocks[b, h, i]
        assert got[got >= 0].tolist() == ids
        assert (got[len(ids) :] == -1).all()


def test_forced_blocks_are_always_selected():
    q, k, v = _inputs(1, 4, 1, 96, 8, seed=11)
    sel = infllmv2_selection(q, k, SMALL)
    _, chosen_scores = _literal(q, k, v, SMALL)
    cfg = SMALL
    for (b, h, i), (_, scores) in chosen_scores.items():
        ids = sel.blocks[b, h, i]
        ids = ids[ids >= 0].tolist()
        own = i // cfg.block_size
        forced = {j for j in range(own + 1) if j < cfg.init_blocks or own - cfg.local_blocks <= j}
        assert forced <= set(ids)
        assert len(ids) == min(cfg.topk, own + 1)
        assert sum(1 for x in scores if x == math.inf) == len(forced)


def test_default_overlap_is_the_maxpool_window_4j_minus_1_to_4j_plus_3():
    ids, ok = _overlap_windows(10, 100, InfLLMv2Config(), "cpu")
    for j in range(1, 10):
        assert ids[j][ok[j]].tolist() == list(range(4 * j - 1, 4 * j + 4))
    assert ids[0][ok[0]].tolist() == [0, 1, 2, 3]


def test_compressed_keys_are_window_means():
    (k,) = _inputs(1, 1, 1, 70, 4, seed=1)[1:2]
    ck = compress_keys(k, 32, 16)
    assert ck.shape[2] == (70 - 32) // 16 + 1
    assert torch.allclose(ck[0, 0, 2], k[0, 0, 32:64].mean(0))
    assert compress_keys(k[:, :, :31], 32, 16).shape[2] == 0


def test_dense_when_topk_covers_every_block():
    q, k, v = _inputs(1, 4, 2, 70, 16, seed=2)
    cfg = InfLLMv2Config(block_size=8, kernel_size=4, kernel_stride=2, local_blocks=2, topk=9)
    out, sel = infllmv2_reference(q, k, v, cfg, return_selection=True, compute_dtype=torch.float64)
    assert torch.allclose(out, attention_reference(q, k, v, compute_dtype=torch.float64), atol=1e-10)
    assert torch.allclose(sel.token_density, torch.ones_like(sel.token_density, dtype=torch.float64))


def test_density_counts_causal_keys_of_the_selected_blocks():
    q, k, v = _inputs(1, 2, 1, 200, 8, seed=3)
    sel = infllmv2_selection(q, k, SMALL)
    i = 150
    ids = sel.blocks[0, 0, i]
    ids = ids[ids >= 0]
    keys = sum(min(8, i - 8 * j + 1) for j in ids.tolist())
    assert sel.token_density[0, 0, i].item() == pytest.approx(keys / (i + 1))
    assert sel.mean_density < 0.5


def test_streamed_blocks_and_decode_rows_agree_with_the_full_call():
    q, k, v = _inputs(1, 4, 2, 90, 8, seed=4)
    full = infllmv2_reference(q, k, v, SMALL, compute_dtype=torch.float64)
    for block in (1, 7):
        assert torch.allclose(infllmv2_reference(q, k, v, SMALL, block_q=block, compute_dtype=torch.float64),
                              full, atol=1e-12)  # fmt: skip
    last = infllmv2_reference(q[:, :, -1:], k, v, SMALL, compute_dtype=torch.float64)
    assert torch.allclose(last, full[:, :, -1:], atol=1e-12)


def test_gradcheck_tiny_fp64():
    q, k, v = (t.requires_grad_() for t in _inputs(1, 2, 1, 20, 4, seed=5))
    cfg = InfLLMv2Config(block_size=4, kernel_size=2, kernel_stride=1, init_blocks=1, local_blocks=1, topk=3)
    assert torch.autograd.gradcheck(lambda a, b, c: infllmv2_reference(a, b, c, cfg, compute_dtype=torch.float64),
                                    (q, k, v))  # fmt: skip


@pytest.mark.parametrize("cfg, message", [
    (InfLLMv2Config(topk=10), "below its 18 forced blocks"),
    (InfLLMv2Config(block_size=0), "block_size must be positive"),
])  # fmt: skip
def test_bad_configs_name_the_problem(cfg, message):
    q, k, v = _inputs(1, 2, 1, 16, 8, seed=6)
    with pytest.raises(ValueError, match=message):
        infllmv2_reference(q, k, v, cfg)
