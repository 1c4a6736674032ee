"""Block-sparse attention over per-token block selections: the DashAttention attention kernels
without the prior, shared with InfLLMv2 and NSA's selection branch.

Each query token attends its own block causally plus the earlier blocks it selected
(``blocks [B, Hkv, N, K]``, ``-1`` for unused slots; shared by the token's GQA group). The
kernels run on tiles of ``BM`` tokens x ``G`` heads: a tile's list is the union of its tokens'
selections, and each list entry carries a 64-bit word with a bit per token that selected it,
so every row still attends exactly its own set.
"""

from __future__ import annotations

import torch

from dashbench.kernels.dash.attend import attend, tma_ready
from dashbench.kernels.dash.backward import block_sparse_backward
from dashbench.kernels.dash.interface import ATTEND_TMA, ATTEND_TMA_STAGES, check_kernel_limits
from dashbench.kernels.dash.route import padded_group, tile_rows
from dashbench.kernels.reference.attention import check_attention_inputs

ATTEND_ROWS = 64
_DENSE_WORDS = 1 << 24  # (tile, block) words held at once while building lists (128 MiB)


def check_block_kernel_inputs(q, k, v, block_size: int) -> None:
    """What the block-sparse kernels accept (InfLLMv2, NSA); ``ValueError`` names the problem."""
    check_attention_inputs(q, k, v)
    check_kernel_limits(q, k, block_size, "block_size")


