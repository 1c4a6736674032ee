"""Split-KV decode over per-sequence block lists (InfLLMv2 and other top-k methods).

One query per sequence at the last position of the cache. Its selected earlier blocks (the
first ``count`` entries of its ascending list) are cut into ``n_split`` slices, one program
each; one more program attends the query's own, partial block. Each writes a partial softmax
state for the G query heads, and DashAttention's decode merge (without the prior's centring)
combines them: many programs share the work even at batch 1, where one program per
(batch, KV head) would leave the GPU idle.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from dashbench.kernels.dash.decode_kernels import _decode_combine_kernel, _fold_chunk, _own_chunk_state


@triton.jit
def _block_decode_kernel(
    Q, K, V, IDS, COUNTS, NCNT, M_OUT, L_OUT, ACC_OUT,
    stride_qb, stride_qh, stride_kb, stride_kh, stride_kn, stride_vb, stride_vh, stride_vn,
    n_keys, list_len, per_split, n_split, sm_scale,
    HKV: tl.constexpr, G: tl.constexpr, RP: tl.constexpr, C: tl.constexpr, D: tl.constexpr,
):  # fmt: skip
    split = tl.program_id(0)
    bh = tl.program_id(1)
    b = (bh // HKV).to(tl.int64)
    h = (bh % HKV).to(tl.int64)
    rows = tl.arange(0, RP)
    valid = rows < G
    dims = tl.arange(0, D)
    keys = tl.arange(0, C)
    q = tl.load(Q + b * stride_qb + (h * G + rows)[:, None] * stride_qh + dims[None, :],
                mask=valid[:, None], other=0.0)  # fmt: skip
    k_base = K + b * stride_kb + h * stride_kh
    v_base = V + b * stride_vb + h * stride_vh
    m_i = tl.full([RP], float("-inf"), tl.float32)
    l_i = tl.zeros([RP], tl.float32)
    acc = tl.zeros([RP, D], tl.float32)
    if split == n_split:  # the query's own block, up to the query (the last key)
        m_i, l_i, acc = _own_chunk_state(q, k_base, v_base, n_keys, stride_kn, stride_vn, valid, sm_scale, C, D)
    else:
        count = tl.load(COUNTS + bh)
        first = split * per_split
        last = tl.minimum(first + per_split, count)
        for i in range(first, last):
            c = tl.load(IDS + bh.to(tl.int64) * list_len + i)
            kpos = (c * C + keys).to(tl.int64)
            k = tl.load(k_base + kpos[:, None] * stride_kn + dims[None, :])
            v = tl.load(v_base + kpos[:, None] * stride_vn + dims[None, :])
            s = tl.where(valid[:, None], tl.dot(q, tl.trans(k)) * sm_scale, float("-inf"))
            m_i, l_i, acc = _fold_chunk(s, v, m_i, l_i, acc)
        tl.store(NCNT + bh * n_split + split, tl.maximum(last - first, 0))
    state = (bh * (n_split + 1) + split) * RP + rows
    tl.store(M_OUT + state, m_i)
    tl.store(L_OUT + state, l_i)
    tl.store(ACC_OUT + state[:, None] * D + dims[None, :], acc)


# Spans of a (batch, KV head) at most: DashAttention's decode took 128 at stop 17 (with a sliced
# combine); this path is not timed with more than 64.
MAX_SPLIT = 64


def block_decode(q, k, v, ids, counts, *, block_size: int, n_split: int | None = None):
    """Attention of ``q`` ``[B, Hq, 1, D]`` at the last position of ``k``/``v``
    ``[B, Hkv, L, D]`` over its own block and, per (batch, KV head), the first ``counts`` block
    ids of ``ids`` ``[B, Hkv, list_len]`` (earlier blocks). Returns ``(out, blocks attended
    [B, Hkv, 1])``."""
    B, Hq, _, D = q.shape
    Hkv, L = k.shape[1], k.shape[2]
    G = Hq // Hkv
    # caches are often views (a prefix of a larger buffer): any batch/head/row strides, but a
    # contiguous head dim
    q, k, v = (t if t.stride(-1) == 1 else t.contiguous() for t in (q, k, v))
    RP = max(16, triton.next_power_of_2(G))  # tensor-core tiles need 16 rows
    BH = B * Hkv
    list_len = ids.shape[-1]
    # about four programs per SM on an H100, as DashAttention's decode
    n_split = n_split or max(1, min(MAX_SPLIT, 528 // BH, list_len))
    per_split = max(1, math.ceil(list_len / n_split))
    n_split = max(1, math.ceil(list_len / per_split))
    states = BH * (n_split + 1) * RP
    f32 = torch.empty(states * (2 + D) + BH * n_split, device=q.device, dtype=torch.float32)
    m_part, l_part, acc_part, l_sum = f32.split([states, states, states * D, BH * n_split])
    i32 = torch.empty(BH * (n_split + 1), device=q.device, dtype=torch.int32)
    n_count, count = i32.split([BH * n_split, BH])
    ids = ids.reshape(BH, list_len).to(torch.int32).contiguous()
    _block_decode_kernel[(n_split + 1, BH)](
        q, k, v, ids, counts.reshape(BH).to(torch.int32).contiguous(), n_count, m_part, l_part, acc_part,
        q.stride(0), q.stride(1), k.stride(0), k.stride(1), k.stride(2), v.stride(0), v.stride(1), v.stride(2),
        L, list_len, per_split, n_split, 1.4426950408889634 / math.sqrt(D),
        HKV=Hkv, G=G, RP=RP, C=block_size, D=D,
    )  # fmt: skip
    out = torch.empty_like(q)
    nsp = triton.next_power_of_2(n_split + 1)
    _decode_combine_kernel[(BH, G)](
        m_part, l_part, acc_part, l_sum, n_count, out, count, out.stride(0), out.stride(1), n_split,
        1.0, HKV=Hkv, G=G, RP=RP, D=D, NSP=nsp, ESTIMATE_DIAGONAL=False,
        num_warps=min(16, max(4, nsp * D // 8192)),
    )  # fmt: skip
    return out, count.view(B, Hkv, 1)
