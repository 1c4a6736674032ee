"""DashAttention's dk/dv backward in Gluon for sm_90, from the forward's stored biases (stop 28).

The Triton dk/dv kernel (``backward._bwd_kv_kernel``) holds dk, dv, k, v and a tile's q, dO,
scores and the prior's rows in 8 warps at 255 registers, recomputes each listed tile's routing
and waits on every product right after issuing it. Here, one program per (KV chunk, batch, KV
head) as there:

* a producer warp walks the chunk's tiles (its own, causally masked, then the later tiles that
  listed it), brings each tile's q and dO rows by TMA (a ``[GP, BM, D]`` box of the
  ``[B * Hq, N, D]`` view: rows past N arrive as zeros) into a ring of ``STAGES`` slots, and
  writes beside them the tile's base-2 log-sum-exp, ``delta`` and bias (the forward's stored
  bias, ``-inf`` on rows outside the sequence or the group; 0 on its own chunk's tiles);
* one consumer warpgroup computes in FlashAttention's transposed order: ``S^T = K Q^T`` and
  ``dP^T = V dO^T`` issued together, ``P^T`` formed while ``dP^T`` runs, then ``dV += P^T dO``
  and ``dK += dS^T Q`` with ``P^T`` and ``dS^T`` as register operands (no transposes).

The scores are the forward's (the same stored biases, base 2), so ``P`` is the forward's to
rounding. dk and dv come out in fp32 like the Triton kernel's. Only with the prior's biases
stored (``interface.use_stored_bias``); elsewhere the Triton kernel runs. The summaries'
gradient: by the dq kernel's atomics, or (``summary_grad``, stop 30) here, per chunk, from each
listing tile's routing product and the dq kernel's stored dp and k_row. Checked on the GPU
against the Triton kernel, the dq kernel's atomics and the float64 reference
(tests/kernels/dash/test_gluon_bwd_kv.py); its CPU test compiles it for sm_90.
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

# A shared-memory view in another layout: ``_reinterpret`` in Triton 3.6 (the GPU machines'),
# ``reinterpret`` since.
_PUBLIC_REINTERPRET = gl.constexpr(hasattr(gl.shared_memory_descriptor, "reinterpret"))


@gluon.jit
def _load_rows(desc, head0, t, bar, buf, GP: gl.constexpr, BM: gl.constexpr, D: gl.constexpr):
    """TMA load of tile ``t``'s ``[GP, BM, D]`` rows (``rows_descriptor``) into the ``[R, D]``
    buffer ``buf``, written as the box it is (the same bytes: both layouts swizzle rows of D by
    128 B)."""
    if _PUBLIC_REINTERPRET:
        box = buf.reinterpret(buf.dtype, [GP, BM, D], desc.layout)
    else:
        box = buf._reinterpret(buf.dtype, [GP, BM, D], desc.layout)
    _tma_load(desc, [head0, (t * BM).to(gl.int32), 0], bar, box)


@gluon.jit
def _tile_of(T_TILES, start, j, n_diag, first_diag):
    """Entry ``j`` of the chunk's walk: its own chunk's tiles, then the tiles that listed it."""
    listed = gl.load(T_TILES + start + gl.maximum(j - n_diag, 0), mask=j >= n_diag, other=0)
    return gl.where(j < n_diag, first_diag + j, listed)


@gluon.jit
def _producer(q_desc, do_desc, k_desc, v_desc, s_desc, LSE, DELTA, BIAS, T_OFFSETS, T_COUNTS, T_TILES, T_ENTRIES,
              TAU, DPT, KROW, q_bufs, do_bufs, row_bufs, k_smem, v_smem, s_smem, kv_bar, ready, empty, c, bh, N,
              n_tiles, n_chunks, HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr, BM: gl.constexpr,
              C: gl.constexpr, D: gl.constexpr, STAGES: gl.constexpr, SUMMARY_GRAD: gl.constexpr):  # fmt: skip
    R: gl.constexpr = GP * BM
    RB: gl.constexpr = 8 if SUMMARY_GRAD else 4  # rows of row_bufs a slot
    b = (bh // HKV).to(gl.int64)
    h = (bh % HKV).to(gl.int64)
    if SUMMARY_GRAD:  # and the chunk's summary pieces
        mbarrier.expect(kv_bar, k_desc.block_type.nbytes + v_desc.block_type.nbytes + s_desc.block_type.nbytes)
        _tma_load(s_desc, [((bh * n_chunks + c) * 16).to(gl.int32), 0], kv_bar, s_smem)
    else:
        mbarrier.expect(kv_bar, k_desc.block_type.nbytes + v_desc.block_type.nbytes)
    _tma_load(k_desc, [bh * N + c * C, 0], kv_bar, k_smem)
    _tma_load(v_desc, [bh * N + c * C, 0], kv_bar, v_smem)

    row_layout: gl.constexpr = gl.BlockedLayout([R // 32], [32], [1], [0])
    rows = gl.arange(0, R, layout=row_layout)
    g = rows // BM
    token = rows % BM
    first_diag = (c * C) // BM
    n_diag = gl.minimum((c + 1) * C // BM, n_tiles) - first_diag
    start = gl.load(T_OFFSETS + bh * n_chunks + c)
    n_walk = n_diag + gl.load(T_COUNTS + bh * n_chunks + c)
    head0 = (b * HKV * G + h * G).to(gl.int32)  # the tile's first head in the [B * Hq, N, D] view
    for j in range(0, n_walk):
        slot = j % STAGES
        t = _tile_of(T_TILES, start, j, n_diag, first_diag)
        pos = t.to(gl.int64) * BM + token
        valid = (pos < N) & (g < G)
        per_row = (b * HKV * G + h * G + g) * N + pos
        lse = gl.load(LSE + per_row, mask=valid, other=0.0) * 1.4426950408889634
        delta = gl.load(DELTA + per_row, mask=valid, other=0.0)
        listed = j >= n_diag
        entry = gl.load(T_ENTRIES + start + gl.maximum(j - n_diag, 0), mask=listed, other=0).to(gl.int64)
        bias = gl.load(BIAS + entry * BM + token, mask=valid & listed, other=0.0).to(gl.float32)
        bias = gl.where(valid, bias, float("-inf"))
        if SUMMARY_GRAD:  # each row's threshold and dp - k_row (0 on the own chunk's tiles)
            tau = gl.load(TAU + per_row, mask=valid, other=float("inf"))
            dp = gl.load(DPT + entry * BM + token, mask=valid & listed, other=0.0)
            dp_k = dp - gl.load(KROW + per_row, mask=valid & listed, other=0.0)
        mbarrier.wait(empty.index(slot), ((j // STAGES) & 1) ^ 1)  # a fresh barrier passes parity 1
        row_bufs.index(RB * slot).store(lse)
        row_bufs.index(RB * slot + 1).store(delta)
        row_bufs.index(RB * slot + 2).store(bias)
        if SUMMARY_GRAD:
            row_bufs.index(RB * slot + 3).store(tau)
            row_bufs.index(RB * slot + 4).store(dp_k)
        bar = ready.index(slot)  # its arrive (release) orders the stores above before the consumer's reads
        mbarrier.expect(bar, q_desc.block_type.nbytes + do_desc.block_type.nbytes)
        _load_rows(q_desc, head0, t, bar, q_bufs.index(slot), GP, BM, D)
        _load_rows(do_desc, head0, t, bar, do_bufs.index(slot), GP, BM, D)


@gluon.jit
def _consumer(q_desc, do_desc, k_desc, v_desc, s_desc, LSE, DELTA, BIAS, T_OFFSETS, T_COUNTS, T_TILES, T_ENTRIES,
              TAU, DPT, KROW, q_bufs, do_bufs, row_bufs, k_smem, v_smem, s_smem, w_smem, kv_bar, ready, empty, c, bh,
              N, n_tiles, n_chunks, DK, DV, DSUM, sm_scale, xscale, HKV: gl.constexpr, G: gl.constexpr,
              GP: gl.constexpr, BM: gl.constexpr, C: gl.constexpr, D: gl.constexpr, STAGES: gl.constexpr,
              ROWS_LAYOUT: gl.constexpr, SUMMARY_GRAD: gl.constexpr):  # fmt: skip
    R: gl.constexpr = GP * BM
    RB: gl.constexpr = 8 if SUMMARY_GRAD else 4
    NW: gl.constexpr = 4
    # the summaries' gradient (SUMMARY_GRAD): per listing tile the routing product q . rows^T
    # ([R, 16]: columns 0-2 the summary's terms), w = 2 xscale sqrt(p) (dp - k_row) per row, and
    # q^T [w_hi, w_lo] summed over the walk ([D, 16]: columns 0 and 1), as the dq kernel's second pass
    x_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[NW, 1],
                                                       instr_shape=[16, 16, 16])  # fmt: skip
    xrow_l: gl.constexpr = gl.SliceLayout(1, x_layout)
    w_cols = gl.expand_dims(gl.arange(0, 16, layout=gl.SliceLayout(0, x_layout)), 0)
    zero_x = gl.zeros([R, 16], gl.float32, layout=x_layout)
    term = gl.zeros([D, 16], gl.float32, layout=x_layout)
    st_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[NW, 1],
                                                        instr_shape=[16, R, 16])  # fmt: skip
    kv_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[NW, 1],
                                                        instr_shape=[16, D, 16])  # fmt: skip
    op_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=kv_layout, k_width=2)
    col_layout: gl.constexpr = gl.SliceLayout(0, st_layout)
    cols = gl.arange(0, R, layout=col_layout)
    keys = gl.arange(0, C, layout=gl.SliceLayout(1, st_layout))
    kpos = c * C + keys
    first_diag = (c * C) // BM
    n_diag = gl.minimum((c + 1) * C // BM, n_tiles) - first_diag
    start = gl.load(T_OFFSETS + bh * n_chunks + c)
    n_walk = n_diag + gl.load(T_COUNTS + bh * n_chunks + c)
    zero_st = gl.zeros([C, R], gl.float32, layout=st_layout)
    dk = gl.zeros([C, D], gl.float32, layout=kv_layout)
    dv = gl.zeros([C, D], gl.float32, layout=kv_layout)
    mbarrier.wait(kv_bar, 0)
    t_next = _tile_of(T_TILES, start, 0, n_diag, first_diag)
    for j in range(0, n_walk):
        slot = j % STAGES
        t = t_next
        t_next = _tile_of(T_TILES, start, j + 1, n_diag, first_diag)  # (a step ahead: its latency hides)
        mbarrier.wait(ready.index(slot), (j // STAGES) & 1)
        q_s = q_bufs.index(slot)
        do_s = do_bufs.index(slot)
        if SUMMARY_GRAD:  # the routing product first (its group completes before S^T's)
            xa = warpgroup_mma(q_s, s_smem.permute((1, 0)), zero_x, use_acc=False, is_async=True)
        st = warpgroup_mma(k_smem, q_s.permute((1, 0)), zero_st, use_acc=False, is_async=True)
        dpt = warpgroup_mma(v_smem, do_s.permute((1, 0)), zero_st, use_acc=False, is_async=True)
        shift = row_bufs.index(RB * slot + 2).load(col_layout) - row_bufs.index(RB * slot).load(col_layout)  # bias - lse
        st = warpgroup_mma_wait(num_outstanding=1, deps=(st,))
        s = st * sm_scale + shift[None, :]
        pos = t * BM + cols % BM
        s = gl.where((j >= n_diag) | (kpos[:, None] <= pos[None, :]), s, float("-inf"))  # own chunk: causal
        p = gl.exp2(s)
        p_op = gl.convert_layout(p.to(q_bufs.dtype), op_layout)
        dv = warpgroup_mma(p_op, do_s, dv, is_async=True)
        delta = row_bufs.index(RB * slot + 1).load(col_layout)
        dpt = warpgroup_mma_wait(num_outstanding=1, deps=(dpt,))
        ds_op = gl.convert_layout((p * (dpt - delta[None, :])).to(q_bufs.dtype), op_layout)
        dk = warpgroup_mma(ds_op, q_s, dk, is_async=True)
        if SUMMARY_GRAD:
            xa = warpgroup_mma_wait(num_outstanding=2, deps=(xa,))  # (complete: issued first)
            x = gl.sum(gl.where(w_cols < 3, xa, 0.0), axis=1) * xscale
            sr = gl.maximum(x - row_bufs.index(RB * slot + 3).load(xrow_l), 0.0)  # tau: inf off the rows
            w = (2.0 * xscale) * sr * row_bufs.index(RB * slot + 4).load(xrow_l)
            w_hi = w.to(q_bufs.dtype).to(gl.float32)
            wh = gl.expand_dims(w_hi, 1)
            wl = gl.expand_dims(w - w_hi, 1)
            w_smem.store(gl.where(w_cols == 0, wh, gl.where(w_cols == 1, wl, 0.0)).to(q_bufs.dtype))
            fence_async_shared()
            term = warpgroup_mma(q_s.permute((1, 0)), w_smem, term, is_async=True)
            dv, dk, term = warpgroup_mma_wait(num_outstanding=0, deps=(dv, dk, term, p_op, ds_op))[:3]
        else:
            dv, dk = warpgroup_mma_wait(num_outstanding=0, deps=(dv, dk, p_op, ds_op))[:2]
        mbarrier.arrive(empty.index(slot), count=1)

    b = (bh // HKV).to(gl.int64)
    h = (bh % HKV).to(gl.int64)
    okeys = gl.arange(0, C, layout=gl.SliceLayout(1, kv_layout))
    odims = gl.arange(0, D, layout=gl.SliceLayout(0, kv_layout))
    opos = c.to(gl.int64) * C + okeys
    off = ((b * HKV + h) * N + opos)[:, None] * D + odims[None, :]
    mask = (opos < N)[:, None]
    gl.store(DK + off, dk * (sm_scale * 0.6931471805599453), mask=mask)  # sm_scale is base 2
    gl.store(DV + off, dv, mask=mask)
    if SUMMARY_GRAD:  # the chunk's whole summary gradient: a store, no atomics
        dims = gl.arange(0, D, layout=gl.SliceLayout(1, x_layout))
        gl.store(DSUM + (bh * n_chunks + c).to(gl.int64) * D + dims, gl.sum(gl.where(w_cols < 2, term, 0.0), axis=1))


@gluon.jit
def _gluon_bwd_kv_kernel(
    q_desc, do_desc, k_desc, v_desc, s_desc, LSE, DELTA, BIAS, T_OFFSETS, T_COUNTS, T_TILES, T_ENTRIES, TAU, DPT,
    KROW, DK, DV, DSUM, N, n_tiles, n_chunks, sm_scale, xscale,
    HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr, BM: gl.constexpr, C: gl.constexpr,
    D: gl.constexpr, STAGES: gl.constexpr, ROWS_LAYOUT: gl.constexpr, W_LAYOUT: gl.constexpr,
    PRODUCER_REGS: gl.constexpr, num_warps: gl.constexpr, SUMMARY_GRAD: gl.constexpr = False,
):  # fmt: skip
    R: gl.constexpr = GP * BM
    c = gl.program_id(0)  # early chunks (the most listing tiles) first
    bh = gl.program_id(1)
    # [R, D] slots for the wgmmas; the producer's TMA writes each as the [GP, BM, D] box it loads
    q_bufs = gl.allocate_shared_memory(q_desc.dtype, [STAGES, R, D], ROWS_LAYOUT)
    do_bufs = gl.allocate_shared_memory(do_desc.dtype, [STAGES, R, D], ROWS_LAYOUT)
    # per slot 4 rows of R: lse, delta, bias (and one unused: shapes are powers of 2); 8 with
    # SUMMARY_GRAD: then tau and dp - k_row
    RB: gl.constexpr = 8 if SUMMARY_GRAD else 4
    row_bufs = gl.allocate_shared_memory(gl.float32, [STAGES * RB, R], gl.SwizzledSharedLayout(1, 1, 1, order=[0]))
    k_smem = gl.allocate_shared_memory(k_desc.dtype, [C, D], k_desc.layout)
    v_smem = gl.allocate_shared_memory(v_desc.dtype, [C, D], v_desc.layout)
    s_smem = gl.allocate_shared_memory(s_desc.dtype, [16, D], s_desc.layout)  # (6 KB unused without SUMMARY_GRAD)
    w_smem = gl.allocate_shared_memory(q_desc.dtype, [R, 16], W_LAYOUT)
    kv_bar = gl.allocate_shared_memory(gl.int64, [1], mbarrier.MBarrierLayout())
    mbarrier.init(kv_bar, count=1)
    ready, empty = ring_barriers(STAGES)
    fence_async_shared()  # the barriers' init before the TMA unit uses them
    gl.warp_specialize([
        (_consumer, (q_desc, do_desc, k_desc, v_desc, s_desc, LSE, DELTA, BIAS, T_OFFSETS, T_COUNTS, T_TILES,
                     T_ENTRIES, TAU, DPT, KROW, q_bufs, do_bufs, row_bufs, k_smem, v_smem, s_smem, w_smem, kv_bar,
                     ready, empty, c, bh, N, n_tiles, n_chunks, DK, DV, DSUM, sm_scale, xscale, HKV, G, GP, BM, C, D,
                     STAGES, ROWS_LAYOUT, SUMMARY_GRAD)),
        (_producer, (q_desc, do_desc, k_desc, v_desc, s_desc, LSE, DELTA, BIAS, T_OFFSETS, T_COUNTS, T_TILES,
                     T_ENTRIES, TAU, DPT, KROW, q_bufs, do_bufs, row_bufs, k_smem, v_smem, s_smem, kv_bar, ready,
                     empty, c, bh, N, n_tiles, n_chunks, HKV, G, GP, BM, C, D, STAGES, SUMMARY_GRAD)),
    ], [1], [PRODUCER_REGS])  # fmt: skip


def rows_descriptor(x, gp: int, bm: int):
    """TMA descriptor of a tile's ``[GP, BM, D]`` rows (heads x tokens) in the ``[B * H, N, D]``
    view of ``x`` (contiguous), and the 2-D layout a ``[GP * BM, D]`` view of its box takes."""
    B, H, N, D = x.shape
    gl_dtype = gl.bfloat16 if x.dtype == torch.bfloat16 else gl.float16
    layout = gl.NVMMASharedLayout.get_default_for([gp, bm, D], gl_dtype)
    x3 = x.view(B * H, N, D)
    desc = TensorDescriptor(x3, list(x3.shape), list(x3.stride()), [gp, bm, D], layout)
    return desc, gl.NVMMASharedLayout.get_default_for([gp * bm, D], gl_dtype)


def gluon_bwd_kv(q, k, v, d_out, lse, delta, bias, t_offsets, t_counts, t_tiles, t_entries, *, chunk_size: int,
                 bm: int, gp: int, n_tiles: int, stages: int = 2, maxnreg: int = 128, producer_regs: int = 24,
                 summary_grad: dict | None = None):  # fmt: skip
    """dk, dv (fp32 ``[B, Hkv, N, D]``) of the attention with the prior's stored biases ``bias``
    (``[n_pairs, bm]``, base 2, list order; ``prior.listed_bias``), over the transposed lists
    (``backward.transpose_lists``: ``t_entries`` holds each entry's place in ``bias``). q, k, v,
    d_out bf16 or fp16 and contiguous; ``lse`` (natural log) and ``delta`` fp32 ``[B, Hq, N]``.
    ``summary_grad``: the summaries' gradient too, written into its ``d_sum`` (fp32 ``[B, Hkv,
    n_chunks, D]``, every chunk), from its ``summary_tiles`` (``gluon_bwd_q.summary_rows``),
    ``tau`` ``[B, Hq, N]``, the dq kernel's ``dpt`` and ``k_row`` (``[B, Hq, N]``) and ``xscale``."""
    from dashbench.kernels.dash.gluon_bwd_q import PIECES, summary_tiles_descriptor

    B, Hq, N, D = q.shape
    Hkv = k.shape[1]
    n_chunks = -(-N // chunk_size)
    if q.dtype not in (torch.bfloat16, torch.float16) or gp * bm != 64 or chunk_size != 64 or stages < 2:
        raise ValueError("gluon_bwd_kv runs bf16/fp16 inputs, 64-row tiles, 64-key chunks, 2+ stages")
    if not all(x.is_contiguous() for x in (q, k, v, d_out)):
        raise ValueError("gluon_bwd_kv needs contiguous q, k, v and d_out")
    q_desc, rows_layout = rows_descriptor(q, gp, bm)
    do_desc, _ = rows_descriptor(d_out, gp, bm)
    k_desc, v_desc, gl_dtype = kv_descriptors(k, v, chunk_size)
    dk = torch.empty(B, Hkv, N, D, device=q.device, dtype=torch.float32)
    dv = torch.empty_like(dk)
    sg = summary_grad or {}
    tiles = sg.get("summary_tiles")
    s_desc = summary_tiles_descriptor(tiles if tiles is not None else q.new_zeros(PIECES, D))
    _gluon_bwd_kv_kernel[(n_chunks, B * Hkv)](
        q_desc, do_desc, k_desc, v_desc, s_desc, lse, delta, bias, t_offsets, t_counts, t_tiles, t_entries,
        sg.get("tau", lse), sg.get("dpt", lse), sg.get("k_row", lse), dk, dv, sg.get("d_sum", dk),
        N, n_tiles, n_chunks, LOG2E / math.sqrt(D), sg.get("xscale", 0.0),
        HKV=Hkv, G=Hq // Hkv, GP=gp, BM=bm, C=chunk_size, D=D, STAGES=stages, ROWS_LAYOUT=rows_layout,
        W_LAYOUT=gl.NVMMASharedLayout.get_default_for([gp * bm, PIECES], gl_dtype), PRODUCER_REGS=producer_regs,
        num_warps=4, maxnreg=maxnreg, SUMMARY_GRAD=bool(sg),
    )  # fmt: skip
    return dk, dv


def compile_for_sm90(G: int = 4, D: int = 128, stages: int = 2, maxnreg: int = 128, producer_regs: int = 24,
                     summary_grad: bool = False):  # fmt: skip
    """The kernel compiled ahead of time for an H100/H200 (no GPU needed), bf16, fp16 biases."""
    from triton.runtime.jit import mangle_type

    from dashbench.kernels.dash.gluon_bwd_q import PIECES, summary_tiles_descriptor
    from dashbench.kernels.dash.route import padded_group, tile_rows

    gp, bm = padded_group(G), tile_rows(G, 64, 64)
    x = torch.zeros(2, 2 * G, 256, D, dtype=torch.bfloat16)  # only its type and layout matter
    rows_desc, rows_layout = rows_descriptor(x, gp, bm)
    s_desc = summary_tiles_descriptor(torch.zeros(64, D, dtype=torch.bfloat16))
    consts = dict(HKV=2, G=G, GP=gp, BM=bm, C=64, D=D, STAGES=stages, ROWS_LAYOUT=rows_layout,
                  W_LAYOUT=gl.NVMMASharedLayout.get_default_for([gp * bm, PIECES], gl.bfloat16),
                  PRODUCER_REGS=producer_regs, num_warps=4, SUMMARY_GRAD=summary_grad)  # fmt: skip
    types = {"q_desc": mangle_type(rows_desc), "do_desc": mangle_type(rows_desc), "s_desc": mangle_type(s_desc),
             "LSE": "*fp32", "DELTA": "*fp32", "BIAS": "*fp16", "T_OFFSETS": "*i64", "T_COUNTS": "*i32",
             "T_TILES": "*i32", "T_ENTRIES": "*i32", "TAU": "*fp32", "DPT": "*fp32", "KROW": "*fp32",
             "DK": "*fp32", "DV": "*fp32", "DSUM": "*fp32", "xscale": "fp32"}  # fmt: skip
    return compile_kernel_for_sm90(_gluon_bwd_kv_kernel, consts, D, 64, types=types, maxnreg=maxnreg)


if __name__ == "__main__":  # python -m dashbench.kernels.dash.gluon_bwd_kv: sm_90 resources
    from dashbench.kernels.dash.compile_check import resources
    from dashbench.kernels.dash.gluon_attend import sass_schedule

    for G, D, stages, summary_grad, maxnreg in ((4, 128, 2, False, 128), (16, 128, 2, False, 128),
                                                (4, 128, 3, False, 128), (1, 64, 2, False, 128),
                                                (3, 128, 2, False, 128), (4, 128, 2, True, 168),
                                                (16, 128, 2, True, 168),
                                                (1, 64, 2, True, 168)):  # fmt: skip
        kernel = compile_for_sm90(G, D, stages=stages, maxnreg=maxnreg, summary_grad=summary_grad)
        print(f"G={G} D={D} stages={stages} summary_grad={summary_grad} maxnreg={maxnreg} {resources(kernel)}: "
              f"{' '.join(sass_schedule(kernel))}", flush=True)
