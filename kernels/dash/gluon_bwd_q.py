"""DashAttention's dq backward (with the prior's chain and the summaries' gradient) in Gluon for
sm_90 (stop 28): ``backward._bwd_q_kernel``'s deferred path, scheduled by hand.

One program per (query tile, batch, KV head), rows head-major as the forward's. A producer warp
streams by TMA, into a ring of ``STAGES`` slots: the tile's own chunk's K and V, then each listed
chunk's K, V and summary pieces, then each listed chunk's summary pieces again (the second
pass). The summary pieces are a ``[16, D]`` tile per chunk (``summary_rows``): rows 0-2 the
summary's three bf16 (fp16) terms, rows 3-5 the same again, the rest zero, so that

* the routing scores are one small product, ``q · rows^T`` (columns 0-2 summed: the fp32 dot),
* the entmax JVP's rank-1 update of dq is one too, ``[w_hi x3, w_lo x3] · rows`` (16 bits of w),
* and the summaries' gradient ``sum_r w_r q_r`` is ``q^T · [w_hi, w_lo]`` (columns 0 and 1).

The consumer warpgroup: the own chunk first (``beta_mean`` from its dS), then per listed chunk
``S = Q K^T``, ``dP = dO V^T`` and the routing product issued together, the prior's bias and
``p`` while they run, ``dq += dS K`` on the tensor cores, the chunk's ``dp`` kept (``DPT``, as the
Triton kernel's deferred path) and the support's sums; then the second pass forms
``w = 2 xscale sqrt(p) (dp - k_row)`` per listed chunk: the rank-1 update and one relaxed
``[D]`` atomic add into the summaries' gradient. A token's sums over its G heads (the GQA mean
``p_bar`` and ``beta``) cross warps: register reshapes, whose layout conversions Gluon places.
dq comes out in q's dtype (rounded once). Timings: ``backward.BWD_GLUON_Q``.

Checked on the GPU against the Triton kernel and the float64 reference
(tests/kernels/dash/test_gluon_bwd_q.py); its CPU test compiles it for sm_90.
"""

from __future__ import annotations

import math

import torch
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import (
    fence_async_shared,
    mbarrier,
    warpgroup_mma,
    warpgroup_mma_wait,
)
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

from dashbench.kernels.dash.gluon_attend import (
    LOG2E,
    _tma_load,
    compile_kernel_for_sm90,
    kv_descriptors,
    ring_barriers,
)
from dashbench.kernels.dash.gluon_bwd_kv import _load_rows, rows_descriptor

PIECES = 16  # rows of a chunk's summary tile (the products' K or N: 16 at least)


