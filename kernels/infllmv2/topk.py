"""Top-k block selection in Triton: exact, ties to the earlier block (the reference's stable
sort), ascending ids, ``-1``-padded.

One program per ``RB`` rows of block scores, each row in registers. Scores are ``>= 0`` or
``+-inf``, so their fp32 bit patterns order like the values (``-inf``, later blocks, has the
sign bit and is never selected). A bisection over the 31 value bits finds the k-th largest
key ``T``; every key above ``T`` is selected, and of the keys equal to ``T`` the earliest ones
until ``k``. ``torch.topk`` on the same rows took most of the selection time at 128k.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _topk_kernel(SCORES, OUT, n_rows, n_blocks, topk, stride_s,
                 RB: tl.constexpr, NB: tl.constexpr, KP: tl.constexpr):  # fmt: skip
    r = tl.program_id(0).to(tl.int64) * RB + tl.arange(0, RB)
    row_ok = r < n_rows
    j = tl.arange(0, NB)
    ok = row_ok[:, None] & (j < n_blocks)[None, :]
    x = tl.load(SCORES + r[:, None] * stride_s + j[None, :], mask=ok, other=float("-inf"))
    key = (x + 0.0).to(tl.int32, bitcast=True)  # + 0.0: no -0.0
    key = tl.where(key < 0, -1, key)
    n_valid = tl.sum((key >= 0).to(tl.int32), axis=1)
    k = tl.minimum(n_valid, topk)
    # largest T with count(key >= T) >= k, bit by bit from the top (T = 0 when k = 0)
    t = tl.zeros([RB], tl.int32)
    for bit in range(30, -1, -1):
        cand = t | (1 << bit)
        cnt = tl.sum((key >= cand[:, None]).to(tl.int32), axis=1)
        t = tl.where(cnt >= k, cand, t)
    above = key > t[:, None]
    equal = (key == t[:, None]) & (key >= 0)
    room = k - tl.sum(above.to(tl.int32), axis=1)
    eq_rank = tl.cumsum(equal.to(tl.int32), axis=1) - equal.to(tl.int32)
    chosen = (above | (equal & (eq_rank < room[:, None]))) & (k > 0)[:, None]
    slot = tl.cumsum(chosen.to(tl.int32), axis=1) - chosen.to(tl.int32)
    out_base = OUT + r[:, None] * topk
    tl.store(out_base + slot, j[None, :] + tl.zeros([RB, NB], tl.int32), mask=chosen & ok)
    s = tl.arange(0, KP)
    tl.store(out_base + s[None, :], tl.full([RB, KP], -1, tl.int32),
             mask=row_ok[:, None] & (s[None, :] >= k[:, None]) & (s[None, :] < topk))  # fmt: skip


def topk_blocks(scores: torch.Tensor, topk: int) -> torch.Tensor:
    """``[..., n_blocks]`` fp32 block scores -> ``[..., topk]`` int32 selected ids."""
    *lead, n_blocks = scores.shape
    scores = scores.reshape(-1, n_blocks)
    if scores.stride(-1) != 1:
        scores = scores.contiguous()
    n_rows = scores.shape[0]
    out = torch.empty(n_rows, topk, device=scores.device, dtype=torch.int32)
    nb = triton.next_power_of_2(n_blocks)
    rb = max(1, min(16, 4096 // nb))
    _topk_kernel[(triton.cdiv(n_rows, rb),)](
        scores, out, n_rows, n_blocks, topk, scores.stride(0),
        RB=rb, NB=nb, KP=triton.next_power_of_2(topk), num_warps=4 if nb <= 4096 else 8,
    )  # fmt: skip
    return out.view(*lead, topk)
