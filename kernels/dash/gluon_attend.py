"""Experimental (stop 20, not yet run on a GPU): the stored-bias attention of ``attend.py`` in
Gluon for sm_90, scheduled by hand so that the tensor cores work during the softmax.

Plain Triton waits on every QKᵀ product right after issuing it (sm_90 PTX: ``wgmma.wait_group 0``
before the softmax's ``ex2``s, kernels/README.md), so one warpgroup alternates between tensor
and CUDA cores. Here each step issues the next list entry's QKᵀ and this entry's PV together,
waits for the QKᵀ only, and runs the next entry's softmax while the PV computes (FA3's
intra-warpgroup overlap). The PV is waited for within the step: a group left in flight across
the loop's back edge made ptxas serialize every wgmma (warning C7514). K and V of the list
entries come by TMA into a ring of ``STAGES`` slots, ``STAGES`` entries ahead. Same tiles, lists
and stored biases as ``attend`` with ``diagonal_last=True``: the tile's own chunk is the list's
last entry, causally masked, bias 0.

Checked here only by compiling for sm_90 (tests/kernels/dash/test_gluon_attend.py); its GPU
test compares it with ``attend`` before it may be timed.
"""

from __future__ import annotations

import math

import torch
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import (
    fence_async_shared,
    mbarrier,
    tma,
    warpgroup_mma,
    warpgroup_mma_wait,
)
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

LOG2E = 1.4426950408889634
# The TMA load was renamed after Triton 3.6 (the H100's): async_copy_global_to_shared -> async_load.
_tma_load = getattr(tma, "async_load", None) or tma.async_copy_global_to_shared


@gluon.jit
def ring_barriers(STAGES: gl.constexpr, RELEASES: gl.constexpr = 1):
    """A TMA ring's barriers, initialised: per slot ``ready`` (its copies landed) and ``empty``
    (``RELEASES`` consumers are done with it)."""
    ready = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for i in gl.static_range(STAGES):
        mbarrier.init(ready.index(i), count=1)
        mbarrier.init(empty.index(i), count=RELEASES)
    return ready, empty


@gluon.jit
def _entry_chunk(IDS, start, j, n_listed, own):
    """Chunk id of list entry ``j``: the listed chunks, then the tile's own chunk."""
    listed = gl.load(IDS + start + gl.minimum(j, gl.maximum(n_listed - 1, 0)), mask=j < n_listed, other=0)
    return gl.where(j < n_listed, listed, own)


@gluon.jit
def _issue_entry(k_desc, v_desc, k_bufs, v_bufs, bars, c, j, live, kv_row0, C: gl.constexpr,
                 STAGES: gl.constexpr):  # fmt: skip
    """TMA loads of entry ``j`` (chunk ``c``)'s K and V into slot ``j % STAGES`` if ``live``."""
    slot = j % STAGES
    bar = bars.index(slot)
    mbarrier.expect(bar, k_desc.block_type.nbytes + v_desc.block_type.nbytes, pred=live)
    _tma_load(k_desc, [kv_row0 + c * C, 0], bar, k_bufs.index(slot), pred=live)
    _tma_load(v_desc, [kv_row0 + c * C, 0], bar, v_bufs.index(slot), pred=live)


