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
stored (``interface.use_stored_bias``) and with the summaries' gradient by the dq kernel's
atomics; elsewhere the Triton kernel runs. Checked on the GPU against it and the float64
reference (tests/kernels/dash/test_gluon_bwd_kv.py); its CPU test compiles it for sm_90.
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
def _producer(q_desc, do_desc, k_desc, v_desc, LSE, DELTA, BIAS, T_OFFSETS, T_COUNTS, T_TILES, T_ENTRIES,
              q_bufs, do_bufs, row_bufs, k_smem, v_smem, kv_bar, ready, empty, c, bh, N, n_tiles, n_chunks,
              HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr, BM: gl.constexpr, C: gl.constexpr,
              D: gl.constexpr, STAGES: gl.constexpr):  # fmt: skip
    R: gl.constexpr = GP * BM
    b = (bh // HKV).to(gl.int64)
    h = (bh % HKV).to(gl.int64)
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
        mbarrier.wait(empty.index(slot), ((j // STAGES) & 1) ^ 1)  # a fresh barrier passes parity 1
        row_bufs.index(4 * slot).store(lse)
        row_bufs.index(4 * slot + 1).store(delta)
        row_bufs.index(4 * slot + 2).store(bias)
        bar = ready.index(slot)  # its arrive (release) orders the stores above before the consumer's reads
        mbarrier.expect(bar, q_desc.block_type.nbytes + do_desc.block_type.nbytes)
        _load_rows(q_desc, head0, t, bar, q_bufs.index(slot), GP, BM, D)
        _load_rows(do_desc, head0, t, bar, do_bufs.index(slot), GP, BM, D)


@gluon.jit
def _consumer(q_desc, do_desc, k_desc, v_desc, LSE, DELTA, BIAS, T_OFFSETS, T_COUNTS, T_TILES, T_ENTRIES,
              q_bufs, do_bufs, row_bufs, k_smem, v_smem, kv_bar, ready, empty, c, bh, N, n_tiles, n_chunks,
              DK, DV, sm_scale, HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr, BM: gl.constexpr,
              C: gl.constexpr, D: gl.constexpr, STAGES: gl.constexpr, ROWS_LAYOUT: gl.constexpr):  # fmt: skip
    R: gl.constexpr = GP * BM
    NW: gl.constexpr = 4
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
        st = warpgroup_mma(k_smem, q_s.permute((1, 0)), zero_st, use_acc=False, is_async=True)
        dpt = warpgroup_mma(v_smem, do_s.permute((1, 0)), zero_st, use_acc=False, is_async=True)
        shift = row_bufs.index(4 * slot + 2).load(col_layout) - row_bufs.index(4 * slot).load(col_layout)  # bias - lse
        st = warpgroup_mma_wait(num_outstanding=1, deps=(st,))
        s = st * sm_scale + shift[None, :]
        pos = t * BM + cols % BM
        s = gl.where((j >= n_diag) | (kpos[:, None] <= pos[None, :]), s, float("-inf"))  # own chunk: causal
        p = gl.exp2(s)
        p_op = gl.convert_layout(p.to(q_bufs.dtype), op_layout)
        dv = warpgroup_mma(p_op, do_s, dv, is_async=True)
        delta = row_bufs.index(4 * slot + 1).load(col_layout)
        dpt = warpgroup_mma_wait(num_outstanding=1, deps=(dpt,))
        ds_op = gl.convert_layout((p * (dpt - delta[None, :])).to(q_bufs.dtype), op_layout)
        dk = warpgroup_mma(ds_op, q_s, dk, is_async=True)
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


@gluon.jit
def _gluon_bwd_kv_kernel(
    q_desc, do_desc, k_desc, v_desc, LSE, DELTA, BIAS, T_OFFSETS, T_COUNTS, T_TILES, T_ENTRIES, DK, DV,
    N, n_tiles, n_chunks, sm_scale,
    HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr, BM: gl.constexpr, C: gl.constexpr,
    D: gl.constexpr, STAGES: gl.constexpr, ROWS_LAYOUT: gl.constexpr, PRODUCER_REGS: gl.constexpr,
    num_warps: gl.constexpr,
):  # fmt: skip
    R: gl.constexpr = GP * BM
    c = gl.program_id(0)  # early chunks (the most listing tiles) first
    bh = gl.program_id(1)
    # [R, D] slots for the wgmmas; the producer's TMA writes each as the [GP, BM, D] box it loads
    q_bufs = gl.allocate_shared_memory(q_desc.dtype, [STAGES, R, D], ROWS_LAYOUT)
    do_bufs = gl.allocate_shared_memory(do_desc.dtype, [STAGES, R, D], ROWS_LAYOUT)
    # per slot 4 rows of R: lse, delta, bias (and one unused: shapes are powers of 2)
    row_bufs = gl.allocate_shared_memory(gl.float32, [STAGES * 4, R], gl.SwizzledSharedLayout(1, 1, 1, order=[0]))
    k_smem = gl.allocate_shared_memory(k_desc.dtype, [C, D], k_desc.layout)
    v_smem = gl.allocate_shared_memory(v_desc.dtype, [C, D], v_desc.layout)
    kv_bar = gl.allocate_shared_memory(gl.int64, [1], mbarrier.MBarrierLayout())
    mbarrier.init(kv_bar, count=1)
    ready, empty = ring_barriers(STAGES)
    fence_async_shared()  # the barriers' init before the TMA unit uses them
    gl.warp_specialize([
        (_consumer, (q_desc, do_desc, k_desc, v_desc, LSE, DELTA, BIAS, T_OFFSETS, T_COUNTS, T_TILES, T_ENTRIES,
                     q_bufs, do_bufs, row_bufs, k_smem, v_smem, kv_bar, ready, empty, c, bh, N, n_tiles, n_chunks,
                     DK, DV, sm_scale, HKV, G, GP, BM, C, D, STAGES, ROWS_LAYOUT)),
        (_producer, (q_desc, do_desc, k_desc, v_desc, LSE, DELTA, BIAS, T_OFFSETS, T_COUNTS, T_TILES, T_ENTRIES,
                     q_bufs, do_bufs, row_bufs, k_smem, v_smem, kv_bar, ready, empty, c, bh, N, n_tiles, n_chunks,
                     HKV, G, GP, BM, C, D, STAGES)),
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
                 bm: int, gp: int, n_tiles: int, stages: int = 2, maxnreg: int = 128,
                 producer_regs: int = 24):  # fmt: skip
    """dk, dv (fp32 ``[B, Hkv, N, D]``) of the attention with the prior's stored biases ``bias``
    (``[n_pairs, bm]``, base 2, list order; ``prior.listed_bias``), over the transposed lists
    (``backward.transpose_lists``: ``t_entries`` holds each entry's place in ``bias``). q, k, v,
    d_out bf16 or fp16 and contiguous; ``lse`` (natural log) and ``delta`` fp32 ``[B, Hq, N]``."""
    B, Hq, N, D = q.shape
    Hkv = k.shape[1]
    n_chunks = -(-N // chunk_size)
    if q.dtype not in (torch.bfloat16, torch.float16) or gp * bm != 64 or chunk_size != 64 or stages < 2:
        raise ValueError("gluon_bwd_kv runs bf16/fp16 inputs, 64-row tiles, 64-key chunks, 2+ stages")
    if not all(x.is_contiguous() for x in (q, k, v, d_out)):
        raise ValueError("gluon_bwd_kv needs contiguous q, k, v and d_out")
    q_desc, rows_layout = rows_descriptor(q, gp, bm)
    do_desc, _ = rows_descriptor(d_out, gp, bm)
    k_desc, v_desc, _ = kv_descriptors(k, v, chunk_size)
    dk = torch.empty(B, Hkv, N, D, device=q.device, dtype=torch.float32)
    dv = torch.empty_like(dk)
    _gluon_bwd_kv_kernel[(n_chunks, B * Hkv)](
        q_desc, do_desc, k_desc, v_desc, lse, delta, bias, t_offsets, t_counts, t_tiles, t_entries, dk, dv,
        N, n_tiles, n_chunks, LOG2E / math.sqrt(D),
        HKV=Hkv, G=Hq // Hkv, GP=gp, BM=bm, C=chunk_size, D=D, STAGES=stages, ROWS_LAYOUT=rows_layout,
        PRODUCER_REGS=producer_regs, num_warps=4, maxnreg=maxnreg,
    )  # fmt: skip
    return dk, dv


def compile_for_sm90(G: int = 4, D: int = 128, stages: int = 2, maxnreg: int = 128, producer_regs: int = 24):
    """The kernel compiled ahead of time for an H100/H200 (no GPU needed), bf16, fp16 biases."""
    from triton.runtime.jit import mangle_type

    from dashbench.kernels.dash.route import padded_group, tile_rows

    gp, bm = padded_group(G), tile_rows(G, 64, 64)
    x = torch.zeros(2, 2 * G, 256, D, dtype=torch.bfloat16)  # only its type and layout matter
    rows_desc, rows_layout = rows_descriptor(x, gp, bm)
    consts = dict(HKV=2, G=G, GP=gp, BM=bm, C=64, D=D, STAGES=stages, ROWS_LAYOUT=rows_layout,
                  PRODUCER_REGS=producer_regs, num_warps=4)  # fmt: skip
    types = {"q_desc": mangle_type(rows_desc), "do_desc": mangle_type(rows_desc), "LSE": "*fp32", "DELTA": "*fp32",
             "BIAS": "*fp16", "T_OFFSETS": "*i64", "T_COUNTS": "*i32", "T_TILES": "*i32", "T_ENTRIES": "*i32",
             "DK": "*fp32", "DV": "*fp32"}  # fmt: skip
    return compile_kernel_for_sm90(_gluon_bwd_kv_kernel, consts, D, 64, types=types, maxnreg=maxnreg)


if __name__ == "__main__":  # python -m dashbench.kernels.dash.gluon_bwd_kv: sm_90 resources
    from dashbench.kernels.dash.compile_check import resources
    from dashbench.kernels.dash.gluon_attend import sass_schedule

    for G, D, stages in ((4, 128, 2), (16, 128, 2), (4, 128, 3), (1, 64, 2), (3, 128, 2)):
        kernel = compile_for_sm90(G, D, stages=stages)
        print(f"G={G} D={D} stages={stages} {resources(kernel)}: {' '.join(sass_schedule(kernel))}", flush=True)
