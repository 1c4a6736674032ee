"""DashAttention backward in Triton (see the spec's "Backward" section).

* ``_bwd_q_kernel``, one program per query tile (the forward's tiles and chunk lists): the
  attention backward for dq; per listed chunk the bias gradient ``beta`` (sum of ``dS`` over the
  chunk's keys and the token's G heads), pushed through the prior (centring on ``log_g`` and
  ``1/sigma``), the GQA mean and 1.5-entmax into dq and into the chunk summaries (atomics into an
  fp32 ``[B, Hkv, n_chunks, D]`` buffer). The entmax backward needs per-row sums over the
  support, so the summary gradient takes a second, cheap loop (no attention) once they are known;
  by default (``BWD_Q_DEFERRED_TERMS``) the first loop only stores each (token, listed chunk)'s
  dp and the second forms both of the JVP's terms, one atomic a listed chunk.
  ``sum over the routed chunks of beta = -beta_diagonal`` (every dS row sums to zero), which gives
  the prior's centring term without a first pass.
* ``_bwd_kv_kernel``, one program per (KV chunk, batch, KV head): dk and dv over the tiles whose
  own chunk it is and the tiles that list it (the lists transposed on the host).
* Stage 1 (summaries from keys and ``head_cls``) is differentiated by
  ``summarize.summarize_backward``, one pass that also adds into dk and casts dk and dv.

On sm_90 with bf16/fp16 inputs, 64-row tiles and 64-key chunks, the two kernels run as Gluon
ones instead (``gluon_bwd_q.py``: the dq kernel's deferred path; ``gluon_bwd_kv.py``: dk/dv from
the forward's stored biases); the Triton kernels here stay the path everywhere else and the
reference the Gluon ones are tested against.
"""

from __future__ import annotations

import math
import os

import torch
import triton
import triton.language as tl

from dashbench.kernels.dash.attend import tma_ready
from dashbench.kernels.dash.common import (
    _bias,
    _chunk_kv,
    _chunk_sources,
    io_bytes,
    _fp32_rows,
    _next_chunk,
    _prior_dp,
    _routing,
    _routing_from_scores,
    _token_mask_bias,
    _token_sum,
)
from dashbench.kernels.dash.summarize import summarize_backward