@gluon.jit
def _entry_bias_words(BIAS, start, j, n_listed, rows, BM: gl.constexpr):
    """Entry ``j``'s stored biases, one word a row (0 past the listed chunks): fp16 biases as
    int32 pairs (``BIAS`` an int32 view), or fp32 biases as they are."""
    token = rows % BM
    entry = start + gl.minimum(j, gl.maximum(n_listed - 1, 0))
    if BIAS.dtype.element_ty == gl.float32:
        words = gl.load(BIAS + entry * BM + token, mask=(rows >= 0) & (j < n_listed), other=0.0)
    else:
        words = gl.load(BIAS + entry * (BM // 2) + token // 2, mask=(rows >= 0) & (j < n_listed), other=0)
    return words


@gluon.jit
def _bias_values(words, rows, BM: gl.constexpr):
    """The fp32 bias of each row from ``_entry_bias_words``."""
    if words.dtype == gl.float32:
        bias = words
    else:
        half = gl.where((rows % BM) % 2 == 0, words, words >> 16) & 0xFFFF
        bias = half.to(gl.int16).to(gl.float16, bitcast=True).to(gl.float32)
    return bias


@gluon.jit
def _entry_scores(qk, words, j, n_listed, own, pos, rows, keys, sm_scale, BM: gl.constexpr, C: gl.constexpr):
    """Base-2 scores of entry ``j`` from its raw product: listed chunks get their stored fp16
    bias (``words``: ``_entry_bias_words``), the own chunk bias 0 and the causal mask."""
    s = qk * sm_scale + _bias_values(words, rows, BM)[:, None]
    c = gl.where(j < n_listed, -1, own)  # -1: a listed (earlier, complete) chunk, no mask
    kpos = c * C + keys
    return gl.where((c < 0) | (kpos[None, :] <= pos[:, None]), s, float("-inf"))


@gluon.jit
def _listed_update(qk, words, m_i, l_i, rows, sm_scale, BM: gl.constexpr):
    """The online softmax's step over a listed chunk (complete, no mask): its bias is constant
    along a row, so the row max is taken on the raw product and scale, bias and max fold into one
    FMA an element before the ex2 (-inf biases, unrouted tokens, give p = 0)."""
    bias = _bias_values(words, rows, BM)
    m_new = gl.maximum(m_i, gl.max(qk, axis=1) * sm_scale + bias)
    alpha = gl.exp2(m_i - m_new)
    p = gl.exp2(qk * sm_scale + (bias - m_new)[:, None])
    return p, alpha, m_new, l_i * alpha + gl.sum(p, axis=1)


@gluon.jit
def _first_update(qk, words, n_listed, own, pos, rows, keys, sm_scale, m_floor, BM: gl.constexpr, C: gl.constexpr):
    """The online softmax's start at list entry 0 (a listed chunk, or the own chunk if none is
    listed): ``(p, m, l)``."""
    s = _entry_scores(qk, words, 0, n_listed, own, pos, rows, keys, sm_scale, BM, C)
    m_i = gl.maximum(m_floor, gl.max(s, axis=1))
    p = gl.exp2(s - m_i[:, None])
    return p, m_i, gl.sum(p, axis=1)


@gluon.jit
def _own_update(qk, m_i, l_i, n_listed, own, pos, rows, keys, sm_scale, BM: gl.constexpr, C: gl.constexpr):
    """The online softmax's step over the tile's own chunk (bias 0, causally masked)."""
    s = _entry_scores(qk, gl.zeros_like(rows), n_listed, n_listed, own, pos, rows, keys, sm_scale, BM, C)
    m_new = gl.maximum(m_i, gl.max(s, axis=1))
    alpha = gl.exp2(m_i - m_new)
    p = gl.exp2(s - m_new[:, None])
    return p, alpha, m_new, l_i * alpha + gl.sum(p, axis=1)


@gluon.jit
def _load_q_rows(Q, b, h, t, N, stride_qb, stride_qh, stride_qn, R: gl.constexpr, BM: gl.constexpr,
                 G: gl.constexpr, D: gl.constexpr, NW: gl.constexpr):  # fmt: skip
    """Tile ``t``'s q rows (head g, token), zero past the sequence and the group."""
    ld_layout: gl.constexpr = gl.BlockedLayout([1, 8], [4, 8], [NW, 1], [1, 0])
    lrows = gl.arange(0, R, layout=gl.SliceLayout(1, ld_layout))
    ldims = gl.arange(0, D, layout=gl.SliceLayout(0, ld_layout))
    lqi = t.to(gl.int64) * BM + lrows % BM
    lvalid = (lqi < N) & (lrows // BM < G)
    lhead = h * G + lrows // BM
    return gl.load(Q + b * stride_qb + lhead[:, None] * stride_qh + lqi[:, None] * stride_qn + ldims[None, :],
                   mask=lvalid[:, None], other=0.0)  # fmt: skip


@gluon.jit
def _store_rows(OUT, LSE, acc, m_i, l_i, rows, b, h, t, N, stride_ob, stride_oh, stride_on, HKV: gl.constexpr,
                G: gl.constexpr, R: gl.constexpr, BM: gl.constexpr, D: gl.constexpr,
                o_layout: gl.constexpr):  # fmt: skip
    """Tile ``t``'s output rows (``acc / l``) and natural-log log-sum-exp."""
    orows = gl.arange(0, R, layout=gl.SliceLayout(1, o_layout))
    odims = gl.arange(0, D, layout=gl.SliceLayout(0, o_layout))
    oqi = t.to(gl.int64) * BM + orows % BM
    ovalid = (oqi < N) & (orows // BM < G)
    ohead = h * G + orows // BM
    out = acc / gl.convert_layout(l_i, gl.SliceLayout(1, o_layout))[:, None]
    gl.store(OUT + b * stride_ob + ohead[:, None] * stride_oh + oqi[:, None] * stride_on + odims[None, :],
             out.to(OUT.dtype.element_ty), mask=ovalid[:, None])  # fmt: skip
    qi = t.to(gl.int64) * BM + rows % BM
    valid = (qi < N) & (rows // BM < G)
    head = h * G + rows // BM
    gl.store(LSE + (b * HKV * G + head) * N + qi, (m_i + gl.log2(l_i)) * 0.6931471805599453, mask=valid)


@gluon.jit
def _gluon_attend_kernel(
    Q, k_desc, v_desc, OFFSETS, COUNTS, IDS, BIAS, OUT, LSE,
    stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on,
    N, n_tiles, sm_scale,
    HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr, BM: gl.constexpr, C: gl.constexpr,
    D: gl.constexpr, STAGES: gl.constexpr, Q_LAYOUT: gl.constexpr, Q_REGS: gl.constexpr,
    num_warps: gl.constexpr,
):  # fmt: skip
    R: gl.constexpr = GP * BM
    t = n_tiles - 1 - gl.program_id(0)  # the longest tiles first, as in attend.py
    bh = gl.program_id(1)
    b = (bh // HKV).to(gl.int64)
    h = (bh % HKV).to(gl.int64)
    own = (t * BM) // C
    kv_row0 = bh * N  # this (batch, KV head)'s key 0 in the [B * Hkv * N, D] view

    s_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[num_warps, 1],
                                                       instr_shape=[16, C, 16])  # fmt: skip
    o_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[num_warps, 1],
                                                       instr_shape=[16, D, 16])  # fmt: skip
    p_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)

    # q rows (head g, token): the A operand of every QKᵀ, from shared memory or (Q_REGS) registers
    q = _load_q_rows(Q, b, h, t, N, stride_qb, stride_qh, stride_qn, R, BM, G, D, num_warps)
    if Q_REGS:  # half the QKᵀ's shared-memory reads, 16 KB of shared memory less a 64-row tile
        q_a = gl.convert_layout(q, gl.DotOperandLayout(operand_index=0, parent=s_layout, k_width=2))
    else:
        q_a = gl.allocate_shared_memory(Q.dtype.element_ty, [R, D], Q_LAYOUT, q)
        fence_async_shared()  # the wgmmas read q through the async proxy (Gluon inserts no fence)

    k_bufs = gl.allocate_shared_memory(k_desc.dtype, [STAGES, C, D], k_desc.layout)
    v_bufs = gl.allocate_shared_memory(v_desc.dtype, [STAGES, C, D], v_desc.layout)
    bars = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for i in gl.static_range(STAGES):
        mbarrier.init(bars.index(i), count=1)

    tile = (b * HKV + h) * n_tiles + t
    start = gl.load(OFFSETS + tile)
    n_listed = gl.load(COUNTS + tile)
    n_entries = n_listed + 1  # and the own chunk, last
    for j in gl.static_range(STAGES):
        _issue_entry(k_desc, v_desc, k_bufs, v_bufs, bars, _entry_chunk(IDS, start, j, n_listed, own), j,
                     j < n_entries, kv_row0, C, STAGES)  # fmt: skip
    c_ahead = own  # the chunk id a step's start requests (loaded a step before: Gluon does not pipeline loads)

    rows = gl.arange(0, R, layout=gl.SliceLayout(1, s_layout))
    keys = gl.arange(0, C, layout=gl.SliceLayout(0, s_layout))
    pos = t * BM + rows % BM
    zero_s = gl.zeros([R, C], gl.float32, layout=s_layout)
    m_i = gl.full([R], -1.0e30, gl.float32, layout=gl.SliceLayout(1, s_layout))  # a finite floor
    mbarrier.wait(bars.index(0), 0)
    qk = warpgroup_mma(q_a, k_bufs.index(0).permute((1, 0)), zero_s, use_acc=False, is_async=True)
    qk = warpgroup_mma_wait(num_outstanding=0, deps=(qk,))
    # entry 0's softmax before the loop; each step then overlaps one entry's PV with the next
    # entry's softmax
    p, m_i, l_i = _first_update(qk, _entry_bias_words(BIAS, start, 0, n_listed, rows, BM), n_listed, own, pos, rows,
                                keys, sm_scale, m_i, BM, C)  # fmt: skip
    alpha = gl.full([R], 1.0, gl.float32, layout=gl.SliceLayout(1, s_layout))
    acc = gl.zeros([R, D], gl.float32, layout=o_layout)
    # Steps over the listed entries 1 .. n_listed - 1 (no mask), then the own chunk's step
    # (masked) peeled off the loop, then the own chunk's PV. Each step: request entry
    # i - 1 + STAGES into the slot entry i - 1's PV freed (at the step's start: at its end ptxas
    # moved the softmax's ex2s after the PV's wait), issue entry i + 1's QKᵀ and entry i's PV
    # together, wait for the QKᵀ only, run entry i + 1's softmax while the PV runs, then wait
    # for the PV.
    for i in range(0, n_listed - 1):
        _issue_entry(k_desc, v_desc, k_bufs, v_bufs, bars, c_ahead, i - 1 + STAGES,
                     (i > 0) & (i - 1 + STAGES < n_entries), kv_row0, C, STAGES)  # fmt: skip
        c_ahead = _entry_chunk(IDS, start, i + STAGES, n_listed, own)
        mbarrier.wait(bars.index((i + 1) % STAGES), ((i + 1) // STAGES) & 1)
        qk_next = warpgroup_mma(q_a, k_bufs.index((i + 1) % STAGES).permute((1, 0)), zero_s, use_acc=False,
                                is_async=True)  # fmt: skip
        acc = acc * gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]
        p_op = gl.convert_layout(p.to(Q.dtype.element_ty), p_layout)
        acc = warpgroup_mma(p_op, v_bufs.index(i % STAGES), acc, is_async=True)
        words = _entry_bias_words(BIAS, start, i + 1, n_listed, rows, BM)
        qk = warpgroup_mma_wait(num_outstanding=1, deps=(qk_next,))
        p, alpha, m_i, l_i = _listed_update(qk, words, m_i, l_i, rows, sm_scale, BM)
        acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc, p_op))[0]  # p_op: read until then
    if n_listed > 0:  # the own chunk's step (entry n_listed) beside the last listed entry's PV
        i = n_listed - 1
        _issue_entry(k_desc, v_desc, k_bufs, v_bufs, bars, c_ahead, i - 1 + STAGES,
                     (i > 0) & (i - 1 + STAGES < n_entries), kv_row0, C, STAGES)  # fmt: skip
        mbarrier.wait(bars.index(n_listed % STAGES), (n_listed // STAGES) & 1)
        qk_next = warpgroup_mma(q_a, k_bufs.index(n_listed % STAGES).permute((1, 0)), zero_s, use_acc=False,
                                is_async=True)  # fmt: skip
        acc = acc * gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]
        p_op = gl.convert_layout(p.to(Q.dtype.element_ty), p_layout)
        acc = warpgroup_mma(p_op, v_bufs.index(i % STAGES), acc, is_async=True)
        qk = warpgroup_mma_wait(num_outstanding=1, deps=(qk_next,))
        p, alpha, m_i, l_i = _own_update(qk, m_i, l_i, n_listed, own, pos, rows, keys, sm_scale, BM, C)
        acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc, p_op))[0]
    # the own chunk's PV
    acc = acc * gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]
    p_op = gl.convert_layout(p.to(Q.dtype.element_ty), p_layout)
    acc = warpgroup_mma(p_op, v_bufs.index(n_listed % STAGES), acc, is_async=True)
    acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc, p_op))[0]
    for i in gl.static_range(STAGES):
        mbarrier.invalidate(bars.index(i))

    _store_rows(OUT, LSE, acc, m_i, l_i, rows, b, h, t, N, stride_ob, stride_oh, stride_on, HKV, G, R, BM, D,
                o_layout)