def summary_rows(summaries: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Each chunk summary as a ``[16, D]`` tile of ``dtype`` (bf16 or fp16): rows 0-2 its three
    terms (``hi = s`` rounded, ``mid = s - hi`` rounded, ``lo`` the rest), rows 3-5 the same,
    zeros after; ``[B * Hkv * n_chunks * 16, D]``."""
    s = summaries.float()
    hi = s.to(dtype)
    rest = s - hi.float()
    mid = rest.to(dtype)
    lo = (rest - mid.float()).to(dtype)
    tile = torch.zeros(*s.shape[:3], PIECES, s.shape[3], device=s.device, dtype=dtype)
    tile[:, :, :, 0], tile[:, :, :, 1], tile[:, :, :, 2] = hi, mid, lo
    tile[:, :, :, 3:6] = tile[:, :, :, 0:3]
    return tile.view(-1, s.shape[3])


@gluon.jit
def _token_sum(x, GP: gl.constexpr, BM: gl.constexpr, R: gl.constexpr):
    """A per-row value summed over each token's GP rows (rows head-major), back on the rows."""
    y = gl.reshape(x, [GP, BM])
    t = gl.expand_dims(gl.sum(y, axis=0), 0)
    t, _ = gl.broadcast(t, y)
    return gl.convert_layout(gl.reshape(t, [R]), x.type.layout)


@gluon.jit
def _entry(IDS, start, j, n_listed):
    """Chunk id of list entry ``j`` (0 past the list)."""
    return gl.load(IDS + start + gl.minimum(j, gl.maximum(n_listed - 1, 0)), mask=j < n_listed, other=0)


@gluon.jit
def _producer(q_desc, do_desc, k_desc, v_desc, s_desc, OFFSETS, COUNTS, IDS, q_smem, do_smem, k_bufs, v_bufs,
              s_bufs, q_bar, ready, empty, t, bh, N, n_tiles, n_chunks, HKV: gl.constexpr, G: gl.constexpr,
              GP: gl.constexpr, BM: gl.constexpr, C: gl.constexpr, D: gl.constexpr, STAGES: gl.constexpr,
              SECOND_PASS: gl.constexpr):  # fmt: skip
    """One warp: q and dO once, then the ring's walk: own chunk (K, V), listed chunks (K, V,
    summary tile), listed chunks again (summary tile)."""
    b = (bh // HKV).to(gl.int64)
    h = (bh % HKV).to(gl.int64)
    head0 = (b * HKV * G + h * G).to(gl.int32)
    mbarrier.expect(q_bar, q_desc.block_type.nbytes + do_desc.block_type.nbytes)
    _load_rows(q_desc, head0, t, q_bar, q_smem, GP, BM, D)
    _load_rows(do_desc, head0, t, q_bar, do_smem, GP, BM, D)

    own = (t * BM) // C
    tile = bh * n_tiles + t
    start = gl.load(OFFSETS + tile)
    n_listed = gl.load(COUNTS + tile)
    kv_bytes: gl.constexpr = k_desc.block_type.nbytes + v_desc.block_type.nbytes
    c_next = own
    for j in range(0, 1 + (2 if SECOND_PASS > 0 else 1) * n_listed):
        slot = j % STAGES
        c = c_next
        jn = j + 1  # the next entry's chunk, loaded a step ahead
        c_next = gl.where(jn <= n_listed, _entry(IDS, start, jn - 1, n_listed), _entry(IDS, start, jn - 1 - n_listed,
                                                                                     n_listed))  # fmt: skip
        mbarrier.wait(empty.index(slot), ((j // STAGES) & 1) ^ 1)  # a fresh barrier passes parity 1
        bar = ready.index(slot)
        with_kv = j <= n_listed
        with_rows = j >= 1
        s_bytes: gl.constexpr = s_desc.block_type.nbytes
        # (one expect, an arrive, a slot: the barriers count one)
        mbarrier.expect(bar, kv_bytes, pred=with_kv & (j == 0))
        mbarrier.expect(bar, kv_bytes + s_bytes, pred=with_kv & with_rows)
        mbarrier.expect(bar, s_bytes, pred=j > n_listed)
        _tma_load(k_desc, [bh * N + c * C, 0], bar, k_bufs.index(slot), pred=with_kv)
        _tma_load(v_desc, [bh * N + c * C, 0], bar, v_bufs.index(slot), pred=with_kv)
        _tma_load(s_desc, [((bh * n_chunks + c) * 16).to(gl.int32), 0], bar, s_bufs.index(slot), pred=with_rows)


@gluon.jit
def _routing_rows(x_acc, tau, valid, xscale, w_cols):
    """sqrt of each row's entmax probability of the chunk from the routing product (its columns
    0-2: the summary's three terms)."""
    x = gl.sum(gl.where(w_cols < 3, x_acc, 0.0), axis=1) * xscale
    return gl.where(valid, gl.maximum(x - tau, 0.0), 0.0)


@gluon.jit
def _consumer(q_desc, do_desc, k_desc, v_desc, s_desc, OFFSETS, COUNTS, IDS, q_smem, do_smem, k_bufs, v_bufs,
              s_bufs, q_bar, ready, empty, t, bh, N, n_tiles, n_chunks, LSE, DELTA, TAU, LOGG, CNT, DQ, DSUM, DPT,
              w_smem, sm_scale, xscale, inv_sigma, HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr,
              BM: gl.constexpr, C: gl.constexpr, D: gl.constexpr, STAGES: gl.constexpr,
              ESTIMATE_DIAGONAL: gl.constexpr, SECOND_PASS: gl.constexpr):  # fmt: skip
    R: gl.constexpr = GP * BM
    NW: gl.constexpr = 4
    s_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[NW, 1],
                                                       instr_shape=[16, C, 16])  # fmt: skip
    dq_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[NW, 1],
                                                        instr_shape=[16, D, 16])  # fmt: skip
    x_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[NW, 1],
                                                       instr_shape=[16, 16, 16])  # fmt: skip
    op_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=dq_layout, k_width=2)
    row_l: gl.constexpr = gl.SliceLayout(1, s_layout)
    xrow_l: gl.constexpr = gl.SliceLayout(1, x_layout)
    dtype: gl.constexpr = q_smem.dtype
    b = (bh // HKV).to(gl.int64)
    h = (bh % HKV).to(gl.int64)
    own = (t * BM) // C
    tile = bh * n_tiles + t
    start = gl.load(OFFSETS + tile)
    n_listed = gl.load(COUNTS + tile)

    # per-row values, in the scores' row layout (xr: in the routing product's, for sqrt(p))
    rows = gl.arange(0, R, layout=row_l)
    pos = t.to(gl.int64) * BM + rows % BM
    valid = (pos < N) & (rows // BM < G)
    per_row = (b * HKV * G + h * G + rows // BM) * N + pos
    lse2 = gl.load(LSE + per_row, mask=valid, other=0.0) * 1.4426950408889634
    delta = gl.load(DELTA + per_row, mask=valid, other=0.0)
    per_token = (b * HKV + h) * N + pos
    log_g = gl.load(LOGG + per_token, mask=valid, other=0.0)
    n_routed = gl.load(CNT + per_token, mask=valid, other=1) - 1
    xrows = gl.arange(0, R, layout=xrow_l)
    xpos = t.to(gl.int64) * BM + xrows % BM
    xvalid = (xpos < N) & (xrows // BM < G)
    tau = gl.load(TAU + (b * HKV * G + h * G + xrows // BM) * N + xpos, mask=xvalid, other=float("inf"))
    w_cols = gl.expand_dims(gl.arange(0, 16, layout=gl.SliceLayout(0, x_layout)), 0)
    keys = gl.arange(0, C, layout=gl.SliceLayout(0, s_layout))
    zero_s = gl.zeros([R, C], gl.float32, layout=s_layout)
    zero_x = gl.zeros([R, 16], gl.float32, layout=x_layout)

    mbarrier.wait(q_bar, 0)
    # the own chunk (entry 0): causal, no bias
    mbarrier.wait(ready.index(0), 0)
    st = warpgroup_mma(q_smem, k_bufs.index(0).permute((1, 0)), zero_s, use_acc=False, is_async=True)
    dpt = warpgroup_mma(do_smem, v_bufs.index(0).permute((1, 0)), zero_s, use_acc=False, is_async=True)
    st = warpgroup_mma_wait(num_outstanding=1, deps=(st,))
    kpos = own * C + keys
    s = gl.where(gl.expand_dims(kpos, 0) <= gl.expand_dims(pos, 1), st * sm_scale - gl.expand_dims(lse2, 1),
                 float("-inf"))  # fmt: skip
    p = gl.exp2(gl.where(gl.expand_dims(valid, 1), s, float("-inf")))
    dpt = warpgroup_mma_wait(num_outstanding=0, deps=(dpt,))
    ds = p * (dpt - gl.expand_dims(delta, 1))
    ds_op = gl.convert_layout(ds.to(dtype), op_layout)
    dq = warpgroup_mma(ds_op, k_bufs.index(0), gl.zeros([R, D], gl.float32, layout=dq_layout), use_acc=False,
                       is_async=True)  # fmt: skip
    beta_diag = _token_sum(gl.sum(ds, axis=1), GP, BM, R)
    # mean of beta over the routed earlier chunks (rows of dS sum to zero over all attended keys)
    beta_mean = -beta_diag / gl.maximum(n_routed, 1).to(gl.float32)
    dq = warpgroup_mma_wait(num_outstanding=0, deps=(dq, ds_op))[0]
    mbarrier.arrive(empty.index(0), count=1)

    sdp_sum = gl.zeros([R], gl.float32, layout=xrow_l)  # sum over the support of sqrt(p) * dp
    s_sum = gl.zeros([R], gl.float32, layout=xrow_l)  # sum over the support of sqrt(p)
    for i in range(0, n_listed):
        j = 1 + i
        slot = j % STAGES
        mbarrier.wait(ready.index(slot), (j // STAGES) & 1)
        # the routing product first: the prior's rows form while S and dP run
        xa = warpgroup_mma(q_smem, s_bufs.index(slot).permute((1, 0)), zero_x, use_acc=False, is_async=True)
        st = warpgroup_mma(q_smem, k_bufs.index(slot).permute((1, 0)), zero_s, use_acc=False, is_async=True)
        dpt = warpgroup_mma(do_smem, v_bufs.index(slot).permute((1, 0)), zero_s, use_acc=False, is_async=True)
        xa = warpgroup_mma_wait(num_outstanding=2, deps=(xa,))
        sr = _routing_rows(xa, tau, xvalid, xscale, w_cols)
        p_bar = gl.convert_layout(_token_sum(sr * sr, GP, BM, R), row_l) / G
        routed = p_bar > 1e-20
        log_p = gl.log(gl.where(routed, p_bar, 1.0))
        if ESTIMATE_DIAGONAL:
            bias = (log_p - log_g) * inv_sigma
        else:
            bias = log_p
        shift = gl.where(routed & valid, bias * 1.4426950408889634 - lse2, float("-inf"))  # base 2
        st = warpgroup_mma_wait(num_outstanding=1, deps=(st,))
        p = gl.exp2(st * sm_scale + gl.expand_dims(shift, 1))
        dpt = warpgroup_mma_wait(num_outstanding=0, deps=(dpt,))
        ds = p * (dpt - gl.expand_dims(delta, 1))
        ds_op = gl.convert_layout(ds.to(dtype), op_layout)
        dq = warpgroup_mma(ds_op, k_bufs.index(slot), dq, is_async=True)
        beta = _token_sum(gl.sum(ds, axis=1), GP, BM, R)
        if ESTIMATE_DIAGONAL:
            d_log = (beta - beta_mean) * inv_sigma
        else:
            d_log = beta
        dp = gl.where(routed & valid, d_log / gl.where(routed, p_bar, 1.0), 0.0) / G
        gl.store(DPT + (start + i).to(gl.int64) * BM + rows % BM, dp, mask=valid & (rows // BM == 0))
        dp = gl.convert_layout(dp, xrow_l)
        sdp_sum += sr * dp
        s_sum += sr
        dq = warpgroup_mma_wait(num_outstanding=0, deps=(dq, ds_op))[0]
        mbarrier.arrive(empty.index(slot), count=1)

    dq = dq * (sm_scale * 0.6931471805599453)  # the attention's share, its products unscaled (sm_scale is base 2)
    k_row = gl.where(s_sum > 0, sdp_sum / gl.where(s_sum > 0, s_sum, 1.0), 0.0)
    zscale = 2.0 * xscale
    w_op_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=dq_layout, k_width=2)
    t_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[NW, 1],
                                                       instr_shape=[16, 16, 16])  # fmt: skip
    dims = gl.arange(0, D, layout=gl.SliceLayout(1, t_layout))
    t_cols = gl.expand_dims(gl.arange(0, 16, layout=gl.SliceLayout(0, t_layout)), 0)
    dsum_base = DSUM + (b * HKV + h) * n_chunks * D
    for i in range(0, n_listed if SECOND_PASS > 0 else 0):
        j = 1 + n_listed + i
        slot = j % STAGES
        c = _entry(IDS, start, i, n_listed)
        dp = gl.load(DPT + (start + i).to(gl.int64) * BM + xrows % BM, mask=xvalid, other=0.0)
        mbarrier.wait(ready.index(slot), (j // STAGES) & 1)
        xa = warpgroup_mma(q_smem, s_bufs.index(slot).permute((1, 0)), zero_x, use_acc=False, is_async=True)
        xa = warpgroup_mma_wait(num_outstanding=0, deps=(xa,))
        sr = _routing_rows(xa, tau, xvalid, xscale, w_cols)
        w = zscale * sr * (dp - k_row)  # both of the entmax JVP's terms
        w_hi = w.to(dtype).to(gl.float32)
        w_lo = w - w_hi
        wh = gl.expand_dims(w_hi, 1)
        wl = gl.expand_dims(w_lo, 1)
        # [w_hi x3, w_lo x3] against the tile's rows (hi, mid, lo twice): w * summary into dq
        w_mat = gl.where(w_cols < 3, wh, gl.where(w_cols < 6, wl, 0.0))
        w_op = gl.convert_layout(w_mat.to(dtype), w_op_layout)
        dq = warpgroup_mma(w_op, s_bufs.index(slot), dq, is_async=True)
        # [w_hi, w_lo] as the B operand of q^T: the summaries' gradient
        w_smem.store(gl.where(w_cols == 0, wh, gl.where(w_cols == 1, wl, 0.0)).to(dtype))
        fence_async_shared()
        term = warpgroup_mma(q_smem.permute((1, 0)), w_smem, gl.zeros([D, 16], gl.float32, layout=t_layout),
                             use_acc=False, is_async=True)  # fmt: skip
        dq, term = warpgroup_mma_wait(num_outstanding=0, deps=(dq, term, w_op))[:2]
        mbarrier.arrive(empty.index(slot), count=1)
        if SECOND_PASS > 1:
            gl.atomic_add(dsum_base + c * D + dims, gl.sum(gl.where(t_cols < 2, term, 0.0), axis=1), sem="relaxed")

    orows = gl.arange(0, R, layout=gl.SliceLayout(1, dq_layout))
    odims = gl.arange(0, D, layout=gl.SliceLayout(0, dq_layout))
    opos = t.to(gl.int64) * BM + orows % BM
    ovalid = (opos < N) & (orows // BM < G)
    off = ((b * HKV * G + h * G + orows // BM) * N + opos)[:, None] * D + odims[None, :]
    gl.store(DQ + off, dq.to(DQ.dtype.element_ty), mask=ovalid[:, None])


@gluon.jit
def _gluon_bwd_q_kernel(
    q_desc, do_desc, k_desc, v_desc, s_desc, OFFSETS, COUNTS, IDS, LSE, DELTA, TAU, LOGG, CNT, DQ, DSUM, DPT,
    N, n_tiles, n_chunks, sm_scale, xscale, inv_sigma,
    HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr, BM: gl.constexpr, C: gl.constexpr,
    D: gl.constexpr, STAGES: gl.constexpr, ESTIMATE_DIAGONAL: gl.constexpr, ROWS_LAYOUT: gl.constexpr,
    W_LAYOUT: gl.constexpr, PRODUCER_REGS: gl.constexpr, num_warps: gl.constexpr, SECOND_PASS: gl.constexpr = 2,
):  # fmt: skip
    R: gl.constexpr = GP * BM
    t = n_tiles - 1 - gl.program_id(0)  # the longest lists first
    bh = gl.program_id(1)
    q_smem = gl.allocate_shared_memory(q_desc.dtype, [R, D], ROWS_LAYOUT)
    do_smem = gl.allocate_shared_memory(do_desc.dtype, [R, D], ROWS_LAYOUT)
    k_bufs = gl.allocate_shared_memory(k_desc.dtype, [STAGES, C, D], k_desc.layout)
    v_bufs = gl.allocate_shared_memory(v_desc.dtype, [STAGES, C, D], v_desc.layout)
    s_bufs = gl.allocate_shared_memory(s_desc.dtype, [STAGES, 16, D], s_desc.layout)
    w_smem = gl.allocate_shared_memory(q_desc.dtype, [R, 16], W_LAYOUT)
    q_bar = gl.allocate_shared_memory(gl.int64, [1], mbarrier.MBarrierLayout())
    mbarrier.init(q_bar, count=1)
    ready, empty = ring_barriers(STAGES)
    fence_async_shared()
    gl.warp_specialize([
        (_consumer, (q_desc, do_desc, k_desc, v_desc, s_desc, OFFSETS, COUNTS, IDS, q_smem, do_smem, k_bufs, v_bufs,
                     s_bufs, q_bar, ready, empty, t, bh, N, n_tiles, n_chunks, LSE, DELTA, TAU, LOGG, CNT, DQ, DSUM,
                     DPT, w_smem, sm_scale, xscale, inv_sigma, HKV, G, GP, BM, C, D, STAGES, ESTIMATE_DIAGONAL,
                     SECOND_PASS)),
        (_producer, (q_desc, do_desc, k_desc, v_desc, s_desc, OFFSETS, COUNTS, IDS, q_smem, do_smem, k_bufs, v_bufs,
                     s_bufs, q_bar, ready, empty, t, bh, N, n_tiles, n_chunks, HKV, G, GP, BM, C, D, STAGES,
                     SECOND_PASS)),
    ], [1], [PRODUCER_REGS])  # fmt: skip


def _rows_tile_descriptor(rows: torch.Tensor):
    gl_dtype = gl.bfloat16 if rows.dtype == torch.bfloat16 else gl.float16
    layout = gl.NVMMASharedLayout.get_default_for([PIECES, rows.shape[1]], gl_dtype)
    return TensorDescriptor(rows, list(rows.shape), list(rows.stride()), [PIECES, rows.shape[1]], layout)


def gluon_bwd_q(q, k, v, d_out, lse, delta, summaries, tau, log_g, count, offsets, tile_count, ids, d_sum, dpt, *,
                chunk_size: int, scaling: float, sigma: float, estimate_diagonal: bool, bm: int, gp: int,
                stages: int = 3, maxnreg: int = 128, producer_regs: int = 24, second_pass: int = 2):  # fmt: skip
    """dq (``[B, Hq, N, D]`` in q's dtype) of DashAttention with the prior, adding the summaries' gradient
    into ``d_sum`` (fp32 ``[B, Hkv, n_chunks, D]``) and storing each listed entry's ``dp`` in
    ``dpt`` (``[n_pairs * bm]`` fp32), as ``backward._bwd_q_kernel``'s deferred path. q, k, v,
    d_out bf16 or fp16 and contiguous; lse (natural log), delta, tau fp32 ``[B, Hq, N]``.
    ``second_pass`` below 2 is for timing only (``backward.BWD_GLUON_Q_SECOND_PASS``)."""
    B, Hq, N, D = q.shape
    Hkv = k.shape[1]
    n_chunks = summaries.shape[2]
    if q.dtype not in (torch.bfloat16, torch.float16) or gp * bm != 64 or chunk_size != 64 or stages < 2:
        raise ValueError("gluon_bwd_q runs bf16/fp16 inputs, 64-row tiles, 64-key chunks, 2+ stages")
    if not all(x.is_contiguous() for x in (q, k, v, d_out)):
        raise ValueError("gluon_bwd_q needs contiguous q, k, v and d_out")
    q_desc, rows_layout = rows_descriptor(q, gp, bm)
    do_desc, _ = rows_descriptor(d_out, gp, bm)
    k_desc, v_desc, gl_dtype = kv_descriptors(k, v, chunk_size)
    s_desc = _rows_tile_descriptor(summary_rows(summaries, q.dtype))
    dq = torch.empty_like(q)  # (the Triton kernel's fp32 dq is converted after it; this one rounds once)
    n_tiles = tile_count.shape[2]
    _gluon_bwd_q_kernel[(n_tiles, B * Hkv)](
        q_desc, do_desc, k_desc, v_desc, s_desc, offsets, tile_count, ids, lse, delta, tau, log_g, count, dq, d_sum,
        dpt, N, n_tiles, n_chunks, LOG2E / math.sqrt(D), 0.5 * scaling / math.sqrt(D), 1.0 / sigma,
        HKV=Hkv, G=Hq // Hkv, GP=gp, BM=bm, C=chunk_size, D=D, STAGES=stages, ESTIMATE_DIAGONAL=bool(estimate_diagonal),
        ROWS_LAYOUT=rows_layout, W_LAYOUT=gl.NVMMASharedLayout.get_default_for([gp * bm, PIECES], gl_dtype),
        PRODUCER_REGS=producer_regs, num_warps=4, maxnreg=maxnreg, SECOND_PASS=second_pass,
    )  # fmt: skip
    return dq


def compile_for_sm90(G: int = 4, D: int = 128, stages: int = 3, estimate_diagonal: bool = True, maxnreg: int = 128,
                     producer_regs: int = 24, second_pass: int = 2):  # fmt: skip
    """The kernel compiled ahead of time for an H100/H200 (no GPU needed), bf16."""
    from triton.runtime.jit import mangle_type

    from dashbench.kernels.dash.route import padded_group, tile_rows

    gp, bm = padded_group(G), tile_rows(G, 64, 64)
    x = torch.zeros(2, 2 * G, 256, D, dtype=torch.bfloat16)  # only its type and layout matter
    rows_desc, rows_layout = rows_descriptor(x, gp, bm)
    s_desc = _rows_tile_descriptor(torch.zeros(64, D, dtype=torch.bfloat16))
    w_layout = gl.NVMMASharedLayout.get_default_for([gp * bm, PIECES], gl.bfloat16)
    consts = dict(HKV=2, G=G, GP=gp, BM=bm, C=64, D=D, STAGES=stages, ESTIMATE_DIAGONAL=estimate_diagonal,
                  ROWS_LAYOUT=rows_layout, W_LAYOUT=w_layout, PRODUCER_REGS=producer_regs, num_warps=4,
                  SECOND_PASS=second_pass)  # fmt: skip
    types = {"q_desc": mangle_type(rows_desc), "do_desc": mangle_type(rows_desc), "s_desc": mangle_type(s_desc),
             "OFFSETS": "*i64", "COUNTS": "*i32", "IDS": "*i32", "LSE": "*fp32", "DELTA": "*fp32", "TAU": "*fp32",
             "LOGG": "*fp32", "CNT": "*i32", "DQ": "*bf16", "DSUM": "*fp32", "DPT": "*fp32", "xscale": "fp32",
             "inv_sigma": "fp32"}  # fmt: skip
    return compile_kernel_for_sm90(_gluon_bwd_q_kernel, consts, D, 64, types=types, maxnreg=maxnreg)


if __name__ == "__main__":  # python -m dashbench.kernels.dash.gluon_bwd_q: sm_90 resources
    from dashbench.kernels.dash.compile_check import resources
    from dashbench.kernels.dash.gluon_attend import sass_schedule

    for G, D, stages, est in ((4, 128, 3, True), (16, 128, 3, True), (4, 128, 2, True), (1, 64, 3, True),
                              (3, 128, 3, False)):  # fmt: skip
        kernel = compile_for_sm90(G, D, stages=stages, estimate_diagonal=est)
        print(f"G={G} D={D} stages={stages} est={est} {resources(kernel)}: {' '.join(sass_schedule(kernel))}",
              flush=True)
