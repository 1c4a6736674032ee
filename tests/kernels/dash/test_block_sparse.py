"""The shared block-sparse attention (no prior, per-token selections) against PyTorch."""

import pytest
import torch
from _common import DEVICE, FP32_TOL, needs_triton
from _common import rel as _rel

from dashbench.kernels.dash.block_sparse import block_sparse_attention, selection_lists
from dashbench.kernels.reference.infllmv2 import _attend_selected

pytestmark = needs_triton


def _random_selection(B, hkv, n, bs, k, seed):
    """Each token: its own block plus up to k - 1 random earlier ones (ascending, -1 padded)."""
    g = torch.Generator().manual_seed(seed)
    blocks = torch.full((B, hkv, n, k), -1, dtype=torch.int32)
    for b in range(B):
        for h in range(hkv):
            for i in range(n):
                own = i // bs
                earlier = torch.randperm(own, generator=g)[: k - 1] if own else torch.empty(0, dtype=torch.long)
                ids = sorted(earlier.tolist() + [own])
                blocks[b, h, i, : len(ids)] = torch.tensor(ids, dtype=torch.int32)
    return blocks.to(DEVICE)


def test_lists_hold_the_union_and_the_token_bits():
    blocks = torch.tensor([[[[0, -1], [0, -1], [0, 1], [1, -1], [0, 2], [1, 2]]]], dtype=torch.int32)
    offsets, counts, ids, words = selection_lists(blocks, bm=2, block_size=2)
    # tiles of 2 tokens: tokens 4, 5 (block 2) select block 0 (token 4) and block 1 (token 5)
    assert counts.flatten().tolist() == [0, 1, 2]  # token 2 (tile 1) also lists block 0
    start = int(offsets.flatten()[2])
    assert ids[start : start + 2].tolist() == [0, 1]
    assert words[start : start + 2].tolist() == [0b01, 0b10]


@pytest.mark.parametrize("hq, hkv, n, d, bs", [(4, 2, 150, 64, 32), (6, 2, 97, 64, 32), (2, 2, 130, 128, 64),
                                                (8, 1, 200, 64, 32), (4, 2, 1, 64, 32)])  # fmt: skip
def test_forward_and_gradients_match_pytorch(hq, hkv, n, d, bs):
    """Forward and gradients against PyTorch in float64."""
    g = torch.Generator().manual_seed(n)
    q, k, v = (torch.randn(2, h, n, d, generator=g).to(DEVICE) for h in (hq, hkv, hkv))
    blocks = _random_selection(2, hkv, n, bs, 3, seed=n)
    args = [t.clone().requires_grad_() for t in (q, k, v)]
    out = block_sparse_attention(*args, blocks, block_size=bs)
    do = torch.randn_like(out)
    out.backward(do)
    ref_args = [t.double().clone().requires_grad_() for t in (q, k, v)]
    ref = _attend_selected(*ref_args, blocks, torch.arange(n, device=DEVICE), bs)
    ref.backward(do.double())
    assert _rel(out, ref) < FP32_TOL
    tol = 1e-5 if DEVICE == "cpu" else 1e-2
    for name, got, want in zip(["q", "k", "v"], args, ref_args):
        if want.grad.norm() == 0:  # n = 1: one key, so dq is exactly zero; rounding is all we get
            assert got.grad.abs().max() < tol, name
        else:
            assert _rel(got.grad, want.grad) < tol, name


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision(dtype):
    if DEVICE == "cpu" and dtype == torch.bfloat16:
        pytest.skip("Triton's CPU interpreter computes bf16 tl.dot wrongly; bf16 is checked on the GPU")
    g = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(1, h, 160, 64, generator=g).to(DEVICE, dtype) for h in (4, 2, 2))
    blocks = _random_selection(1, 2, 160, 32, 2, seed=5)
    out = block_sparse_attention(q, k, v, blocks, block_size=32)
    ref = _attend_selected(q.double(), k.double(), v.double(), blocks, torch.arange(160, device=DEVICE), 32)
    assert out.dtype == dtype and _rel(out, ref) < 1e-2


def test_lists_built_in_tile_ranges_equal_one_pass(monkeypatch):
    from dashbench.kernels.dash import block_sparse

    blocks = _random_selection(2, 3, 300, 16, 4, seed=1)
    whole = selection_lists(blocks, bm=8, block_size=16)
    monkeypatch.setattr(block_sparse, "_DENSE_WORDS", 40)  # two tiles of 19 blocks at a time
    ranged = selection_lists(blocks, bm=8, block_size=16)
    for a, b in zip(whole, ranged):
        assert torch.equal(a, b)


def test_single_token_lists_equal_the_general_ones():
    from dashbench.kernels.dash.block_sparse import _single_token_lists

    blocks = _random_selection(2, 2, 200, 16, 5, seed=2)[:, :, -1:]  # the last token: position 199
    fast = _single_token_lists(blocks, 16, q_offset=199)
    offsets, counts, ids, _ = selection_lists(torch.cat([blocks, blocks], 2), bm=2, block_size=16, q_offset=199)
    assert torch.equal(fast[1][..., 0], counts[..., 0])
    for bh in range(4):
        b, h = divmod(bh, 2)
        n = int(fast[1][b, h, 0])
        got = fast[2][int(fast[0][b, h, 0]) : int(fast[0][b, h, 0]) + n]
        assert torch.equal(got, ids[int(offsets[b, h, 0]) : int(offsets[b, h, 0]) + n])


def test_gradients_with_a_transposed_query_view():
    """q as a [B, N, H, D] -> [B, H, N, D] view (not contiguous): the backward must not index
    dO and dq with the view's strides."""
    g = torch.Generator().manual_seed(9)
    q = torch.randn(1, 128, 4, 64, generator=g).to(DEVICE).transpose(1, 2)
    k, v = (torch.randn(1, 2, 128, 64, generator=g).to(DEVICE) for _ in range(2))
    blocks = _random_selection(1, 2, 128, 32, 3, seed=9)
    results = []
    for qq in (q, q.contiguous()):
        args = [qq.detach().clone().requires_grad_() if i == 0 else t.clone().requires_grad_()
                for i, t in enumerate((qq, k, v))]  # fmt: skip
        if not qq.is_contiguous():
            args[0] = q.detach().transpose(1, 2).clone().transpose(1, 2).requires_grad_()
        out = block_sparse_attention(*args, blocks, block_size=32)
        out.backward(torch.ones_like(out))
        results.append([out] + [a.grad for a in args])
    for name, a, b in zip(("out", "dq", "dk", "dv"), *results):
        assert _rel(a, b) < 1e-5, name