def check_inputs(name: str, q, k, v, ids, bias, bm: int, bias_dtypes=(torch.float16,)) -> None:
    """The Gluon attentions' shared contract; ``ValueError`` names the problem."""
    B, Hq, N, D = q.shape
    Hkv = k.shape[1]
    if q.dtype not in (torch.bfloat16, torch.float16) or k.dtype != q.dtype or v.dtype != q.dtype:
        raise ValueError(f"{name} takes bf16 or fp16 q, k, v of one dtype")
    if bias.dtype not in bias_dtypes or bias.shape != (max(1, ids.numel()), bm) or bm % 2:
        kinds = " or ".join(str(d).removeprefix("torch.").replace("float", "fp") for d in bias_dtypes)
        raise ValueError(f"bias must be {kinds} [{max(1, ids.numel())}, {bm}] with an even bm (prior.listed_bias)")
    if k.shape != (B, Hkv, N, D) or v.shape != k.shape:
        raise ValueError(f"k and v must be [B, Hkv, N, D] = {[B, Hkv, N, D]}; got {list(k.shape)}, {list(v.shape)}")
    if B * Hkv * N >= 2**31:
        raise ValueError("the TMA rows of the [B * Hkv * N, D] key view must fit int32")


def kv_descriptors(k, v, chunk_size: int):
    """TMA descriptors of one chunk's K and V rows in the ``[B * Hkv * N, D]`` views, and the
    Gluon dtype."""
    D = k.shape[-1]
    gl_dtype = gl.bfloat16 if k.dtype == torch.bfloat16 else gl.float16
    layout = gl.NVMMASharedLayout.get_default_for([chunk_size, D], gl_dtype)
    descs = []
    for x in (k, v):
        x2 = x.contiguous().view(-1, D)
        descs.append(TensorDescriptor(x2, list(x2.shape), list(x2.stride()), [chunk_size, D], layout))
    return descs[0], descs[1], gl_dtype


