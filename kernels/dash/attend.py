"""Stage 3: prior-biased token softmax over the routed chunks (forward).

One program per (query tile, batch, KV head), with the same row layout as the router (the
``G`` heads of ``BM`` consecutive tokens of one chunk). It attends the tile's own (diagonal)
chunk first, with the causal mask, then every earlier chunk in the tile's union list. For
each such chunk it recomputes the routing probability of every row from the stored threshold
(one dot of the row with the chunk summary: ``D`` flops per row against ``C * D`` for the
attention itself), so no ``N x N/C`` prior is ever stored; tokens that did not route to the
chunk get a ``-inf`` bias, so each row still attends exactly its own chunk set. Given ``bias``
(``prior.listed_bias``: the listed pairs' biases only, ``BM`` floats each) it reads them instead.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from dashbench.kernels.dash.common import (
    _bias,
    _chunk_kv,
    _chunk_sources,
    _fp32_rows,
    _next_chunk,
    _routing,
    _token_mask_bias,
)

LOG2E = 1.4426950408889634
# The fp32 q of the per-row routing dot in the tensor cores' accumulator layout
# (common._fp32_rows): on the sm_90 cubin 25 shuffles instead of 465 and 96 instead of 544 B of
# spills a thread (G=4, TMA), but no faster on the H100 (results/reference/h100-dash/stop16/:
# 128k, 32/8 heads, 25%: 96.1 vs 95.9 ms; 32k: 6.09 vs 6.05 ms), so off.
ROUTE_MMA_LAYOUT = False
# The tile's own (diagonal) chunk after the listed ones instead of before. First, its K and V
# stay in shared memory beside the loop's pipeline buffers (ncu at 32k, G=4, TMA, 2 stages: 115
# KB a CTA, two CTAs an SM, latency-bound). Last, a third stage fits. H100, structured 25%
# (results/reference/h100-dash/stop17/), 128k, 32/8 heads: with the prior 95.1 ms first (2
# stages) vs 105.7 last (2 stages) and 144.9 (3 stages), so off for DashAttention; without it
# (the block-sparse kernel of InfLLMv2 and NSA) 88.8 first vs 82.1 last at 3 stages (32/2:
# 52.1 vs 48.8; 32k: 5.69 vs 5.58 and 3.54 vs 3.47 ms), so block_sparse.py takes it there.
ATTEND_DIAGONAL_LAST = False


@triton.jit
def _chunk_bias(qf, s_base, stride_sc, c, dims, tau, log_g, valid, xscale, inv_sigma,
                G: tl.constexpr, GP: tl.constexpr, BM: tl.constexpr, R: tl.constexpr,
                ESTIMATE_DIAGONAL: tl.constexpr):  # fmt: skip
    """Per row, the base-2 log-prior bias of chunk ``c``: routing recomputed from the stored
    threshold (one D-length dot per row), ``-inf`` where the row's token did not route to it."""
    summary = tl.load(s_base + c * stride_sc + dims)
    sr, p_bar = _routing(qf, summary, tau, valid, xscale, G, GP, BM, R)
    return _base2_bias(p_bar, log_g, inv_sigma, ESTIMATE_DIAGONAL)


@triton.jit
def _base2_bias(p_bar, log_g, inv_sigma, ESTIMATE_DIAGONAL: tl.constexpr):
    bias, routed = _bias(p_bar, log_g, inv_sigma, ESTIMATE_DIAGONAL)
    return bias * 1.4426950408889634  # base 2 (-inf stays -inf)


@triton.jit
def _online_softmax_step(s, v, m_i, l_i, acc):
    """Fold one block of base-2 scores ``s`` and values ``v`` into the running max, sum and
    output (every row's running max is finite already: the diagonal chunk came first, or the
    max starts at a finite floor)."""
    m_new = tl.maximum(m_i, tl.max(s, axis=1))
    alpha = tl.exp2(m_i - m_new)
    p = tl.exp2(s - m_new[:, None])
    return m_new, l_i * alpha + tl.sum(p, axis=1), acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)


