"""The attention ``dash_attention`` runs on sm_90 since stop 22 (``interface.ATTEND_GLUON_WS``):
``gluon_attend`` with its K/V requests moved to a producer warp (warp specialization, FA3's
producer), so that the consumer warpgroup's step holds only its wgmmas, waits and softmax.
H100, 128k, structured 25%, same process (``results/reference/h100-dash/stop22/68c7ec2_a/``):
76.38 -> 74.48 ms at Hkv 8, 41.61 -> 40.86 at Hkv 2 against ``gluon_attend``; 4 stages slower
(93.3 / 50.0 ms).

Why: in ``gluon_attend``'s sm_90 build about 80 of the ~382 instructions a warp issues per
listed chunk, and 3 of its CTA barriers, request the next K/V tile by TMA (the elected thread,
its predicates and the slot's address arithmetic); every warp of the warpgroup runs them. Here
a one-warp partition walks the tile's list (chunk ids loaded an entry ahead), waits for a free
slot of the ring and issues the TMA loads; the consumer waits for its data and frees the slot
(an mbarrier arrive) after the step's PV: 318 instructions a warp per chunk and 2 barriers
(sm_90 build, Triton 3.6), the softmax between the waits. Launched at 128 registers a thread,
the producer's warpgroup gives back all but 24 and the consumer's rises to 232, so two CTAs
(115 KB of shared memory each) share an SM as ``gluon_attend``'s do. Same tiles, lists, stored
biases and arithmetic as ``gluon_attend``.

Its CPU test reads its sm_90 build; its GPU tests compare it with ``attend`` (one and two
sequences, fp16 and fp32 biases).
"""

from __future__ import annotations

from dashbench.kernels.dash.gluon_attend import (
    _entry_bias_words,
    _entry_chunk,
    _first_update,
    _listed_update,
    _load_q_rows,
    _own_update,
    _store_rows,
    _tma_load,
    compile_producer_kernel_for_sm90,
    launch_producer_kernel,
    ring_barriers,
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
def _ws_producer(Q, k_desc, v_desc, OFFSETS, COUNTS, IDS, BIAS, OUT, LSE, q_smem, k_bufs, v_bufs, ready, empty, t, bh,
                 N, n_tiles, stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on, sm_scale,
                 HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr, BM: gl.constexpr, C: gl.constexpr,
                 D: gl.constexpr, STAGES: gl.constexpr):  # fmt: skip
    """One warp: the tile's listed chunks and then its own chunk, K and V by TMA into the ring
    as the consumer frees its slots."""
    own = (t * BM) // C
    kv_row0 = bh * N
    tile = bh * n_tiles + t
    start = gl.load(OFFSETS + tile)
    n_listed = gl.load(COUNTS + tile)
    c_next = _entry_chunk(IDS, start, 0, n_listed, own)
    for e in range(0, n_listed + 1):
        slot = e % STAGES
        c = c_next
        c_next = _entry_chunk(IDS, start, e + 1, n_listed, own)
        mbarrier.wait(empty.index(slot), ((e // STAGES) & 1) ^ 1)  # a fresh barrier passes parity 1
        bar = ready.index(slot)
        mbarrier.expect(bar, k_desc.block_type.nbytes + v_desc.block_type.nbytes)
        _tma_load(k_desc, [kv_row0 + c * C, 0], bar, k_bufs.index(slot))
        _tma_load(v_desc, [kv_row0 + c * C, 0], bar, v_bufs.index(slot))


@gluon.jit
def _ws_consumer(Q, k_desc, v_desc, OFFSETS, COUNTS, IDS, BIAS, OUT, LSE, q_smem, k_bufs, v_bufs, ready, empty, t, bh,
                 N, n_tiles, stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on, sm_scale,
                 HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr, BM: gl.constexpr, C: gl.constexpr,
                 D: gl.constexpr, STAGES: gl.constexpr):  # fmt: skip
    """One warpgroup: ``gluon_attend``'s steps over the data the producer delivers."""
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
    mbarrier.wait(ready.index(0), 0)
    qk = warpgroup_mma(q_smem, k_bufs.index(0).permute((1, 0)), zero_s, use_acc=False, is_async=True)
    qk = warpgroup_mma_wait(num_outstanding=0, deps=(qk,))
    p, m_i, l_i = _first_update(qk, _entry_bias_words(BIAS, start, 0, n_listed, rows, BM), n_listed, own, pos, rows,
                                keys, sm_scale, m_i, BM, C)  # fmt: skip
    alpha = gl.full([R], 1.0, gl.float32, layout=gl.SliceLayout(1, s_layout))
    acc = gl.zeros([R, D], gl.float32, layout=o_layout)
    for i in range(0, n_listed - 1):
        mbarrier.wait(ready.index((i + 1) % STAGES), ((i + 1) // STAGES) & 1)
        qk_next = warpgroup_mma(q_smem, k_bufs.index((i + 1) % STAGES).permute((1, 0)), zero_s, use_acc=False,
                                is_async=True)  # fmt: skip
        acc = acc * gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]
        p_op = gl.convert_layout(p.to(Q.dtype.element_ty), p_layout)
        acc = warpgroup_mma(p_op, v_bufs.index(i % STAGES), acc, is_async=True)
        words = _entry_bias_words(BIAS, start, i + 1, n_listed, rows, BM)
        qk = warpgroup_mma_wait(num_outstanding=1, deps=(qk_next,))
        p, alpha, m_i, l_i = _listed_update(qk, words, m_i, l_i, rows, sm_scale, BM)
        acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc, p_op))[0]
        mbarrier.arrive(empty.index(i % STAGES), count=1)  # entry i's slot: its PV is done
    if n_listed > 0:  # the own chunk's step beside the last listed entry's PV
        last = n_listed - 1
        mbarrier.wait(ready.index(n_listed % STAGES), (n_listed // STAGES) & 1)
        qk_next = warpgroup_mma(q_smem, k_bufs.index(n_listed % STAGES).permute((1, 0)), zero_s, use_acc=False,
                                is_async=True)  # fmt: skip
        acc = acc * gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]
        p_op = gl.convert_layout(p.to(Q.dtype.element_ty), p_layout)
        acc = warpgroup_mma(p_op, v_bufs.index(last % STAGES), acc, is_async=True)
        qk = warpgroup_mma_wait(num_outstanding=1, deps=(qk_next,))
        p, alpha, m_i, l_i = _own_update(qk, m_i, l_i, n_listed, own, pos, rows, keys, sm_scale, BM, C)
        acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc, p_op))[0]
    acc = acc * gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]
    p_op = gl.convert_layout(p.to(Q.dtype.element_ty), p_layout)
    acc = warpgroup_mma(p_op, v_bufs.index(n_listed % STAGES), acc, is_async=True)
    acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc, p_op))[0]

    _store_rows(OUT, LSE, acc, m_i, l_i, rows, b, h, t, N, stride_ob, stride_oh, stride_on, HKV, G, R, BM, D,
                o_layout)