def compile_kernel_for_sm90(fn, consts: dict, D: int, chunk_size: int, bias_type: str = "*i32", types=None,
                            **options):  # fmt: skip
    """A Gluon attention kernel compiled ahead of time for an H100 (no GPU needed), bf16, with
    the pointers and strides a launch would find 16-divisible; ``types``: other arguments'."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.experimental.gluon._runtime import GluonASTSource
    from triton.runtime.jit import mangle_type

    rows = torch.zeros(1024, D, dtype=torch.bfloat16)  # only its type and layout matter
    layout = gl.NVMMASharedLayout.get_default_for([chunk_size, D], gl.bfloat16)
    desc = mangle_type(TensorDescriptor(rows, list(rows.shape), list(rows.stride()), [chunk_size, D], layout))
    types = {"Q": "*bf16", "k_desc": desc, "v_desc": desc, "OFFSETS": "*i64", "COUNTS": "*i32", "IDS": "*i32",
             "UOFF": "*i64", "UCNT": "*i32", "UIDS": "*i32", "BIAS": bias_type, "OUT": "*bf16", "LSE": "*fp32",
             "sm_scale": "fp32"} | (types or {})  # fmt: skip
    sig = {n: "constexpr" if n in consts else types.get(n, "i32") for n in fn.arg_names}
    attrs = {(i,): [["tt.divisibility", 16]] for i, n in enumerate(fn.arg_names)
             if sig[n].startswith("*") or (n.startswith("stride") and sig[n] == "i32")}  # fmt: skip
    return triton.compile(GluonASTSource(fn, sig, consts, attrs), target=GPUTarget("cuda", 90, 128),
                          options={"num_warps": consts["num_warps"], **options})  # fmt: skip


def gluon_attend(q, k, v, offsets, counts, ids, bias, *, chunk_size: int, bm: int, gp: int, stages: int = 3,
                 q_regs: bool = False):  # fmt: skip
    """``attend(..., bias=bias, diagonal_last=True)`` for bf16/fp16 q, k, v with stored biases
    (``prior.listed_bias``: fp16 for bf16 q at sigma >= 1, fp32 otherwise; fp32 biases compiled,
    their GPU test written, not yet run on a GPU); returns ``(out, lse)``. Tiles of ``gp * bm`` =
    64 rows (one warpgroup) or 128 (two); ``q_regs``: q as the QKᵀ's register operand instead
    of shared memory."""
    B, Hq, N, D = q.shape
    Hkv = k.shape[1]
    check_inputs("gluon_attend", q, k, v, ids, bias, bm, (torch.float16, torch.float32))
    if gp * bm not in (64, 128) or stages < 2:
        raise ValueError("gluon_attend runs tiles of 64 or 128 rows (gp * bm) with at least 2 stages")
    k_desc, v_desc, gl_dtype = kv_descriptors(k, v, chunk_size)
    out = torch.empty_like(q)
    lse = torch.empty(B, Hq, N, device=q.device, dtype=torch.float32)
    n_tiles = counts.shape[2]
    _gluon_attend_kernel[(n_tiles, B * Hkv)](
        q, k_desc, v_desc, offsets, counts, ids, bias.view(torch.int32) if bias.dtype == torch.float16 else bias, out, lse,
        q.stride(0), q.stride(1), q.stride(2), out.stride(0), out.stride(1), out.stride(2),
        N, n_tiles, LOG2E / math.sqrt(D),
        HKV=Hkv, G=Hq // Hkv, GP=gp, BM=bm, C=chunk_size, D=D, STAGES=stages,
        Q_LAYOUT=gl.NVMMASharedLayout.get_default_for([gp * bm, D], gl_dtype), Q_REGS=bool(q_regs),
        num_warps=gp * bm // 16,  # a warpgroup per 64 rows
    )  # fmt: skip
    return out, lse


def launch_producer_kernel(kernel, name: str, q, k, v, offsets, counts, ids, bias, *, chunk_size: int, bm: int,
                           gp: int, maxnreg: int, producer_regs: int, **stages):  # fmt: skip
    """Check and launch a producer-warp Gluon attention (``gluon_ws_attend``; stop 22's two-chunk
    and stop 23's split-ring kernels, removed, took it too) over 64-row tiles; ``stages``: its
    ring constexprs (each at least 2).
    Returns ``(out, lse)``."""
    B, Hq, N, D = q.shape
    Hkv = k.shape[1]
    check_inputs(name, q, k, v, ids, bias, bm, (torch.float16, torch.float32))
    if gp * bm != 64 or min(stages.values()) < 2:
        raise ValueError(f"{name} runs 64-row tiles with at least 2 slots a ring")
    k_desc, v_desc, gl_dtype = kv_descriptors(k, v, chunk_size)
    out = torch.empty_like(q)
    lse = torch.empty(B, Hq, N, device=q.device, dtype=torch.float32)
    n_tiles = counts.shape[2]
    kernel[(n_tiles, B * Hkv)](
        q, k_desc, v_desc, offsets, counts, ids, bias.view(torch.int32) if bias.dtype == torch.float16 else bias,
        out, lse, q.stride(0), q.stride(1), q.stride(2), out.stride(0), out.stride(1), out.stride(2),
        N, n_tiles, LOG2E / math.sqrt(D),
        HKV=Hkv, G=Hq // Hkv, GP=gp, BM=bm, C=chunk_size, D=D, **stages,
        Q_LAYOUT=gl.NVMMASharedLayout.get_default_for([gp * bm, D], gl_dtype), PRODUCER_REGS=producer_regs,
        num_warps=4, maxnreg=maxnreg,
    )  # fmt: skip
    return out, lse


def compile_producer_kernel_for_sm90(kernel, G: int, D: int, chunk_size: int, maxnreg: int, producer_regs: int,
                                     bias_fp32: bool = False, **stages):  # fmt: skip
    """A producer-warp Gluon attention compiled ahead of time for an H100 (no GPU needed), bf16,
    64-row tiles, fp16 biases (``bias_fp32``: fp32)."""
    from dashbench.kernels.dash.route import padded_group, tile_rows

    gp, bm = padded_group(G), tile_rows(G, chunk_size, 64)
    consts = dict(HKV=8, G=G, GP=gp, BM=bm, C=chunk_size, D=D, **stages, PRODUCER_REGS=producer_regs, num_warps=4,
                  Q_LAYOUT=gl.NVMMASharedLayout.get_default_for([gp * bm, D], gl.bfloat16))  # fmt: skip
    return compile_kernel_for_sm90(kernel, consts, D, chunk_size, "*fp32" if bias_fp32 else "*i32", maxnreg=maxnreg)


def compile_for_sm90(G: int = 4, D: int = 128, chunk_size: int = 64, stages: int = 3, rows: int = 64,
                     q_regs: bool = False, bias_fp32: bool = False):  # fmt: skip
    """The kernel compiled ahead of time for an H100 (no GPU needed), bf16, tiles of ``rows``."""
    from dashbench.kernels.dash.route import padded_group, tile_rows

    gp, bm = padded_group(G), tile_rows(G, chunk_size, rows)
    consts = dict(HKV=8, G=G, GP=gp, BM=bm, C=chunk_size, D=D, STAGES=stages, num_warps=gp * bm // 16,
                  Q_REGS=bool(q_regs), Q_LAYOUT=gl.NVMMASharedLayout.get_default_for([gp * bm, D], gl.bfloat16))  # fmt: skip
    return compile_kernel_for_sm90(_gluon_attend_kernel, consts, D, chunk_size, "*fp32" if bias_fp32 else "*i32")


def sass_lines(kernel) -> list[str]:
    """A compiled kernel's sm_90 machine code, one instruction or label a line (the
    ``nvdisasm`` that Triton ships)."""
    import os
    import subprocess
    import tempfile

    import triton.backends.nvidia as nvidia_backend

    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(kernel.asm["cubin"])
        f.flush()
        tool = os.path.join(os.path.dirname(nvidia_backend.__file__), "bin", "nvdisasm")
        return subprocess.run([tool, "-c", f.name], capture_output=True, text=True, check=True).stdout.splitlines()


def sass_schedule(kernel) -> list[str]:
    """The machine code's order of wgmmas (HGMMA), waits on them (DEPBARn: n groups may stay in
    flight) and ex2s (EX2), runs of one kind collapsed: what overlaps what. (The PTX order is not
    enough: ptxas serializes wgmmas whose accumulators other instructions read, warning C7514.)"""
    seq = []
    for line in sass_lines(kernel):
        kind = ("HGMMA" if "HGMMA" in line else "EX2" if "MUFU.EX2" in line
                else "DEPBAR" + line.split("0x")[-1].split()[0].rstrip(";") if "WARPGROUP.DEPBAR" in line
                else None)  # fmt: skip
        if kind and not (seq and seq[-1] == kind):
            seq.append(kind)
    return seq


def main_loop_schedule(kernel) -> list[tuple[str, int]]:
    """The innermost loop holding wgmmas (the steps over listed chunks) as runs of HGMMA, EX2,
    DEPBARn, BAR (CTA barriers), LDS and LDG with their lengths: where the ex2s sit between the
    waits, which ``sass_schedule``'s collapsed runs do not show (a loop can keep two ex2s between
    the waits and move thirty after them)."""
    import re

    lines = sass_lines(kernel)
    labels = {line.strip()[:-1]: i for i, line in enumerate(lines) if re.match(r"^\.L_x_\d+:$", line.strip())}
    loops = []
    for i, line in enumerate(lines):
        target = re.search(r"BRA `\((\.L_x_\d+)\)", line)
        if target and labels.get(target.group(1), i) < i:
            body = lines[labels[target.group(1)] : i + 1]
            if any("HGMMA" in x for x in body) and any("MUFU.EX2" in x for x in body):
                loops.append(body)
    runs: list[tuple[str, int]] = []
    for line in min(loops, key=len) if loops else []:
        op = re.match(r"\s*/\*[0-9a-f]+\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]+)", line)
        if not op:
            continue
        op = op.group(1)
        kind = ("HGMMA" if "HGMMA" in op else "EX2" if "MUFU.EX2" in op
                else "DEPBAR" + line.split("0x")[-1].split()[0].rstrip(";") if "DEPBAR" in op
                else "BAR" if op.startswith("BAR.") else "LDS" if op.startswith("LDS") else "LDG" if op.startswith("LDG")
                else None)  # fmt: skip
        if kind:
            runs.append((kind, runs.pop()[1] + 1) if runs and runs[-1][0] == kind else (kind, 1))
    return runs


def ex2s_between_the_waits(kernel) -> int:
    """How many of the main loop's ex2s run after its QKᵀ's wait (DEPBAR1, or DEPBAR2 for two
    products in flight) and before its PV's wait (DEPBAR0)."""
    runs = main_loop_schedule(kernel)
    kinds = [k for k, _ in runs]
    first = next((i for i, k in enumerate(kinds) if k in ("DEPBAR1", "DEPBAR2")), None)
    if first is None or "DEPBAR0" not in kinds[first:]:
        return 0
    last = kinds.index("DEPBAR0", first)
    return sum(n for k, n in runs[first:last] if k == "EX2")


if __name__ == "__main__":  # python -m dashbench.kernels.dash.gluon_attend: the sm_90 schedule
    import sys

    from dashbench.kernels.dash.compile_check import resources

    for G, D, stages, rows, q_regs, f32 in ((4, 128, 2, 64, False, False), (4, 128, 3, 64, False, False),
                                            (16, 128, 2, 64, False, False), (1, 64, 3, 64, False, False),
                                            (4, 128, 3, 64, True, False), (4, 128, 3, 128, False, False),
                                            (4, 128, 2, 128, True, False), (4, 128, 3, 64, False, True)):  # fmt: skip
        kernel = compile_for_sm90(G, D, stages=stages, rows=rows, q_regs=q_regs, bias_fp32=f32)
        print(f"G={G} D={D} stages={stages} rows={rows} q_regs={int(q_regs)}{' fp32 biases' if f32 else ''} "
              f"{resources(kernel)}: {' '.join(sass_schedule(kernel))}")
    sys.stdout.flush()
