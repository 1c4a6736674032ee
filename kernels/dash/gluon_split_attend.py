"""Experimental (stop 22; not used): ``gluon_ws_attend`` with K and V in rings of their own, each
fed by its own producer warp. Stop 23 (``results/reference/h100-dash/stop23/13d1958_a/``): its GPU
tests pass, and in one process it ran within ±1.5% of ``gluon_ws_attend`` (128k: 75.77 / 75.99
vs 74.92 ms at Hkv 8, K/V rings 3/3 and 4/2; 41.68 / 41.65 vs 41.76 at Hkv 2).

Why (ncu's per-instruction stall samples of ``gluon_ws_attend``, 32k, Hkv 2,
``results/reference/h100-dash/stop22/c352cf6_e/``): its consumer issues in 18% of its cycles,
and ~7% of its samples wait for K/V data not yet in its slot. One ring of K+V slots frees an
entry's slot only after its PV, so with 3 slots the next QKᵀ's K is requested one step before
its use (~1.2 µs at 32k, about what a TMA from a busy L2 takes). Here the step that waits for
entry ``i + 1``'s QKᵀ frees its K slot (at the step's end, beside entry ``i``'s V), so in the
same 96 KB K is requested two steps ahead; V as before.

What ptxas did with the alternatives (sm_90 builds, Triton 3.6; ``ex2s_between_the_waits``
counts the loop's ex2s between the QKᵀ's and the PV's wait, 32 of 32 here at 4 and 16 heads a
KV head):
- **Each K slot freed right after its QKᵀ's wait.** The arrive's warpgroup barrier between the
  waits moved the softmax after the PV's wait.
- **The V ring's wait between the two issues.** The same. Both waits now come before the
  QKᵀ's issue.
- **The stored bias words (the other ~7.5% of the samples, a global load under the QKᵀ's wait
  only) through shared memory.** The K producer stored one a row beside the entry's K, and the
  consumer read them with a shared load. Any shared load in the loop did the same, wherever it
  was placed.
- **The bias words loaded a step ahead in registers.** Kept the overlap at 4 heads a KV head
  and lost it at 16, wherever the load was placed.

Same tiles, lists, stored biases and arithmetic as ``gluon_attend``. Its GPU test compares it
with ``attend`` before ``bench_dash.py --variants split`` times it.
"""

from __future__ import annotations

