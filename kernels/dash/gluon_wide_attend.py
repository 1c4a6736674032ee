"""Experimental (stop 22): ``gluon_ws_attend`` taking two listed chunks (128 keys) a step.

Why: in ``gluon_ws_attend``'s sm_90 loop (Triton 3.6, 319 instructions a warp per 64-key
step) 64 are the accumulator's rescale (FMUL), ~45 integer and uniform bookkeeping, 2 CTA
barriers, 8 shuffles: costs paid once a step whatever its width. FA3 pays them per 128 keys.
Here a step's two chunks each get their own QKᵀ (their stored biases differ), one max over both,
one rescale, and both PVs into the accumulator.

Shared memory is what allowed only one chunk a step: K and V of the step's pair (PV) and of the
next pair (QKᵀ) in one ring of K+V slots would take 4 × 32 KB and leave one CTA an SM. So K and
V get rings of their own, each fed by its own producer warp: a K slot is freed right after its
QKᵀ, a V slot after its PV. ``K_STAGES = 2, V_STAGES = 4`` (16 KB a slot) plus q keep the CTA
at 112 KB, two an SM as before. An odd list's last pair is the last chunk and a phantom (the
same slot, bias -inf: p = 0). The own chunk (causally masked) is a step of its own, last.

Same tiles, lists, stored biases and arithmetic as ``gluon_attend``; its GPU test compares it
with ``attend`` before ``bench_dash.py --variants wide`` times it.
"""

from __future__ import annotations

from dashbench.kernels.dash.gluon_attend import (
    _bias_values,
    _entry_bias_words,
    _first_update,
    _load_q_rows,
    _own_update,
    _ring_producer,
    _store_rows,
    compile_producer_kernel_for_sm90,
    launch_producer_kernel,
)
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import (
    fence_async_shared,
    mbarrier,
    warpgroup_mma,
    warpgroup_mma_wait,
)


@gluon.jit
def _pair_update(qa, qb, words_a, words_b, live_b, m_i, l_i, rows, sm_scale, BM: gl.constexpr):
    """The online softmax's step over two listed chunks: one max over both (each chunk's bias is
    constant along a row, so each row max is taken on the raw product), one rescale; ``live_b``
    false makes the second a phantom (bias -inf, p = 0)."""
    bias_a = _bias_values(words_a, rows, BM)
    bias_b = gl.where(live_b, _bias_values(words_b, rows, BM), float("-inf"))
    m_new = gl.maximum(m_i, gl.maximum(gl.max(qa, axis=1) * sm_scale + bias_a, gl.max(qb, axis=1) * sm_scale + bias_b))
    alpha = gl.exp2(m_i - m_new)
    pa = gl.exp2(qa * sm_scale + (bias_a - m_new)[:, None])
    pb = gl.exp2(qb * sm_scale + (bias_b - m_new)[:, None])
    return pa, pb, alpha, m_new, l_i * alpha + (gl.sum(pa, axis=1) + gl.sum(pb, axis=1))