@triton.jit
def _bwd_q_kernel(
    Q, K, V, S, TAU, LOGG, CNT, OFFSETS, COUNTS, IDS, TOKMASK, DO, LSE, DELTA, DQ, DSUM, KROW, BMEAN,
    stride_qb, stride_qh, stride_qn,
    stride_kb, stride_kh, stride_kn,
    N, n_tiles, n_chunks, xscale, sm_scale, inv_sigma,
    HKV: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, BM: tl.constexpr, C: tl.constexpr,
    D: tl.constexpr, ESTIMATE_DIAGONAL: tl.constexpr, TMA: tl.constexpr, PRIOR: tl.constexpr,
    SUMMARY_IN_KV: tl.constexpr, ONE_PASS: tl.constexpr, ROUTE_MMA_LAYOUT: tl.constexpr = False,
    ATOMIC_SEM: tl.constexpr = "acq_rel", DPT=0, DEFERRED: tl.constexpr = False,
):  # fmt: skip
    # PRIOR: DashAttention (bias and its gradient through the routing); otherwise plain
    # block-sparse attention with per-token selection bits (TOKMASK, as in the forward).
    # DEFERRED (PRIOR, summary gradient by atomics, two passes): the first pass stores each
    # (token, listed chunk)'s routing-probability gradient dp in DPT (BM floats a list entry) and
    # the second forms the entmax JVP's two terms together once k_row is known: one summary
    # atomic and one rank-1 update of dq a listed chunk instead of two.
    R: tl.constexpr = GP * BM
    t = tl.program_id(0)
    bh = tl.program_id(1)
    b = (bh // HKV).to(tl.int64)
    h = (bh % HKV).to(tl.int64)
    rows = tl.arange(0, R)
    g = rows // BM
    pos = t.to(tl.int64) * BM + rows % BM
    valid = (pos < N) & (g < G)
    own = (t * BM) // C
    dims = tl.arange(0, D)
    head = h * G + g
    row_off = b * stride_qb + head[:, None] * stride_qh + pos[:, None] * stride_qn + dims[None, :]
    q = tl.load(Q + row_off, mask=valid[:, None], other=0.0)
    do = tl.load(DO + row_off, mask=valid[:, None], other=0.0)
    per_row = (b * HKV * G + head) * N + pos
    lse = tl.load(LSE + per_row, mask=valid, other=0.0)
    delta = tl.load(DELTA + per_row, mask=valid, other=0.0)
    if PRIOR:
        qf = _fp32_rows(q, D, ROUTE_MMA_LAYOUT)
        tau = tl.load(TAU + per_row, mask=valid, other=float("inf"))
        log_g = tl.load(LOGG + (b * HKV + h) * N + pos, mask=valid, other=0.0)
        n_routed = tl.load(CNT + (b * HKV + h) * N + pos, mask=valid, other=1) - 1
    token_bit = (rows % BM).to(tl.int64)
    zscale = 2.0 * xscale  # d z / d (q . S)
    k_base = K + b * stride_kb + h * stride_kh
    v_base = V + b * stride_kb + h * stride_kh
    keys = tl.arange(0, C)

    kpos = own.to(tl.int64) * C + keys
    kvalid = kpos < N
    k = tl.load(k_base + kpos[:, None] * stride_kn + dims[None, :], mask=kvalid[:, None], other=0.0)
    v = tl.load(v_base + kpos[:, None] * stride_kn + dims[None, :], mask=kvalid[:, None], other=0.0)
    s = tl.dot(q, tl.trans(k)) * sm_scale
    s = tl.where((kpos[None, :] <= pos[:, None]) & kvalid[None, :] & valid[:, None], s, float("-inf"))
    p = tl.exp(s - lse[:, None])
    ds = p * (tl.dot(do, tl.trans(v)) - delta[:, None])
    dq = tl.dot(ds.to(k.dtype), k) * sm_scale
    if PRIOR:
        beta_diag = _token_sum(tl.sum(ds, axis=1), GP, BM, R)
        # mean of beta over the routed earlier chunks (rows of dS sum to zero over all attended keys)
        beta_mean = -beta_diag / tl.maximum(n_routed, 1).to(tl.float32)

    tile = (b * HKV + h) * n_tiles + t
    start = tl.load(OFFSETS + tile)
    n_list = tl.load(COUNTS + tile)
    s_base = S + (b * HKV + h) * n_chunks * D
    sdp_sum = tl.zeros([R], tl.float32)  # sum over the support of sqrt(p) * dp
    s_sum = tl.zeros([R], tl.float32)  # sum over the support of sqrt(p)
    if ONE_PASS:  # sum over the support of sqrt(p) * summary, for the JVP's second term
        sr_sum = tl.zeros([R, D], tl.float32)
    dsum_base = DSUM + (b * HKV + h) * n_chunks * D
    k_src, v_src = _chunk_sources(k_base, v_base, N, stride_kn, C, D, TMA)
    c_next = tl.load(IDS + start, mask=n_list > 0, other=0)
    for i in range(0, n_list):
        c, c_next = _next_chunk(IDS + start, i, n_list, c_next, TMA)
        if PRIOR:
            summary = tl.load(s_base + c * D + dims)
            sr, p_bar = _routing(qf, summary, tau, valid, xscale, G, GP, BM, R)
            bias, routed = _bias(p_bar, log_g, inv_sigma, ESTIMATE_DIAGONAL)
        else:
            bias = _token_mask_bias(TOKMASK + start + i, token_bit)
        k, v = _chunk_kv(k_src, v_src, c, stride_kn, C, D, TMA)
        # Padding rows (g >= G, or past N) share their token's bias but have no lse: mask them,
        # or exp could overflow and a NaN would reach the token's beta.
        s = tl.where(valid[:, None], tl.dot(q, tl.trans(k)) * sm_scale + bias[:, None], float("-inf"))
        p = tl.exp(s - lse[:, None])
        ds = p * (tl.dot(do, tl.trans(v)) - delta[:, None])
        dq += tl.dot(ds.to(k.dtype), k) * sm_scale
        if PRIOR:
            dp = _prior_dp(ds, beta_mean, p_bar, routed, valid, inv_sigma, G, GP, BM, R, ESTIMATE_DIAGONAL)
            sdp = sr * dp
            sdp_sum += sdp
            s_sum += sr
            if DEFERRED:  # dp is the token's (the same on its G rows; 0 on padded rows)
                tl.store(DPT + (start + i) * BM + rows % BM, dp, mask=valid & (g == 0))
            else:
                # the entmax JVP's first term straight into dq (two [R, D] fp32 accumulators
                # beside dq made this kernel spill 6 KB a thread)
                dq += (zscale * sdp)[:, None] * summary[None, :]
                if ONE_PASS:
                    sr_sum += sr[:, None] * summary[None, :]
                if not SUMMARY_IN_KV:
                    term = tl.sum(sdp[:, None] * qf, axis=0) * zscale
                    tl.atomic_add(dsum_base + c * D + dims, term, sem=ATOMIC_SEM)
    if PRIOR:
        k_row = tl.where(s_sum > 0, sdp_sum / tl.where(s_sum > 0, s_sum, 1.0), 0.0)
        if SUMMARY_IN_KV:  # what the dk/dv kernel needs to form the summary gradient itself
            tl.store(KROW + per_row, k_row, mask=valid)
            tl.store(BMEAN + (b * HKV + h) * N + pos, beta_mean, mask=valid & (g == 0))
        if ONE_PASS:
            dq -= (zscale * k_row)[:, None] * sr_sum
        # The entmax JVP's second term, which needs k_row (known only now), for dq and summaries.
        for i in range(0, 0 if ONE_PASS else n_list):
            c = tl.load(IDS + start + i)
            summary = tl.load(s_base + c * D + dims)
            sr, p_bar = _routing(qf, summary, tau, valid, xscale, G, GP, BM, R)
            if DEFERRED:  # both terms: w = sqrt(p) (dp - k_row)
                dp = tl.load(DPT + (start + i) * BM + rows % BM, mask=valid, other=0.0)
                w = zscale * sr * (dp - k_row)
            else:
                w = -zscale * sr * k_row
            dq += w[:, None] * summary[None, :]
            if not SUMMARY_IN_KV:
                term = tl.sum(w[:, None] * qf, axis=0)
                tl.atomic_add(dsum_base + c * D + dims, term, sem=ATOMIC_SEM)
    tl.store(DQ + row_off, dq, mask=valid[:, None])


@triton.jit
def _summary_columns(summary, dtype: tl.constexpr, D: tl.constexpr):
    """The fp32 summary ``[D]`` as a ``[D, 16]`` operand of q's dtype whose columns sum to it:
    bf16 q, three bf16 pieces (8 + 8 + 8 bits: the products are exact and accumulate in fp32);
    fp32 q, the summary itself (an ieee product). Zero columns pad the tensor-core width."""
    cols = tl.arange(0, 16)[None, :]
    if dtype == tl.bfloat16:
        hi = summary.to(tl.bfloat16)
        rest = summary - hi.to(tl.float32)
        mid = rest.to(tl.bfloat16)
        lo = (rest - mid.to(tl.float32)).to(tl.bfloat16)
        out = tl.where(cols == 0, hi.to(tl.float32)[:, None],
                       tl.where(cols == 1, mid.to(tl.float32)[:, None],
                                tl.where(cols == 2, lo.to(tl.float32)[:, None], 0.0)))  # fmt: skip
        out = out.to(tl.bfloat16)
    else:
        out = tl.where(cols == 0, summary[:, None], 0.0)
    return out


@triton.jit
def _summary_dot(q, summary_columns):
    """Per row of q, its dot with the chunk's summary, on the tensor cores: the row sum lands
    in the accumulator layout (in-thread adds and two shuffles, no trip through shared memory)."""
    if q.dtype == tl.float32:
        x = tl.dot(q, summary_columns, input_precision="ieee")
    else:
        x = tl.dot(q, summary_columns)
    return tl.sum(x, axis=1)


@triton.jit
def _kv_tile(t, is_diag, word_at, dk, dv, d_sum, k, v, summary, Q, DO, LSE, DELTA, TAU, LOGG, BMEAN, KROW,
             T_WORDS, q_desc, do_desc, b, h, rows, g, head, kpos, kvalid, dims, token_bit, w_row, N, stride_qb,
             stride_qh, stride_qn, xscale, sm_scale, inv_sigma, zscale, HKV: tl.constexpr, G: tl.constexpr,
             GP: tl.constexpr, BM: tl.constexpr, R: tl.constexpr, D: tl.constexpr,
             ESTIMATE_DIAGONAL: tl.constexpr, TMA: tl.constexpr, PRIOR: tl.constexpr,
             SUMMARY_IN_KV: tl.constexpr, ROUTE_MMA: tl.constexpr = False):  # fmt: skip
    """Query tile ``t``'s share of this chunk's dk, dv and summary gradient: a tile inside the
    chunk (``is_diag``: causal mask, no bias) or a later one that listed it (``word_at``: its
    entry in the transposed lists; ``is_diag`` is a runtime flag). ``summary``: the chunk's
    summary, or with ``ROUTE_MMA`` its ``[D, 16]`` tensor-core operand (``_summary_columns``)."""
    pos = t.to(tl.int64) * BM + rows % BM
    valid = (pos < N) & (g < G)
    row_off = b * stride_qb + head[:, None] * stride_qh + pos[:, None] * stride_qn + dims[None, :]
    if TMA:
        # padded heads (g >= G) belong to the next group or lie past Hq: zeroed
        q = tl.where(valid[:, None], tl.reshape(q_desc.load([(h * G).to(tl.int32), t * BM, 0]), (R, D)), 0.0)
        do = tl.where(valid[:, None], tl.reshape(do_desc.load([(h * G).to(tl.int32), t * BM, 0]), (R, D)), 0.0)
    else:
        q = tl.load(Q + row_off, mask=valid[:, None], other=0.0)
        do = tl.load(DO + row_off, mask=valid[:, None], other=0.0)
    per_row = (b * HKV * G + head) * N + pos
    lse = tl.load(LSE + per_row, mask=valid, other=0.0)
    delta = tl.load(DELTA + per_row, mask=valid, other=0.0)
    s = tl.dot(q, tl.trans(k)) * sm_scale
    sr = tl.zeros([R], tl.float32)  # set on listed tiles (Triton wants both branches to define them)
    p_bar = tl.full([R], 1.0, tl.float32)
    routed = rows < 0
    if is_diag:
        s = tl.where((kpos[None, :] <= pos[:, None]) & kvalid[None, :] & valid[:, None], s,
                     float("-inf"))  # fmt: skip
    else:
        if PRIOR:
            tau = tl.load(TAU + per_row, mask=valid, other=float("inf"))
            log_g = tl.load(LOGG + (b * HKV + h) * N + pos, mask=valid, other=0.0)
            if ROUTE_MMA:  # summary: its [D, 16] column operand, built once a program
                sr, p_bar = _routing_from_scores(_summary_dot(q, summary) * xscale, tau, valid, G, GP, BM, R)
            else:
                sr, p_bar = _routing(q.to(tl.float32), summary, tau, valid, xscale, G, GP, BM, R)
            bias, routed = _bias(p_bar, log_g, inv_sigma, ESTIMATE_DIAGONAL)
        else:
            bias = _token_mask_bias(T_WORDS + word_at, token_bit)
        s = tl.where(valid[:, None], s + bias[:, None], float("-inf"))
    p = tl.exp(s - lse[:, None])
    ds = p * (tl.dot(do, tl.trans(v)) - delta[:, None])
    dv += tl.dot(tl.trans(p.to(do.dtype)), do)
    dk += tl.dot(tl.trans(ds.to(q.dtype)), q) * sm_scale
    if PRIOR and SUMMARY_IN_KV:
        if not is_diag:
            # The dq kernel's chain, for this chunk: beta -> d log p_bar -> dp -> entmax JVP.
            beta_mean = tl.load(BMEAN + (b * HKV + h) * N + pos, mask=valid, other=0.0)
            dp = _prior_dp(ds, beta_mean, p_bar, routed, valid, inv_sigma, G, GP, BM, R, ESTIMATE_DIAGONAL)
            k_row = tl.load(KROW + per_row, mask=valid, other=0.0)
            w = zscale * sr * (dp - k_row)
            w_mat = tl.where(w_row, w[None, :], 0.0)
            if Q.dtype.element_ty == tl.bfloat16:
                # w as a bf16 head and tail against q itself (16 bits of w; the same q operand as
                # dk's product): tf32x3 on an fp32 copy of q doubled this kernel's time. The head
                # alone was no faster (3b90eb8): the products are not what this block costs.
                w_hi = w_mat.to(tl.bfloat16)
                d_sum = tl.dot(w_hi, q, d_sum)
                d_sum = tl.dot((w_mat - w_hi.to(tl.float32)).to(tl.bfloat16), q, d_sum)
            else:
                d_sum += tl.dot(w_mat, q.to(tl.float32), input_precision="tf32x3")
    return dk, dv, d_sum


@triton.jit
def _bwd_kv_kernel(
    Q, K, V, S, TAU, LOGG, DO, LSE, DELTA, DK, DV, T_OFFSETS, T_COUNTS, T_TILES, T_WORDS, KROW, BMEAN, DSUM,
    stride_qb, stride_qh, stride_qn,
    stride_kb, stride_kh, stride_kn,
    N, n_tiles, n_chunks, xscale, sm_scale, inv_sigma,
    HKV: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, BM: tl.constexpr, C: tl.constexpr,
    D: tl.constexpr, ESTIMATE_DIAGONAL: tl.constexpr, TMA: tl.constexpr, PRIOR: tl.constexpr,
    SUMMARY_IN_KV: tl.constexpr, ROUTE_MMA: tl.constexpr = False,
):  # fmt: skip
    R: tl.constexpr = GP * BM
    c = tl.program_id(0)
    bh = tl.program_id(1)
    b = (bh // HKV).to(tl.int64)
    h = (bh % HKV).to(tl.int64)
    dims = tl.arange(0, D)
    keys = tl.arange(0, C)
    kpos = c.to(tl.int64) * C + keys
    kvalid = kpos < N
    kv_off = b * stride_kb + h * stride_kh + kpos[:, None] * stride_kn + dims[None, :]
    k = tl.load(K + kv_off, mask=kvalid[:, None], other=0.0)
    v = tl.load(V + kv_off, mask=kvalid[:, None], other=0.0)
    if PRIOR:
        summary = tl.load(S + (b * HKV + h) * n_chunks * D + c * D + dims)
        if ROUTE_MMA:
            summary = _summary_columns(summary, Q.dtype.element_ty, D)
    else:
        summary = 0.0  # unused without the prior (every argument of _kv_tile must be defined)
    dk = tl.zeros([C, D], tl.float32)
    dv = tl.zeros([C, D], tl.float32)
    rows = tl.arange(0, R)
    # This chunk's summary gradient, sum over listing rows of w_r q_r, on tensor cores: w sits
    # in row 0 of a [16, R] operand (no cross-warp reduction per tile, no atomics).
    d_sum = tl.zeros([16, D], tl.float32)
    w_row = (tl.arange(0, 16) == 0)[:, None]
    zscale = 2.0 * xscale
    g = rows // BM
    head = h * G + g
    token_bit = (rows % BM).to(tl.int64)
    first_diag = (c * C) // BM
    n_diag = tl.minimum((c + 1) * C // BM, n_tiles) - first_diag
    n_list = tl.load(T_COUNTS + bh * n_chunks + c)
    start = tl.load(T_OFFSETS + bh * n_chunks + c)
    if TMA:  # a tile's rows are GP heads x BM tokens: a [GP, BM, D] box of [Hq, N, D]
        q_desc = tl.make_tensor_descriptor(Q + b * stride_qb, shape=[HKV * G, N, D],
                                           strides=[stride_qh, stride_qn, 1], block_shape=[GP, BM, D])  # fmt: skip
        do_desc = tl.make_tensor_descriptor(DO + b * stride_qb, shape=[HKV * G, N, D],
                                            strides=[stride_qh, stride_qn, 1], block_shape=[GP, BM, D])  # fmt: skip
    if not TMA:
        q_desc = 0
        do_desc = 0
    # First the tiles inside this chunk (causal, no bias), then the later tiles that listed it.
    # (Two plain loops, one per kind of tile, were slower on the H100: stop 17, commit 90c9092.)
    for i in range(0, n_diag + n_list):
        if i < n_diag:
            t = first_diag + i
        else:
            t = tl.load(T_TILES + start + i - n_diag)
        dk, dv, d_sum = _kv_tile(
            t, i < n_diag, start + i - n_diag, dk, dv, d_sum, k, v, summary, Q, DO, LSE, DELTA, TAU, LOGG,
            BMEAN, KROW, T_WORDS, q_desc, do_desc, b, h, rows, g, head, kpos, kvalid, dims, token_bit, w_row,
            N, stride_qb, stride_qh, stride_qn, xscale, sm_scale, inv_sigma, zscale, HKV, G, GP, BM, R, D,
            ESTIMATE_DIAGONAL, TMA, PRIOR, SUMMARY_IN_KV, ROUTE_MMA)  # fmt: skip
    tl.store(DK + kv_off, dk, mask=kvalid[:, None])
    tl.store(DV + kv_off, dv, mask=kvalid[:, None])
    if PRIOR and SUMMARY_IN_KV:
        tl.store(DSUM + (b * HKV + h) * n_chunks * D + c * D + dims, tl.sum(tl.where(w_row, d_sum, 0.0), axis=0))


@triton.jit
def _row_dot_kernel(A, B, OUT, n_rows, D: tl.constexpr, ROWS: tl.constexpr):
    rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    mask = rows < n_rows
    offs = rows.to(tl.int64)[:, None] * D + tl.arange(0, D)[None, :]
    a = tl.load(A + offs, mask=mask[:, None], other=0.0).to(tl.float32)
    b = tl.load(B + offs, mask=mask[:, None], other=0.0).to(tl.float32)
    tl.store(OUT + rows, tl.sum(a * b, axis=1), mask=mask)


def row_dots(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(a.float() * b.float()).sum(-1)`` for contiguous ``[..., D]`` tensors in one pass (the
    backward's ``delta``): PyTorch's form converts both to fp32 copies first (at 32k, 32 heads,
    ~1.2 ms of a 29 ms training step on the H200)."""
    a, b = a.contiguous(), b.contiguous()
    D = a.shape[-1]
    out = torch.empty(a.shape[:-1], device=a.device, dtype=torch.float32)
    n_rows = out.numel()
    rows = 64 if D <= 128 else 32
    _row_dot_kernel[(triton.cdiv(n_rows, rows),)](a, b, out, n_rows, D=D, ROWS=rows)
    return out


def transpose_lists(offsets, counts, ids, n_chunks: int, words=None, *, packed: bool = False):
    """Tile -> chunks lists into chunk -> tiles lists: ``(offsets [B*Hkv, n_chunks], counts,
    tiles, words)``, tiles ascending within each chunk; ``words`` (per list entry, e.g. the
    token-selection bits) come back in the new order, or ``None``.

    Tile ``t``'s entries are ``ids[offsets[t] : offsets[t] + counts[t]]``. ``packed``: the
    lists lie back to back and ``ids`` holds exactly them (DashAttention's and the multi-token
    selection lists do; decode-style single-token lists are strided), or one placeholder entry
    when there are none. Then the pair count is ``ids``' length and, beyond the one-entry case,
    nothing waits for the GPU (``int(counts.sum())``, ``repeat_interleave`` without
    ``output_size`` and CUDA ``bincount`` each synced)."""
    bh_tiles = counts.numel()
    n_tiles = counts.shape[-1]
    c = counts.flatten().long()
    total = ids.numel() if packed and ids.numel() > 1 else int(c.sum())
    dev = counts.device
    tile_of_pair = torch.repeat_interleave(torch.arange(bh_tiles, device=dev), c, output_size=total)
    if packed:
        at = torch.arange(total, device=dev)
    else:  # each pair's place in ids: its tile's offset plus its rank in the tile
        start = torch.cumsum(c, 0) - c
        at = offsets.flatten().long()[tile_of_pair] + torch.arange(total, device=dev) - start[tile_of_pair]
    bh = tile_of_pair // n_tiles
    key = bh * n_chunks + ids[at].long()
    order = torch.sort(key, stable=True).indices
    tiles = (tile_of_pair[order] % n_tiles).to(torch.int32)
    t_counts = torch.zeros((bh_tiles // n_tiles) * n_chunks, device=dev, dtype=torch.int64)
    t_counts.index_add_(0, key, torch.ones_like(key))
    t_offsets = torch.cumsum(t_counts, 0) - t_counts
    if words is not None:
        words = words[at][order] if total else words[:1]
    if total == 0:
        tiles = torch.zeros(1, device=dev, dtype=torch.int32)
    return t_offsets.view(-1, n_chunks), t_counts.view(-1, n_chunks).to(torch.int32), tiles, words


# Measured at 32k, 25% (H100, results/reference/h100-dash/train/profile_backward_warps.json):
# dq 41.1 ms at 4 warps vs 65.1 at 8; dk/dv 31.0 ms at 4 vs 22.1 at 8 (Hkv=8).
BWD_Q_WARPS = 4
BWD_KV_WARPS = 8
# Where the chunk summaries' gradient is formed: True, in the dk/dv kernel (per chunk, no
# atomics); False, by atomics from every (tile, listed chunk) of the dq kernel; "auto", in the
# dk/dv kernel when a tile holds 8 tokens or more (G <= 8). Measured on the H100 at 25%
# (results/reference/h100-dash/bwd-summary/): dq + dk/dv + the rest, atomics -> in dk/dv,
# 76.4 -> 70.9 ms at 32k with 32/8 heads, 7.08 -> 6.76 ms at 8k; with 32/2 heads (G=16, 4-token
# tiles, so 4x more tile visits per chunk) 50.3 -> 50.2 ms at 32k and 6.15 -> 6.97 ms at 8k.
# Since the atomics are relaxed (BWD_RELAXED_ATOMICS, stop 18) they win at G = 4 too: backward
# kernels + forward 67.62 (in dk/dv) -> 63.83 ms at 32k, 32/8; 6.53 -> 6.11 at 8k
# (results/reference/h100-dash/stop18/47800f6/), so the default is the atomics at every G.
SUMMARY_IN_KV = False
# With the summary gradient in dk/dv: the dq kernel's entmax JVP in one pass over the list, an
# [R, D] fp32 sum of sqrt(p) * summary beside dq instead of a second pass that recomputes the
# routing. Off until timed on the H100 (registers: see kernels/README.md).
BWD_Q_ONE_PASS = False
# The dq kernel's fp32 q for the routing dot in the tensor cores' accumulator layout
# (common._fp32_rows): on the sm_90 cubin 28 shuffles instead of 912 and 1.5 instead of 3.3 KB of
# spills a thread (G=4). H100, 32k, 25% (results/reference/h100-dash/stop16/): dq kernel 22.5 ->
# 20.3 ms (32/8 heads, summary gradient in dk/dv), 24.7 -> 18.9 ms (32/2 heads, atomics).
BWD_Q_ROUTE_MMA_LAYOUT = True
# The dk/dv kernel's per-row routing dot (q against the chunk's summary, every listing tile) on
# the tensor cores: q times a [D, 16] operand whose columns are the summary's bf16 pieces (fp32
# q: the summary, ieee), so the row sums land in the accumulator layout. The fp32 copy of q and
# its cross-warp row sum go; the dq kernel gained 10-23% from the like change
# (BWD_Q_ROUTE_MMA_LAYOUT). fp16 keeps the plain dot. H100, 25% structured
# (results/reference/h100-dash/stop17/): with the summary gradient by atomics (G = 16) the dk/dv
# kernel 15.26 -> 14.59 ms at 32k (32/2), 2.67 -> 2.51 ms at 8k; with it in the dk/dv kernel
# (G <= 8) 35.29 -> 35.45 ms (32/8, 32k), 1.57 -> 1.57 (4/1, 8k).
# The dq kernel's like change (its operand built per listed chunk, commit da88dfc) was slower
# (dq 20.2 -> 30.1 ms at 32k, 32/8) and Triton 3.6 miscompiled it on the H100 at 16 and 32 columns
# (an out-of-bounds shared-memory read; wrong gradients): removed (stop17/ README). With relaxed
# atomics at G = 4 (stop 18) it lost: dk/dv 21.91 -> 23.44 ms (32k, 32/8), 1.97 -> 2.10 (8k); at
# G = 16 it still won (15.32 -> 14.60). "auto": on with the atomics where G > 8.
BWD_KV_ROUTE_MMA = "auto"
# The summary gradient's atomics (SUMMARY_IN_KV off) without memory ordering: they only need to
# be atomic, as the sums are read after the kernel. tl.atomic_add defaults to acq_rel, and each
# one compiled to an ordered `atom.global.gpu.acq_rel.add.f32`; relaxed, a `red`. H100, 32k, 25%
# (results/reference/h100-dash/stop18/47800f6/): dq kernel 34.6 -> 30.2 ms (32/8), 18.98 ->
# 16.49 (32/2), 2.75 -> 2.39 at 8k (32/8).
BWD_RELAXED_ATOMICS = True
# The dq kernel's entmax JVP terms deferred to its second pass (kernel flag DEFERRED): with the
# first pass's dp stored (4 bytes a (token, listed chunk)), each listed chunk takes one summary
# atomic ([D] floats) and one rank-1 update of dq instead of two (sm_90 spill stack 192 -> 72 B
# a thread at G=4, 248 -> 88 at G=16). Stop 27 had timed the dq kernel without its attention
# (the betas formed elsewhere) at about half its time: 8.1 of 16.7 ms at 32k, Hkv 2
# (results/reference/h100-dash/stop27/89892df_b/). Deferred, H100, 32k, 25%, same process
# (stop27/1c6ab12_c/, _d/): dq kernel 29.4 -> 18.8 ms (Hkv 8), 16.6 -> 11.3 (Hkv 2); 8k 2.36 ->
# 1.55, 1.43 -> 1.00; the Pareto model's B=4, 4/1, d=64, 8k 0.82 -> 0.71. Beyond
# DEFERRED_MAX_FRACTION of the bytes of q, k, v and out (128k at Hkv 8, 25%: ~38%) it runs undeferred.
BWD_Q_DEFERRED_TERMS = True
DEFERRED_MAX_FRACTION = 0.25
# dk/dv by the Gluon kernel (gluon_bwd_kv.py: a producer warp bringing each tile's q, dO and rows
# by TMA, one consumer warpgroup in the transposed order, the forward's stored biases instead of
# the routing recomputed) where ``use_gluon_bwd_kv`` holds. H200, 32k, 25%, same process
# (results/reference/h200-dash/stop28/bf8f375_c/): dk/dv 22.29 -> 8.25 ms (Hkv 8), 14.87 -> 6.29
# (Hkv 2); the training step 51.2 -> 37.4 ms and 33.7 -> 25.1 ms (calls a, c). The Triton kernel in the same
# transposed order (S^T = K Q^T; stop 28, commit 8803d70, removed) was slower than the default:
# 22.2 -> 26.9 ms and 14.8 -> 17.9 (stop28/8803d70_a/).
BWD_GLUON_KV = True
# dq (with the prior's chain and the summaries' gradient) by the Gluon kernel (gluon_bwd_q.py: a
# producer warp streaming K, V and the summaries' bf16 pieces, the routing, the JVP's rank-1
# update and the summary gradient as small tensor-core products) where the deferred path runs and
# ``_gluon_backward_fits``. H200, 32k, 25%, same process (results/reference/h200-dash/stop28/
# 469a8a7_d/): dq 19.24 -> 10.52 ms (Hkv 8), 11.57 -> 5.94 (Hkv 2); the training step 36.7 ->
# 29.3 ms and 24.6 -> 19.7 (1.90x and 2.83x of cuDNN in their process). BWD_GLUON_Q_STAGES: its
# ring's slots (2: two CTAs an SM in 109 KB each; 3, one CTA in 146 KB: 15.01 / 8.70 ms).
BWD_GLUON_Q = True
BWD_GLUON_Q_STAGES = 2
# For timing only (scripts/profile_backward.py): the Gluon dq kernel's second pass in full (2),
# without its summary-gradient atomics (1) or left out (0). Below 2 the gradients are wrong.
BWD_GLUON_Q_SECOND_PASS = 2
# The Gluon dk/dv kernel's registers a consumer thread (two CTAs an SM allow up to 250; at 128 its
# sm_90 build spills 32 B). H200, 32k, 25% (results/reference/h200-dash/stop30/3fa3e4c_e/;
# 469189b_d/ agrees), 168 against 128: dk/dv 6.33 -> 5.75 ms at Hkv 2 (the training step 18.45 /
# 18.63 -> 17.78 ms, 3.02 / 3.01x -> 3.14x of cuDNN, three processes, the same gradient errors)
# and 8.42 -> 8.76 at Hkv 8. None: 168 where G >= 16, else 128 (stop 31: the Gluon test files and
# the 168-against-128 test pass on the GPU, stop31/8faf0ee_a/).
BWD_GLUON_KV_MAXNREG = None


def _gluon_backward_fits(q, k, bm: int, gp: int, chunk_size: int) -> bool:
    """What both Gluon backward kernels run: bf16 or fp16 inputs on an sm_90 GPU, 64-row tiles,
    64-key chunks, TMA rows that fit int32, the summaries' gradient by the dq kernel's atomics,
    and a Triton with Gluon's Hopper ops."""
    if not (q.is_cuda and q.dtype in (torch.bfloat16, torch.float16)):
        return False
    if SUMMARY_IN_KV is True or (SUMMARY_IN_KV == "auto" and q.shape[1] // k.shape[1] <= 8):
        return False
    if os.environ.get("TRITON_INTERPRET") == "1" or torch.cuda.get_device_capability(q.device) != (9, 0):
        return False
    if gp * bm != 64 or chunk_size != 64 or k.shape[0] * k.shape[1] * k.shape[2] >= 2**31:
        return False
    try:
        from dashbench.kernels.dash import gluon_bwd_kv  # noqa: F401  (Triton >= 3.6)
    except ImportError:
        return False
    return True


def use_gluon_bwd_kv(q, k, bias, bm: int, gp: int, chunk_size: int) -> bool:
    """Whether dk/dv run as the Gluon kernel (``BWD_GLUON_KV``): with the forward's stored biases,
    where ``_gluon_backward_fits``."""
    return BWD_GLUON_KV and bias is not None and _gluon_backward_fits(q, k, bm, gp, chunk_size)


def dash_backward(q, k, v, head_cls, out, lse, d_out, summaries, tau, log_g, count, offsets,
                  tile_count, ids, *, chunk_size, scaling, sigma, estimate_diagonal, bm, gp,
                  tma: bool = False, bias=None):  # fmt: skip
    """dq, dk, dv, d_head_cls of DashAttention prefill (all of the spec's chain). ``bias``: the
    forward's stored biases (``prior.listed_bias``), passed where ``use_gluon_bwd_kv`` held when
    the forward kept them: the Gluon dk/dv kernel reads them."""
    B, Hkv, n_chunks, D = summaries.shape
    d_sum = torch.zeros(B, Hkv, n_chunks, D, device=q.device, dtype=torch.float32)
    dq, dk, dv = _attention_backward(
        q, k, v, out, lse, d_out, offsets, tile_count, ids, None, summaries, tau, log_g, count, d_sum,
        chunk_size=chunk_size, scaling=scaling, sigma=sigma, estimate_diagonal=estimate_diagonal,
        bm=bm, gp=gp, tma=tma, bias=bias,
    )  # fmt: skip
    dk, dv, d_head = summarize_backward(k, head_cls, d_sum, dk, dv, chunk_size, v_dtype=v.dtype)
    return dq, dk, dv, d_head


def block_sparse_backward(q, k, v, out, lse, d_out, offsets, tile_count, ids, token_masks, *,
                          chunk_size, bm, gp, tma: bool = False):  # fmt: skip
    """dq, dk, dv of plain block-sparse attention (``attend(..., token_masks=...)``)."""
    return _attention_backward(q, k, v, out, lse, d_out, offsets, tile_count, ids, token_masks,
                               chunk_size=chunk_size, bm=bm, gp=gp, tma=tma)  # fmt: skip


def _attention_backward(q, k, v, out, lse, d_out, offsets, tile_count, ids, token_masks,
                        summaries=None, tau=None, log_g=None, count=None, d_sum=None, *,
                        chunk_size, scaling=1.0, sigma=1.0, estimate_diagonal=True, bm, gp,
                        tma=False, bias=None):  # fmt: skip
    """The two backward kernels, with the DashAttention prior (``token_masks is None``) or
    with per-token selection bits. ``bias``: the forward's stored biases, for the Gluon dk/dv
    kernel (the caller has checked ``use_gluon_bwd_kv``)."""
    B, Hq, N, D = q.shape
    Hkv = k.shape[1]
    n_chunks = -(-N // chunk_size)
    G = Hq // Hkv
    prior = token_masks is None
    if not prior:
        summaries = tau = log_g = count = d_sum = q.new_zeros(1)
        words = token_masks
    else:
        words = ids
    in_kv = prior and (G <= 8 if SUMMARY_IN_KV == "auto" else bool(SUMMARY_IN_KV))
    # (DashAttention's lists are packed: ids holds exactly the (tile, chunk) pairs)
    deferred = (prior and not in_kv and BWD_Q_DEFERRED_TERMS
                and ids.numel() * bm * 4 <= DEFERRED_MAX_FRACTION * io_bytes(q, k))
    dpt = torch.empty(ids.numel() * bm, device=q.device, dtype=torch.float32) if deferred else q.new_zeros(1)
    k_row = torch.empty(B, Hq, N, device=q.device, dtype=torch.float32) if in_kv else q.new_zeros(1)
    beta_mean = torch.empty(B, Hkv, N, device=q.device, dtype=torch.float32) if in_kv else q.new_zeros(1)
    d_out = d_out.contiguous()
    delta = row_dots(d_out, out)
    xscale = 0.5 * scaling / math.sqrt(D)
    sm_scale = 1.0 / math.sqrt(D)
    n_tiles = tile_count.shape[2]
    common = dict(HKV=Hkv, G=G, GP=gp, BM=bm, C=chunk_size, D=D, ESTIMATE_DIAGONAL=estimate_diagonal,
                  PRIOR=prior)  # fmt: skip
    tma = tma and tma_ready(k, v)
    if deferred and BWD_GLUON_Q and _gluon_backward_fits(q, k, bm, gp, chunk_size):
        from dashbench.kernels.dash.gluon_bwd_q import gluon_bwd_q

        dq = gluon_bwd_q(q, k, v, d_out, lse, delta, summaries, tau, log_g, count, offsets, tile_count, ids, d_sum,
                         dpt, chunk_size=chunk_size, scaling=scaling, sigma=sigma,
                         estimate_diagonal=estimate_diagonal, bm=bm, gp=gp, stages=BWD_GLUON_Q_STAGES,
                         second_pass=BWD_GLUON_Q_SECOND_PASS)  # fmt: skip
    else:
        dq = torch.empty(B, Hq, N, D, device=q.device, dtype=torch.float32)
        _bwd_q_kernel[(n_tiles, B * Hkv)](
            q, k, v, summaries, tau, log_g, count, offsets, tile_count, ids, words, d_out, lse, delta, dq, d_sum,
            k_row, beta_mean,
            q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2),
            N, n_tiles, n_chunks, xscale, sm_scale, 1.0 / sigma, **common, TMA=tma, SUMMARY_IN_KV=in_kv,
            ONE_PASS=in_kv and BWD_Q_ONE_PASS, ROUTE_MMA_LAYOUT=BWD_Q_ROUTE_MMA_LAYOUT,
            ATOMIC_SEM="relaxed" if BWD_RELAXED_ATOMICS else "acq_rel", DPT=dpt, DEFERRED=deferred,
            num_warps=BWD_Q_WARPS,
        )  # fmt: skip
    if bias is not None:  # each transposed entry's place in the lists: its row of bias
        from dashbench.kernels.dash.gluon_bwd_kv import gluon_bwd_kv

        entries = torch.arange(ids.numel(), device=q.device, dtype=torch.int32)
        t_offsets, t_counts, t_tiles, t_entries = transpose_lists(offsets, tile_count, ids, n_chunks, entries,
                                                                  packed=True)  # fmt: skip
        dk, dv = gluon_bwd_kv(q, k, v, d_out, lse, delta, bias, t_offsets, t_counts, t_tiles, t_entries,
                              chunk_size=chunk_size, bm=bm, gp=gp, n_tiles=n_tiles,
                              maxnreg=BWD_GLUON_KV_MAXNREG or (168 if G >= 16 else 128))  # fmt: skip
        return dq, dk, dv
    # DashAttention's lists (chunk_lists) are packed; selection lists are, except for one token
    t_offsets, t_counts, t_tiles, t_words = transpose_lists(offsets, tile_count, ids, n_chunks,
                                                            None if prior else token_masks,
                                                            packed=prior or N > 1)  # fmt: skip
    dk = torch.empty(B, Hkv, N, D, device=q.device, dtype=torch.float32)
    dv = torch.empty_like(dk)
    _bwd_kv_kernel[(n_chunks, B * Hkv)](
        q, k, v, summaries, tau, log_g, d_out, lse, delta, dk, dv,
        t_offsets, t_counts, t_tiles,
        t_tiles if prior else t_words, k_row, beta_mean, d_sum,
        q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2),
        N, n_tiles, n_chunks, xscale, sm_scale, 1.0 / sigma, **common, TMA=tma and tma_ready(q, d_out),
        SUMMARY_IN_KV=in_kv,
        ROUTE_MMA=prior and (not in_kv and G > 8 if BWD_KV_ROUTE_MMA == "auto" else bool(BWD_KV_ROUTE_MMA))
        and q.dtype != torch.float16,
        num_warps=BWD_KV_WARPS,
    )  # fmt: skip
    return dq, dk, dv