@gluon.jit
def _gluon_ws_attend_kernel(
    Q, k_desc, v_desc, OFFSETS, COUNTS, IDS, BIAS, OUT, LSE,
    stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on,
    N, n_tiles, sm_scale,
    HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr, BM: gl.constexpr, C: gl.constexpr,
    D: gl.constexpr, STAGES: gl.constexpr, Q_LAYOUT: gl.constexpr, PRODUCER_REGS: gl.constexpr,
    num_warps: gl.constexpr,
):  # fmt: skip
    R: gl.constexpr = GP * BM
    t = n_tiles - 1 - gl.program_id(0)  # the longest tiles first
    bh = gl.program_id(1)
    q_smem = gl.allocate_shared_memory(Q.dtype.element_ty, [R, D], Q_LAYOUT)
    k_bufs = gl.allocate_shared_memory(k_desc.dtype, [STAGES, C, D], k_desc.layout)
    v_bufs = gl.allocate_shared_memory(v_desc.dtype, [STAGES, C, D], v_desc.layout)
    ready, empty = ring_barriers(STAGES)
    gl.warp_specialize([
        (_ws_consumer, (Q, k_desc, v_desc, OFFSETS, COUNTS, IDS, BIAS, OUT, LSE, q_smem, k_bufs, v_bufs, ready, empty,
                        t, bh, N, n_tiles, stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on, sm_scale,
                        HKV, G, GP, BM, C, D, STAGES)),
        (_ws_producer, (Q, k_desc, v_desc, OFFSETS, COUNTS, IDS, BIAS, OUT, LSE, q_smem, k_bufs, v_bufs, ready, empty,
                        t, bh, N, n_tiles, stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on, sm_scale,
                        HKV, G, GP, BM, C, D, STAGES)),
    ], [1], [PRODUCER_REGS])  # fmt: skip


def gluon_ws_attend(q, k, v, offsets, counts, ids, bias, *, chunk_size: int, bm: int, gp: int, stages: int = 3,
                    maxnreg: int = 128, producer_regs: int = 24):  # fmt: skip
    """``gluon_attend`` with a producer warp issuing the K/V loads; same arguments and result.
    ``maxnreg`` bounds every warp's registers at launch (128: two CTAs of two warpgroups an SM);
    the consumer warpgroup then takes what the producer's, at ``producer_regs``, gives back
    (232 at the defaults, sm_90 build). Biases: fp16 (read as int32 pairs) or fp32."""
    return launch_producer_kernel(_gluon_ws_attend_kernel, "gluon_ws_attend", q, k, v, offsets, counts, ids, bias,
                                  chunk_size=chunk_size, bm=bm, gp=gp, maxnreg=maxnreg, producer_regs=producer_regs,
                                  STAGES=stages)  # fmt: skip


def compile_for_sm90(G: int = 4, D: int = 128, chunk_size: int = 64, stages: int = 3, maxnreg: int = 128,
                     producer_regs: int = 24):  # fmt: skip
    """The kernel compiled ahead of time for an H100 (no GPU needed), bf16, 64-row tiles."""
    return compile_producer_kernel_for_sm90(_gluon_ws_attend_kernel, G, D, chunk_size, maxnreg, producer_regs,
                                            STAGES=stages)  # fmt: skip


if __name__ == "__main__":  # python -m dashbench.kernels.dash.gluon_ws_attend: sm_90 resources, schedule
    import sys

    from dashbench.kernels.dash.compile_check import resources
    from dashbench.kernels.dash.gluon_attend import (
        ex2s_between_the_waits,
        sass_schedule,
    )

    for G, D, stages in ((4, 128, 3), (16, 128, 3), (4, 128, 4), (1, 64, 3)):
        kernel = compile_for_sm90(G, D, stages=stages)
        print(f"G={G} D={D} stages={stages} {resources(kernel)}: {ex2s_between_the_waits(kernel)} ex2s between the "
              f"waits; {' '.join(sass_schedule(kernel))}")
    sys.stdout.flush()