@gluon.jit
def _wide_consumer(Q, OFFSETS, COUNTS, BIAS, OUT, LSE, q_smem, k_bufs, v_bufs, k_ready, k_empty, v_ready, v_empty,
                   t, bh, N, n_tiles, stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on, sm_scale,
                   HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr, BM: gl.constexpr, C: gl.constexpr,
                   D: gl.constexpr, KS: gl.constexpr, VS: gl.constexpr):  # fmt: skip
    """One warpgroup: the listed chunks two a step (FA3's order: the next pair's QKᵀs and this
    pair's PVs issued together, the next softmax while the PVs run), then the own chunk."""
    R: gl.constexpr = GP * BM
    NW: gl.constexpr = 4
    b = (bh // HKV).to(gl.int64)
    h = (bh % HKV).to(gl.int64)
    own = (t * BM) // C
    s_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[NW, 1],
                                                       instr_shape=[16, C, 16])  # fmt: skip
    o_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[NW, 1],
                                                       instr_shape=[16, D, 16])  # fmt: skip
    p_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)
    dt: gl.constexpr = Q.dtype.element_ty

    q = _load_q_rows(Q, b, h, t, N, stride_qb, stride_qh, stride_qn, R, BM, G, D, NW)
    q_smem.store(q)
    fence_async_shared()  # the wgmmas read q through the async proxy

    tile = bh * n_tiles + t
    start = gl.load(OFFSETS + tile)
    n_listed = gl.load(COUNTS + tile)
    n_pairs = (n_listed + 1) // 2
    rows = gl.arange(0, R, layout=gl.SliceLayout(1, s_layout))
    keys = gl.arange(0, C, layout=gl.SliceLayout(0, s_layout))
    pos = t * BM + rows % BM
    zero_s = gl.zeros([R, C], gl.float32, layout=s_layout)
    m_i = gl.full([R], -1.0e30, gl.float32, layout=gl.SliceLayout(1, s_layout))
    l_i = gl.zeros([R], gl.float32, layout=gl.SliceLayout(1, s_layout))
    alpha = gl.full([R], 1.0, gl.float32, layout=gl.SliceLayout(1, s_layout))
    acc = gl.zeros([R, D], gl.float32, layout=o_layout)
    # the pair's p as the PVs' register operands, converted right after the softmax: bf16 (32
    # registers) rather than fp32 (64) live across the loop's back edge
    pa_op = gl.convert_layout(zero_s.to(dt), p_layout)
    pb_op = pa_op
    if n_pairs > 0:  # the first pair: no PV yet to overlap
        live_b = n_listed > 1
        kb = (live_b.to(gl.int32)) % KS  # entry 1's slot, or entry 0's for a phantom
        mbarrier.wait(k_ready.index(0), 0)
        mbarrier.wait(k_ready.index(kb), (1 // KS) & 1, pred=live_b)
        qa = warpgroup_mma(q_smem, k_bufs.index(0).permute((1, 0)), zero_s, use_acc=False, is_async=True)
        qb = warpgroup_mma(q_smem, k_bufs.index(kb).permute((1, 0)), zero_s, use_acc=False, is_async=True)
        words_a = _entry_bias_words(BIAS, start, 0, n_listed, rows, BM)
        words_b = _entry_bias_words(BIAS, start, 1, n_listed, rows, BM)
        qa, qb = warpgroup_mma_wait(num_outstanding=0, deps=(qa, qb))
        mbarrier.arrive(k_empty.index(0), count=1)
        mbarrier.arrive(k_empty.index(kb), count=1, pred=live_b)
        pa, pb, alpha, m_i, l_i = _pair_update(qa, qb, words_a, words_b, live_b, m_i, l_i, rows, sm_scale, BM)
        pa_op = gl.convert_layout(pa.to(dt), p_layout)
        pb_op = gl.convert_layout(pb.to(dt), p_layout)
    for k in range(1, n_pairs):  # every earlier pair is whole; this one may end in a phantom
        ea = 2 * k
        live_b = ea + 1 < n_listed
        ka = ea % KS
        kb = (ea + live_b.to(gl.int32)) % KS
        mbarrier.wait(k_ready.index(ka), (ea // KS) & 1)
        mbarrier.wait(k_ready.index(kb), ((ea + 1) // KS) & 1, pred=live_b)
        qa = warpgroup_mma(q_smem, k_bufs.index(ka).permute((1, 0)), zero_s, use_acc=False, is_async=True)
        qb = warpgroup_mma(q_smem, k_bufs.index(kb).permute((1, 0)), zero_s, use_acc=False, is_async=True)
        acc = acc * gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]
        va = (ea - 2) % VS
        vb = (ea - 1) % VS
        mbarrier.wait(v_ready.index(va), ((ea - 2) // VS) & 1)
        mbarrier.wait(v_ready.index(vb), ((ea - 1) // VS) & 1)
        acc = warpgroup_mma(pa_op, v_bufs.index(va), acc, is_async=True)
        acc = warpgroup_mma(pb_op, v_bufs.index(vb), acc, is_async=True)
        words_a = _entry_bias_words(BIAS, start, ea, n_listed, rows, BM)
        words_b = _entry_bias_words(BIAS, start, ea + 1, n_listed, rows, BM)
        qa, qb = warpgroup_mma_wait(num_outstanding=2, deps=(qa, qb))
        mbarrier.arrive(k_empty.index(ka), count=1)
        mbarrier.arrive(k_empty.index(kb), count=1, pred=live_b)
        pa, pb, alpha, m_i, l_i = _pair_update(qa, qb, words_a, words_b, live_b, m_i, l_i, rows, sm_scale, BM)
        pa_next = gl.convert_layout(pa.to(dt), p_layout)
        pb_next = gl.convert_layout(pb.to(dt), p_layout)
        acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc, pa_op, pb_op))[0]
        pa_op = pa_next
        pb_op = pb_next
        mbarrier.arrive(v_empty.index(va), count=1)  # the previous pair's PVs are done
        mbarrier.arrive(v_empty.index(vb), count=1)
    ko = n_listed % KS
    mbarrier.wait(k_ready.index(ko), (n_listed // KS) & 1)
    qo_token = warpgroup_mma(q_smem, k_bufs.index(ko).permute((1, 0)), zero_s, use_acc=False, is_async=True)
    if n_pairs > 0:  # the own chunk's step beside the last pair's PVs
        ea = 2 * (n_pairs - 1)
        live_b = ea + 1 < n_listed
        va = ea % VS
        vb = (ea + live_b.to(gl.int32)) % VS
        acc = acc * gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]
        mbarrier.wait(v_ready.index(va), (ea // VS) & 1)
        mbarrier.wait(v_ready.index(vb), ((ea + 1) // VS) & 1, pred=live_b)
        acc = warpgroup_mma(pa_op, v_bufs.index(va), acc, is_async=True)
        acc = warpgroup_mma(pb_op, v_bufs.index(vb), acc, is_async=True)
        qo = warpgroup_mma_wait(num_outstanding=2, deps=(qo_token,))
        p, alpha, m_i, l_i = _own_update(qo, m_i, l_i, n_listed, own, pos, rows, keys, sm_scale, BM, C)
        acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc, pa_op, pb_op))[0]
        # the last pair's V slots: with 2 V slots and an even list the own chunk's V waits for them
        mbarrier.arrive(v_empty.index(va), count=1)
        mbarrier.arrive(v_empty.index(vb), count=1, pred=live_b)
        acc = acc * gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]
    else:
        qo = warpgroup_mma_wait(num_outstanding=0, deps=(qo_token,))
        p, m_i, l_i = _first_update(qo, gl.zeros_like(rows), n_listed, own, pos, rows, keys, sm_scale, m_i, BM, C)
    vo = n_listed % VS
    mbarrier.wait(v_ready.index(vo), (n_listed // VS) & 1)
    p_op = gl.convert_layout(p.to(dt), p_layout)
    acc = warpgroup_mma(p_op, v_bufs.index(vo), acc, is_async=True)
    acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc, p_op))[0]
    _store_rows(OUT, LSE, acc, m_i, l_i, rows, b, h, t, N, stride_ob, stride_oh, stride_on, HKV, G, R, BM, D,
                o_layout)


@gluon.jit
def _gluon_wide_attend_kernel(
    Q, k_desc, v_desc, OFFSETS, COUNTS, IDS, BIAS, OUT, LSE,
    stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on,
    N, n_tiles, sm_scale,
    HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr, BM: gl.constexpr, C: gl.constexpr,
    D: gl.constexpr, KS: gl.constexpr, VS: gl.constexpr, Q_LAYOUT: gl.constexpr, PRODUCER_REGS: gl.constexpr,
    num_warps: gl.constexpr,
):  # fmt: skip
    R: gl.constexpr = GP * BM
    t = n_tiles - 1 - gl.program_id(0)  # the longest tiles first
    bh = gl.program_id(1)
    q_smem = gl.allocate_shared_memory(Q.dtype.element_ty, [R, D], Q_LAYOUT)
    k_bufs = gl.allocate_shared_memory(k_desc.dtype, [KS, C, D], k_desc.layout)
    v_bufs = gl.allocate_shared_memory(v_desc.dtype, [VS, C, D], v_desc.layout)
    k_ready = gl.allocate_shared_memory(gl.int64, [KS, 1], mbarrier.MBarrierLayout())
    k_empty = gl.allocate_shared_memory(gl.int64, [KS, 1], mbarrier.MBarrierLayout())
    v_ready = gl.allocate_shared_memory(gl.int64, [VS, 1], mbarrier.MBarrierLayout())
    v_empty = gl.allocate_shared_memory(gl.int64, [VS, 1], mbarrier.MBarrierLayout())
    for i in gl.static_range(KS):
        mbarrier.init(k_ready.index(i), count=1)
        mbarrier.init(k_empty.index(i), count=1)
    for i in gl.static_range(VS):
        mbarrier.init(v_ready.index(i), count=1)
        mbarrier.init(v_empty.index(i), count=1)
    gl.warp_specialize([
        (_wide_consumer, (Q, OFFSETS, COUNTS, BIAS, OUT, LSE, q_smem, k_bufs, v_bufs, k_ready, k_empty, v_ready,
                          v_empty, t, bh, N, n_tiles, stride_qb, stride_qh, stride_qn, stride_ob, stride_oh,
                          stride_on, sm_scale, HKV, G, GP, BM, C, D, KS, VS)),
        (_ring_producer, (k_desc, k_bufs, k_ready, k_empty, OFFSETS, COUNTS, IDS, t, bh, N, n_tiles, BM, C, KS)),
        (_ring_producer, (v_desc, v_bufs, v_ready, v_empty, OFFSETS, COUNTS, IDS, t, bh, N, n_tiles, BM, C, VS)),
    ], [1, 1], [PRODUCER_REGS, PRODUCER_REGS])  # fmt: skip


def gluon_wide_attend(q, k, v, offsets, counts, ids, bias, *, chunk_size: int, bm: int, gp: int, k_stages: int = 2,
                      v_stages: int = 4, maxnreg: int = 128, producer_regs: int = 24):  # fmt: skip
    """``gluon_ws_attend`` over two listed chunks a step; same arguments (``k_stages`` and
    ``v_stages`` for its ``stages``: the K and V rings' slots) and result."""
    return launch_producer_kernel(_gluon_wide_attend_kernel, "gluon_wide_attend", q, k, v, offsets, counts, ids, bias,
                                  chunk_size=chunk_size, bm=bm, gp=gp, maxnreg=maxnreg, producer_regs=producer_regs,
                                  KS=k_stages, VS=v_stages)  # fmt: skip


def compile_for_sm90(G: int = 4, D: int = 128, chunk_size: int = 64, k_stages: int = 2, v_stages: int = 4,
                     maxnreg: int = 128, producer_regs: int = 24):  # fmt: skip
    """The kernel compiled ahead of time for an H100 (no GPU needed), bf16, 64-row tiles."""
    return compile_producer_kernel_for_sm90(_gluon_wide_attend_kernel, G, D, chunk_size, maxnreg, producer_regs,
                                            KS=k_stages, VS=v_stages)  # fmt: skip


if __name__ == "__main__":  # python -m dashbench.kernels.dash.gluon_wide_attend: sm_90 resources, schedule
    import sys

    from dashbench.kernels.dash.compile_check import resources
    from dashbench.kernels.dash.gluon_attend import (
        ex2s_between_the_waits,
        sass_schedule,
    )

    for G, D, ks, vs in ((4, 128, 2, 4), (16, 128, 2, 4), (4, 128, 3, 3), (1, 64, 2, 4)):
        kernel = compile_for_sm90(G, D, k_stages=ks, v_stages=vs)
        print(f"G={G} D={D} k_stages={ks} v_stages={vs} {resources(kernel)}: {ex2s_between_the_waits(kernel)} ex2s "
              f"between the waits; {' '.join(sass_schedule(kernel))}")
    sys.stdout.flush()