def selection_lists(blocks: torch.Tensor, bm: int, block_size: int, q_offset: int = 0):
    """Per-tile lists from per-token selections: ``(offsets [B, Hkv, n_tiles] int64, counts
    int32, ids int32, token_masks int64)``. Query ``i`` sits at key position ``q_offset + i``.
    Blocks at or after a token's own are left out (the kernels attend the own block
    themselves); entries of a tile are ascending.

    The tokens' bits are added into a dense ``[tiles, n_blocks]`` word array (a token's ids are
    distinct, so adding is OR-ing) whose non-zero entries are the list. Tiles of every (batch,
    KV head) are taken together, in ranges that keep that array and the temporaries under
    ``_DENSE_WORDS``: a loop per head cost more in launches and syncs than in work at 32k."""
    B, H, N, K = blocks.shape
    if N == 1:
        return _single_token_lists(blocks, block_size, q_offset)
    n_tiles = -(-N // bm)
    n_blocks = -(-(N + q_offset) // block_size)
    dev = blocks.device
    flat = blocks.reshape(B * H, N, K)
    total = B * H * n_tiles  # (batch x head, tile) pairs, in list order
    step = max(1, min(_DENSE_WORDS // n_blocks, _DENSE_WORDS // (bm * K)))  # pairs per range
    row = torch.arange(bm, device=dev)
    bits = torch.bitwise_left_shift(torch.ones_like(row), row)[:, None]  # a token's bit in its tile's word
    ids, words, counts = [], [], []
    for g0 in range(0, total, step):
        g = torch.arange(g0, min(g0 + step, total), device=dev)
        tok = (g % n_tiles * bm)[:, None] + row  # [pairs, bm]
        sel = flat[(g // n_tiles)[:, None], tok.clamp(max=N - 1)].long()  # [pairs, bm, K]
        keep = (tok < N)[..., None] & (sel >= 0) & (sel < ((q_offset + tok) // block_size)[..., None])
        where = (g - g0)[:, None, None] * n_blocks + sel.clamp(min=0)
        dense = torch.zeros(len(g) * n_blocks, device=dev, dtype=torch.int64)
        dense.scatter_add_(0, where.flatten(), torch.where(keep, bits, 0).flatten())
        nz = dense.nonzero().squeeze(1)  # ascending: by (head, tile), then block
        ids.append((nz % n_blocks).to(torch.int32))
        words.append(dense[nz])
        counts.append(torch.bincount(nz // n_blocks, minlength=len(g)))
    counts = torch.cat(counts)
    offsets = torch.cumsum(counts, 0) - counts
    ids, words = torch.cat(ids), torch.cat(words)
    if ids.numel() == 0:
        ids, words = torch.zeros(1, device=dev, dtype=torch.int32), torch.zeros(1, device=dev, dtype=torch.int64)
    shape = (B, H, n_tiles)
    return offsets.view(shape), counts.to(torch.int32).view(shape), ids, words


def _single_token_lists(blocks: torch.Tensor, block_size: int, q_offset: int):
    """The lists of one query per sequence (decode) without a host sync: its selection,
    ascending and ``-1``-padded, already is the list once the own block is left out."""
    B, H, _, K = blocks.shape
    own = q_offset // block_size
    earlier = (blocks >= 0) & (blocks < own)
    counts = earlier.sum(-1, dtype=torch.int32).view(B, H, 1)
    offsets = (torch.arange(B * H, device=blocks.device) * K).view(B, H, 1)
    words = torch.ones(B * H * K, device=blocks.device, dtype=torch.int64)
    return offsets, counts, blocks.reshape(-1).to(torch.int32), words


# The own block after the selected ones, with three pipeline stages (attend.ATTEND_DIAGONAL_LAST):
# H100, 25% of structured inputs (results/reference/h100-dash/stop17/), 128k, 32/8 heads: 88.8 ->
# 82.1 ms, 32/2: 52.1 -> 48.8 ms; 32k: 5.69 -> 5.58 and 3.54 -> 3.47 ms.
DIAGONAL_LAST = True


class _BlockSparseAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, offsets, counts, ids, token_masks, block_size, bm, gp):
        q = q if q.stride(-1) == 1 else q.contiguous()
        k, v = k.contiguous(), v.contiguous()
        tma = ATTEND_TMA and tma_ready(k, v)  # as DashAttention's forward (timed there)
        out, lse = attend(q, k, v, None, None, None, offsets, counts, ids, chunk_size=block_size,
                          bm=bm, gp=gp, token_masks=token_masks, tma=tma, diagonal_last=DIAGONAL_LAST,
                          num_stages=3 if DIAGONAL_LAST or not tma else ATTEND_TMA_STAGES)  # fmt: skip
        ctx.save_for_backward(q, k, v, out, lse, offsets, counts, ids, token_masks)
        ctx.args = dict(chunk_size=block_size, bm=bm, gp=gp)
        return out

    @staticmethod
    def backward(ctx, d_out):
        q, k, v, out, lse, offsets, counts, ids, token_masks = ctx.saved_tensors
        # the backward kernels index q, dO and dq with q's strides: a contiguous q (as
        # DashAttention's), since d_out is made contiguous and dq is allocated so
        dq, dk, dv = block_sparse_backward(q.contiguous(), k, v, out, lse, d_out, offsets, counts, ids,
                                           token_masks, **ctx.args)  # fmt: skip
        return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype), None, None, None, None, None, None, None


def block_sparse_attention(q, k, v, blocks, *, block_size: int = 64, lists=None) -> torch.Tensor:
    """Causal attention of each query token over its own block and its selected earlier blocks.

    Args:
        q: ``[B, Hq, N, D]``; k, v: ``[B, Hkv, N, D]`` (a prefill: as many queries as keys).
        blocks: ``[B, Hkv, N, K]`` selected block ids per token (``-1`` unused); the token's own
            block is always attended, listed or not.
        block_size: tokens per block (32, 64 or 128: the kernels' chunk sizes).
        lists: ``selection_lists(blocks, tile_rows(G, block_size), block_size)`` if already built.

    Differentiable in q, k, v (not in the selection).
    """
    G = q.shape[1] // k.shape[1]
    bm, gp = tile_rows(G, block_size, ATTEND_ROWS), padded_group(G)
    if lists is None:
        lists = selection_lists(blocks, bm, block_size)
    return _BlockSparseAttention.apply(q, k, v, *lists, block_size, bm, gp)


def tiles_for(group: int, block_size: int) -> int:
    """Tokens per kernel tile for a GQA group (what ``selection_lists`` needs as ``bm``)."""
    return tile_rows(group, block_size, ATTEND_ROWS)