from dashbench.kernels.dash.gluon_attend import (
    _entry_bias_words,
    _first_update,
    _listed_update,
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
def _split_consumer(Q, OFFSETS, COUNTS, BIAS, OUT, LSE, q_smem, k_bufs, v_bufs, k_ready, k_empty, v_ready, v_empty,
                    t, bh, N, n_tiles, stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on, sm_scale,
                    HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr, BM: gl.constexpr, C: gl.constexpr,
                    D: gl.constexpr, KS: gl.constexpr, VS: gl.constexpr):  # fmt: skip
    """One warpgroup: ``gluon_ws_attend``'s steps; the step that waits for entry ``i + 1``'s QKᵀ
    frees its K slot, and entry ``i``'s V slot after its PV."""
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

    q = _load_q_rows(Q, b, h, t, N, stride_qb, stride_qh, stride_qn, R, BM, G, D, NW)
    q_smem.store(q)
    fence_async_shared()  # the wgmmas read q through the async proxy

    tile = bh * n_tiles + t
    start = gl.load(OFFSETS + tile)
    n_listed = gl.load(COUNTS + tile)
    rows = gl.arange(0, R, layout=gl.SliceLayout(1, s_layout))
    keys = gl.arange(0, C, layout=gl.SliceLayout(0, s_layout))
    pos = t * BM + rows % BM
    zero_s = gl.zeros([R, C], gl.float32, layout=s_layout)
    m_i = gl.full([R], -1.0e30, gl.float32, layout=gl.SliceLayout(1, s_layout))
    words = _entry_bias_words(BIAS, start, 0, n_listed, rows, BM)
    mbarrier.wait(k_ready.index(0), 0)
    qk = warpgroup_mma(q_smem, k_bufs.index(0).permute((1, 0)), zero_s, use_acc=False, is_async=True)
    qk = warpgroup_mma_wait(num_outstanding=0, deps=(qk,))
    mbarrier.arrive(k_empty.index(0), count=1)
    p, m_i, l_i = _first_update(qk, words, n_listed, own, pos, rows, keys, sm_scale, m_i, BM, C)
    alpha = gl.full([R], 1.0, gl.float32, layout=gl.SliceLayout(1, s_layout))
    acc = gl.zeros([R, D], gl.float32, layout=o_layout)
    for i in range(0, n_listed - 1):
        ks = (i + 1) % KS
        vs = i % VS
        mbarrier.wait(k_ready.index(ks), ((i + 1) // KS) & 1)
        mbarrier.wait(v_ready.index(vs), (i // VS) & 1)  # here: between the issues it cost the overlap
        qk_next = warpgroup_mma(q_smem, k_bufs.index(ks).permute((1, 0)), zero_s, use_acc=False, is_async=True)
        acc = acc * gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]
        p_op = gl.convert_layout(p.to(Q.dtype.element_ty), p_layout)
        acc = warpgroup_mma(p_op, v_bufs.index(vs), acc, is_async=True)
        words = _entry_bias_words(BIAS, start, i + 1, n_listed, rows, BM)
        qk = warpgroup_mma_wait(num_outstanding=1, deps=(qk_next,))
        p, alpha, m_i, l_i = _listed_update(qk, words, m_i, l_i, rows, sm_scale, BM)
        acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc, p_op))[0]
        # Both releases after the PV's wait: an arrive between the waits brings a warpgroup
        # barrier there, and ptxas then runs the softmax after the PV's wait (sm_90 build).
        mbarrier.arrive(k_empty.index(ks), count=1)
        mbarrier.arrive(v_empty.index(vs), count=1)
    if n_listed > 0:  # the own chunk's step beside the last listed entry's PV
        last = n_listed - 1
        ks = n_listed % KS
        vs = last % VS
        mbarrier.wait(k_ready.index(ks), (n_listed // KS) & 1)
        mbarrier.wait(v_ready.index(vs), (last // VS) & 1)
        qk_next = warpgroup_mma(q_smem, k_bufs.index(ks).permute((1, 0)), zero_s, use_acc=False, is_async=True)
        acc = acc * gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]
        p_op = gl.convert_layout(p.to(Q.dtype.element_ty), p_layout)
        acc = warpgroup_mma(p_op, v_bufs.index(vs), acc, is_async=True)
        qk = warpgroup_mma_wait(num_outstanding=1, deps=(qk_next,))
        p, alpha, m_i, l_i = _own_update(qk, m_i, l_i, n_listed, own, pos, rows, keys, sm_scale, BM, C)
        acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc, p_op))[0]
        mbarrier.arrive(v_empty.index(vs), count=1)
    acc = acc * gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]
    p_op = gl.convert_layout(p.to(Q.dtype.element_ty), p_layout)
    vs = n_listed % VS
    mbarrier.wait(v_ready.index(vs), (n_listed // VS) & 1)
    acc = warpgroup_mma(p_op, v_bufs.index(vs), acc, is_async=True)
    acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc, p_op))[0]
    _store_rows(OUT, LSE, acc, m_i, l_i, rows, b, h, t, N, stride_ob, stride_oh, stride_on, HKV, G, R, BM, D,
                o_layout)


@gluon.jit
def _gluon_split_attend_kernel(
    Q, k_desc, v_desc, OFFSETS, COUNTS, IDS, BIAS, OUT, LSE,
    stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on,
    N, n_tiles, sm_scale,
    HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr, BM: gl.constexpr, C: gl.constexpr,
    D: gl.constexpr, KS: gl.constexpr, VS: gl.constexpr, Q_LAYOUT: gl.constexpr,
    PRODUCER_REGS: gl.constexpr, num_warps: gl.constexpr,
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
        (_split_consumer, (Q, OFFSETS, COUNTS, BIAS, OUT, LSE, q_smem, k_bufs, v_bufs, k_ready, k_empty, v_ready,
                           v_empty, t, bh, N, n_tiles, stride_qb, stride_qh, stride_qn, stride_ob, stride_oh,
                           stride_on, sm_scale, HKV, G, GP, BM, C, D, KS, VS)),
        (_ring_producer, (k_desc, k_bufs, k_ready, k_empty, OFFSETS, COUNTS, IDS, t, bh, N, n_tiles, BM, C, KS)),
        (_ring_producer, (v_desc, v_bufs, v_ready, v_empty, OFFSETS, COUNTS, IDS, t, bh, N, n_tiles, BM, C, VS)),
    ], [1, 1], [PRODUCER_REGS, PRODUCER_REGS])  # fmt: skip


def gluon_split_attend(q, k, v, offsets, counts, ids, bias, *, chunk_size: int, bm: int, gp: int, k_stages: int = 3,
                       v_stages: int = 3, maxnreg: int = 128, producer_regs: int = 24):  # fmt: skip
    """``gluon_ws_attend`` with K and V in rings of ``k_stages`` and ``v_stages`` slots; same
    arguments otherwise and the same result."""
    return launch_producer_kernel(_gluon_split_attend_kernel, "gluon_split_attend", q, k, v, offsets, counts, ids,
                                  bias, chunk_size=chunk_size, bm=bm, gp=gp, maxnreg=maxnreg,
                                  producer_regs=producer_regs, KS=k_stages, VS=v_stages)  # fmt: skip


def compile_for_sm90(G: int = 4, D: int = 128, chunk_size: int = 64, k_stages: int = 3, v_stages: int = 3,
                     bias_fp32: bool = False, maxnreg: int = 128, producer_regs: int = 24):  # fmt: skip
    """The kernel compiled ahead of time for an H100 (no GPU needed), bf16, 64-row tiles, fp16
    biases (``bias_fp32``: fp32)."""
    return compile_producer_kernel_for_sm90(_gluon_split_attend_kernel, G, D, chunk_size, maxnreg, producer_regs,
                                            bias_fp32, KS=k_stages, VS=v_stages)  # fmt: skip


if __name__ == "__main__":  # python -m dashbench.kernels.dash.gluon_split_attend: sm_90 resources, schedule
    import sys

    from dashbench.kernels.dash.compile_check import resources
    from dashbench.kernels.dash.gluon_attend import (
        ex2s_between_the_waits,
        sass_schedule,
    )

    for G, D, ks, vs, f32 in ((4, 128, 3, 3, False), (16, 128, 3, 3, False), (16, 128, 4, 2, False),
                              (1, 64, 3, 3, False), (4, 128, 3, 3, True)):  # fmt: skip
        kernel = compile_for_sm90(G, D, k_stages=ks, v_stages=vs, bias_fp32=f32)
        print(f"G={G} D={D} k_stages={ks} v_stages={vs}{' fp32 biases' if f32 else ''} {resources(kernel)}: "
              f"{ex2s_between_the_waits(kernel)} ex2s between the waits; {' '.join(sass_schedule(kernel))}")
    sys.stdout.flush()