@triton.jit
def _diagonal_scores(q, k_base, v_base, own, pos, n_keys, stride_kn, sm_scale, C: tl.constexpr, D: tl.constexpr):
    """Base-2 scores of the tile's own chunk, causally masked, and its values."""
    keys = tl.arange(0, C)
    dims = tl.arange(0, D)
    kpos = own.to(tl.int64) * C + keys
    kvalid = kpos < n_keys
    k = tl.load(k_base + kpos[:, None] * stride_kn + dims[None, :], mask=kvalid[:, None], other=0.0)
    v = tl.load(v_base + kpos[:, None] * stride_kn + dims[None, :], mask=kvalid[:, None], other=0.0)
    # Scores are kept in base 2 (sm_scale and the bias carry log2(e)), so softmax uses exp2.
    s = tl.dot(q, tl.trans(k)) * sm_scale
    return tl.where((kpos[None, :] <= pos[:, None]) & kvalid[None, :], s, float("-inf")), v


@triton.jit
def _attend_fwd_kernel(
    Q, K, V, S, TAU, LOGG, OFFSETS, COUNTS, IDS, TOKMASK, OUT, LSE, BIAS,
    stride_qb, stride_qh, stride_qn,
    stride_kb, stride_kh, stride_kn,
    stride_sb, stride_sh, stride_sc,
    stride_ob, stride_oh, stride_on,
    N, q_offset, n_keys, n_tiles, xscale, sm_scale, inv_sigma,
    HKV: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, BM: tl.constexpr, C: tl.constexpr,
    D: tl.constexpr, ESTIMATE_DIAGONAL: tl.constexpr, TMA: tl.constexpr, PRIOR: tl.constexpr,
    ROUTE_MMA_LAYOUT: tl.constexpr = False,
    DIAGONAL_LAST: tl.constexpr = False, STORED_BIAS: tl.constexpr = False, HALF_BIAS: tl.constexpr = False,
):  # fmt: skip
    # PRIOR: DashAttention's log-prior bias, recomputed per listed chunk, or with STORED_BIAS
    # read from BIAS (prior.listed_bias: BM base-2 biases per listed chunk, in list order).
    # Otherwise plain block-sparse attention (InfLLMv2, NSA's selection): TOKMASK holds, per
    # listed chunk, a bit per token of the tile that selected it; the others get -inf.
    R: tl.constexpr = GP * BM
    t = n_tiles - 1 - tl.program_id(0)  # the longest tiles (last in the sequence) start first
    bh = tl.program_id(1)
    b = (bh // HKV).to(tl.int64)
    h = (bh % HKV).to(tl.int64)  # h * stride_kh passes 2^31 at long N with many KV heads
    rows = tl.arange(0, R)
    g = rows // BM
    qi = t.to(tl.int64) * BM + rows % BM  # query index; its key position is q_offset + qi
    pos = q_offset + qi
    valid = (qi < N) & (g < G)
    own = (q_offset + t * BM) // C
    dims = tl.arange(0, D)
    head = (h * G + g).to(tl.int64)
    q = tl.load(Q + b * stride_qb + head[:, None] * stride_qh + qi[:, None] * stride_qn
                + dims[None, :], mask=valid[:, None], other=0.0)  # fmt: skip
    if PRIOR and not STORED_BIAS:
        qf = _fp32_rows(q, D, ROUTE_MMA_LAYOUT)
        tau = tl.load(TAU + (b * HKV * G + head) * N + qi, mask=valid, other=float("inf"))
        log_g = tl.load(LOGG + (b * HKV + h) * N + qi, mask=valid, other=0.0)
    token_bit = (rows % BM).to(tl.int64)
    k_base = K + b * stride_kb + h * stride_kh
    v_base = V + b * stride_kb + h * stride_kh

    if DIAGONAL_LAST:
        # A finite start: rows that route none of the listed chunks keep it, and exp2 of -inf
        # scores against it is 0 (never inf - inf) until the diagonal chunk comes.
        m_i = tl.full([R], -1.0e30, tl.float32)
        l_i = tl.zeros([R], tl.float32)
        acc = tl.zeros([R, D], tl.float32)
    else:
        # The diagonal chunk first: every valid row sees at least its own key, so m_i is finite
        # afterwards.
        s, v = _diagonal_scores(q, k_base, v_base, own, pos, n_keys, stride_kn, sm_scale, C, D)
        m_i = tl.max(s, axis=1)
        p = tl.exp2(s - m_i[:, None])
        l_i = tl.sum(p, axis=1)
        acc = tl.dot(p.to(v.dtype), v)

    tile = (b * HKV + h) * n_tiles + t
    start = tl.load(OFFSETS + tile)
    n_chunks = tl.load(COUNTS + tile)
    s_base = S + b * stride_sb + h * stride_sh
    k_src, v_src = _chunk_sources(k_base, v_base, n_keys, stride_kn, C, D, TMA)
    # A plain loop over the tile's chunk list (no branch).
    c_next = tl.load(IDS + start, mask=n_chunks > 0, other=0)
    for i in range(0, n_chunks):
        c, c_next = _next_chunk(IDS + start, i, n_chunks, c_next, TMA)
        if PRIOR and STORED_BIAS:
            if HALF_BIAS:  # fp16 biases read as int32 pairs: cp.async, which the pipeliner
                # uses for these loads, moves 4 bytes at least (2-byte loads ran 82 -> 90 ms)
                word = tl.load(BIAS + (start + i) * (BM // 2) + token_bit // 2)
                half = tl.where(token_bit % 2 == 0, word, word >> 16) & 0xFFFF
                bias = half.to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32)
            else:
                bias = tl.load(BIAS + (start + i) * BM + token_bit)  # the row's token's bias
        elif PRIOR:
            bias = _chunk_bias(qf, s_base, stride_sc, c, dims, tau, log_g, valid, xscale, inv_sigma,
                               G, GP, BM, R, ESTIMATE_DIAGONAL)  # fmt: skip
        else:
            bias = _token_mask_bias(TOKMASK + start + i, token_bit)
        k, v = _chunk_kv(k_src, v_src, c, stride_kn, C, D, TMA)
        s = tl.dot(q, tl.trans(k)) * sm_scale + bias[:, None]
        m_i, l_i, acc = _online_softmax_step(s, v, m_i, l_i, acc)

    if DIAGONAL_LAST:
        s, v = _diagonal_scores(q, k_base, v_base, own, pos, n_keys, stride_kn, sm_scale, C, D)
        m_i, l_i, acc = _online_softmax_step(s, v, m_i, l_i, acc)
    out = acc / l_i[:, None]
    tl.store(OUT + b * stride_ob + head[:, None] * stride_oh + qi[:, None] * stride_on
             + dims[None, :], out.to(OUT.dtype.element_ty), mask=valid[:, None])  # fmt: skip
    # natural-log LSE, for the backward
    tl.store(LSE + (b * HKV * G + head) * N + qi, (m_i + tl.log2(l_i)) * 0.6931471805599453, mask=valid)


def attend(q, k, v, summaries, tau, log_g, offsets, counts, ids, *, chunk_size, scaling=1.0, sigma=1.0,
           estimate_diagonal=True, bm, gp, num_warps=4, num_stages=3, q_offset=0, tma=False,
           token_masks=None, route_mma_layout=None, diagonal_last=None, bias=None):  # fmt: skip
    """Run stage 3 over each tile's chunk list (``offsets``/``counts``/``ids`` from
    ``route.chunk_lists``); returns ``(out [B, Hq, N, D] in q's dtype, lse [B, Hq, N] fp32)``.

    With ``token_masks`` (int64, one per list entry: bit ``j`` set when token ``j`` of the tile
    selected the chunk) it is plain block-sparse attention without the prior, and
    ``summaries``, ``tau``, ``log_g`` may be ``None``. Every token attends its own chunk
    (causally) in both modes. ``route_mma_layout``, ``diagonal_last``: see ``ROUTE_MMA_LAYOUT``
    and ``ATTEND_DIAGONAL_LAST`` (None: their values). ``bias``: the prior's biases of the listed
    pairs from ``prior.listed_bias`` (``[n_pairs, bm]``), read instead of recomputed."""
    prior = token_masks is None
    if not prior:
        summaries = tau = log_g = q.new_zeros(1, 1, 1)
    else:
        token_masks = ids
    B, Hq, N, D = q.shape
    Hkv, n_keys = k.shape[1], k.shape[2]
    n_tiles = counts.shape[2]
    if k.stride() != v.stride() or k.stride(-1) != 1:
        raise ValueError("k and v must share strides, with the head dim contiguous")
    if tma and not tma_ready(k, v):
        raise ValueError("tma=True needs 16-byte aligned K/V rows and bases")
    if prior and bias is not None and (bias.shape != (max(1, ids.numel()), bm)
                                       or bias.dtype not in (torch.float32, torch.float16)
                                       or not bias.is_contiguous()):  # fmt: skip
        raise ValueError(f"bias must be contiguous fp32 or fp16 [{max(1, ids.numel())}, {bm}] (prior.listed_bias "
                         f"over these lists); got {bias.dtype} {tuple(bias.shape)}")  # fmt: skip
    half_bias = prior and bias is not None and bias.dtype == torch.float16
    if half_bias and bm % 2:
        raise ValueError(f"fp16 biases need an even number of tile tokens (read in pairs); bm is {bm}")
    out = torch.empty_like(q)
    lse = torch.empty(B, Hq, N, device=q.device, dtype=torch.float32)
    _attend_fwd_kernel[(n_tiles, B * Hkv)](
        q, k, v, summaries, tau, log_g, offsets, counts, ids,
        token_masks, out, lse, (bias.view(torch.int32) if half_bias else bias) if bias is not None else lse,
        q.stride(0), q.stride(1), q.stride(2),
        k.stride(0), k.stride(1), k.stride(2),
        summaries.stride(0), summaries.stride(1), summaries.stride(2),
        out.stride(0), out.stride(1), out.stride(2),
        N, q_offset, n_keys, n_tiles, 0.5 * scaling / math.sqrt(D), LOG2E / math.sqrt(D), 1.0 / sigma,
        HKV=Hkv, G=Hq // Hkv, GP=gp, BM=bm, C=chunk_size, D=D,
        ESTIMATE_DIAGONAL=estimate_diagonal, TMA=tma, PRIOR=prior,
        ROUTE_MMA_LAYOUT=ROUTE_MMA_LAYOUT if route_mma_layout is None else route_mma_layout,
        DIAGONAL_LAST=ATTEND_DIAGONAL_LAST if diagonal_last is None else diagonal_last,
        STORED_BIAS=prior and bias is not None, HALF_BIAS=half_bias,
        num_warps=num_warps, num_stages=num_stages,
    )  # fmt: skip
    return out, lse


_scratch_device = "cuda"


def _scratch(size: int, alignment: int, stream):
    """Global scratch for descriptors that kernels create on the device."""
    return torch.empty(size, dtype=torch.int8, device=_scratch_device)


def tma_ready(k: torch.Tensor, v: torch.Tensor) -> bool:
    """Whether K and V suit device-side tensor descriptors (16-byte aligned per-(batch, head)
    bases and rows); sets Triton's scratch allocator the descriptors need."""
    ok = all(
        t.stride(-1) == 1
        and (t.stride(-2) * t.element_size()) % 16 == 0
        and all((st * t.element_size()) % 16 == 0 for st in t.stride()[:2])
        and t.data_ptr() % 16 == 0
        for t in (k, v)
    )
    if ok:
        global _scratch_device
        _scratch_device = k.device
        triton.set_allocator(_scratch)
    return ok
