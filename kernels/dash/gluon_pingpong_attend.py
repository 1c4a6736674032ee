"""Experimental (stop 21). Timed once on the H100: equal to ``attend`` but slower than
``gluon_attend`` (82.4 vs 76.1 ms at 128k, Hkv 8), its sm_90 build running each warpgroup's
ex2s after its PV's wait. With the turn handed over after the QKᵀ's wait the softmax stays
between the waits (its CPU test reads the SASS), and it is slower still (stop 22,
``results/reference/h100-dash/stop22/68c7ec2_a/``: 87.6 vs 74.5 ms for the default
producer-warp kernel at 128k, Hkv 8; 44.97 vs 40.86 at Hkv 2). ``gluon_attend``'s loop on two
warpgroups of one CTA, one 64-row tile each, taking turns to issue their wgmmas (FA3's
ping-pong), so that one warpgroup's softmax runs while the other's products use the tensor
cores.

Why: the single-warpgroup kernel issues ~382 instructions a warp per listed chunk against 512
tensor-core cycles of products, and measures ~1080 SM cycles per computed pair (stop 21,
128k, Hkv 8): two independent CTAs an SM barely overlap issue and products. Here warpgroup
``h`` waits for its turn (an mbarrier the other arrives on after issuing), issues the next
chunk's QKᵀ and this chunk's PV, waits for the QKᵀ, hands the turn over (handed over right
after the issue, ptxas moved the softmax after the PV's wait), then runs its softmax while its
PV and the other's products run. Each warpgroup
keeps its own tile, list, stored biases and TMA ring; the two tiles are adjacent (``2p``,
``2p + 1``) so their lists are of similar length, and a warpgroup whose list is done keeps
taking its turns (issuing nothing) until the other's is, so neither waits forever.

Tested against ``attend`` on the GPU and compiled for sm_90 on the CPU
(tests/kernels/dash/test_gluon_attend.py); timed by ``bench_dash.py --variants pingpong``.
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

from dashbench.kernels.dash.gluon_attend import (
    LOG2E,
    _entry_bias_words,
    _entry_chunk,
    _first_update,
    _issue_entry,
    _listed_update,
    _load_q_rows,
    _own_update,
    _store_rows,
    check_inputs,
    compile_kernel_for_sm90,
    kv_descriptors,
)


@gluon.jit
def _pp_consumer(Q, k_desc, v_desc, OFFSETS, COUNTS, IDS, BIAS, OUT, LSE, q_bufs, k_bufs0, v_bufs0, bars0, k_bufs1,
                 v_bufs1, bars1, turns, pair, bh, N, n_tiles, stride_qb, stride_qh, stride_qn, stride_ob, stride_oh,
                 stride_on, sm_scale, HALF: gl.constexpr, HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr,
                 BM: gl.constexpr, C: gl.constexpr, D: gl.constexpr, STAGES: gl.constexpr):  # fmt: skip
    """Warpgroup ``HALF``: tile ``2 * pair + HALF``, ``gluon_attend``'s steps with the wgmma issue
    of each step taken in turn with the other warpgroup."""
    R: gl.constexpr = GP * BM
    NW: gl.constexpr = 4
    if HALF == 0:
        k_bufs = k_bufs0
        v_bufs = v_bufs0
        bars = bars0
    else:
        k_bufs = k_bufs1
        v_bufs = v_bufs1
        bars = bars1
    t = 2 * pair + HALF
    b = (bh // HKV).to(gl.int64)
    h = (bh % HKV).to(gl.int64)
    own = (t * BM) // C
    kv_row0 = bh * N
    live = t < n_tiles  # an odd tile count leaves the last pair's second tile empty
    s_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[NW, 1],
                                                       instr_shape=[16, C, 16])  # fmt: skip
    o_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[NW, 1],
                                                       instr_shape=[16, D, 16])  # fmt: skip
    p_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)

    q = _load_q_rows(Q, b, h, t, N, stride_qb, stride_qh, stride_qn, R, BM, G, D, NW)
    q_a = q_bufs.index(HALF)
    q_a.store(q)
    fence_async_shared()  # the wgmmas read q through the async proxy

    base = bh * n_tiles
    start = gl.load(OFFSETS + base + gl.minimum(t, n_tiles - 1))
    n_listed = gl.where(live, gl.load(COUNTS + base + gl.minimum(t, n_tiles - 1)), 0)
    other = 2 * pair + 1 - HALF
    n_other = gl.where(other < n_tiles, gl.load(COUNTS + base + gl.minimum(other, n_tiles - 1)), 0)
    n_entries = n_listed + 1  # and the own chunk, last
    for j in gl.static_range(STAGES):
        _issue_entry(k_desc, v_desc, k_bufs, v_bufs, bars, _entry_chunk(IDS, start, j, n_listed, own), j,
                     j < n_entries, kv_row0, C, STAGES)  # fmt: skip
    c_ahead = own

    rows = gl.arange(0, R, layout=gl.SliceLayout(1, s_layout))
    keys = gl.arange(0, C, layout=gl.SliceLayout(0, s_layout))
    pos = t * BM + rows % BM
    zero_s = gl.zeros([R, C], gl.float32, layout=s_layout)
    m_i = gl.full([R], -1.0e30, gl.float32, layout=gl.SliceLayout(1, s_layout))
    mbarrier.wait(bars.index(0), 0)
    qk = warpgroup_mma(q_a, k_bufs.index(0).permute((1, 0)), zero_s, use_acc=False, is_async=True)
    qk = warpgroup_mma_wait(num_outstanding=0, deps=(qk,))
    p, m_i, l_i = _first_update(qk, _entry_bias_words(BIAS, start, 0, n_listed, rows, BM), n_listed, own, pos, rows,
                                keys, sm_scale, m_i, BM, C)  # fmt: skip
    alpha = gl.full([R], 1.0, gl.float32, layout=gl.SliceLayout(1, s_layout))
    acc = gl.zeros([R, D], gl.float32, layout=o_layout)
    # Turns: warpgroup 0 issues first in every round. A fresh mbarrier passes a wait on parity
    # 1, so warpgroup 0's first wait passes; each warpgroup arrives on the other's barrier
    # once a round, after its issue, so no barrier runs a phase ahead of its waiter.
    n_rounds = gl.maximum(gl.maximum(n_listed, n_other) - 1, 0)
    for st in range(0, n_rounds):
        mbarrier.wait(turns.index(HALF), (st & 1) ^ (1 - HALF))
        mine = st < n_listed - 1
        if mine:
            _issue_entry(k_desc, v_desc, k_bufs, v_bufs, bars, c_ahead, st - 1 + STAGES,
                         (st > 0) & (st - 1 + STAGES < n_entries), kv_row0, C, STAGES)  # fmt: skip
            c_ahead = _entry_chunk(IDS, start, st + STAGES, n_listed, own)
            mbarrier.wait(bars.index((st + 1) % STAGES), ((st + 1) // STAGES) & 1)
            qk_next = warpgroup_mma(q_a, k_bufs.index((st + 1) % STAGES).permute((1, 0)), zero_s, use_acc=False,
                                    is_async=True)  # fmt: skip
            acc = acc * gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]
            p_op = gl.convert_layout(p.to(Q.dtype.element_ty), p_layout)
            acc = warpgroup_mma(p_op, v_bufs.index(st % STAGES), acc, is_async=True)
            words = _entry_bias_words(BIAS, start, st + 1, n_listed, rows, BM)
            qk = warpgroup_mma_wait(num_outstanding=1, deps=(qk_next,))
            mbarrier.arrive(turns.index(1 - HALF), count=1)
            p, alpha, m_i, l_i = _listed_update(qk, words, m_i, l_i, rows, sm_scale, BM)
            acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc, p_op))[0]
        else:
            mbarrier.arrive(turns.index(1 - HALF), count=1)
    if n_listed > 0:  # the own chunk's step beside the last listed entry's PV
        last = n_listed - 1
        _issue_entry(k_desc, v_desc, k_bufs, v_bufs, bars, c_ahead, last - 1 + STAGES,
                     (last > 0) & (last - 1 + STAGES < n_entries), kv_row0, C, STAGES)  # fmt: skip
        mbarrier.wait(bars.index(n_listed % STAGES), (n_listed // STAGES) & 1)
        qk_next = warpgroup_mma(q_a, k_bufs.index(n_listed % STAGES).permute((1, 0)), zero_s, use_acc=False,
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
def _gluon_pingpong_kernel(
    Q, k_desc, v_desc, OFFSETS, COUNTS, IDS, BIAS, OUT, LSE,
    stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on,
    N, n_tiles, n_pairs, sm_scale,
    HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr, BM: gl.constexpr, C: gl.constexpr,
    D: gl.constexpr, STAGES: gl.constexpr, Q_LAYOUT: gl.constexpr, CONSUMER_REGS: gl.constexpr,
    num_warps: gl.constexpr,
):  # fmt: skip
    R: gl.constexpr = GP * BM
    pair = n_pairs - 1 - gl.program_id(0)  # the longest pairs first
    bh = gl.program_id(1)
    q_bufs = gl.allocate_shared_memory(Q.dtype.element_ty, [2, R, D], Q_LAYOUT)
    k_bufs0 = gl.allocate_shared_memory(k_desc.dtype, [STAGES, C, D], k_desc.layout)
    v_bufs0 = gl.allocate_shared_memory(v_desc.dtype, [STAGES, C, D], v_desc.layout)
    k_bufs1 = gl.allocate_shared_memory(k_desc.dtype, [STAGES, C, D], k_desc.layout)
    v_bufs1 = gl.allocate_shared_memory(v_desc.dtype, [STAGES, C, D], v_desc.layout)
    bars0 = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    bars1 = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    turns = gl.allocate_shared_memory(gl.int64, [2, 1], mbarrier.MBarrierLayout())
    for i in gl.static_range(STAGES):
        mbarrier.init(bars0.index(i), count=1)
        mbarrier.init(bars1.index(i), count=1)
    mbarrier.init(turns.index(0), count=1)
    mbarrier.init(turns.index(1), count=1)
    gl.warp_specialize([
        (_pp_consumer, (Q, k_desc, v_desc, OFFSETS, COUNTS, IDS, BIAS, OUT, LSE, q_bufs, k_bufs0, v_bufs0, bars0,
                        k_bufs1, v_bufs1, bars1, turns, pair, bh, N, n_tiles, stride_qb, stride_qh, stride_qn,
                        stride_ob, stride_oh, stride_on, sm_scale, 0, HKV, G, GP, BM, C, D, STAGES)),
        (_pp_consumer, (Q, k_desc, v_desc, OFFSETS, COUNTS, IDS, BIAS, OUT, LSE, q_bufs, k_bufs0, v_bufs0, bars0,
                        k_bufs1, v_bufs1, bars1, turns, pair, bh, N, n_tiles, stride_qb, stride_qh, stride_qn,
                        stride_ob, stride_oh, stride_on, sm_scale, 1, HKV, G, GP, BM, C, D, STAGES)),
    ], [4], [CONSUMER_REGS])  # fmt: skip


def gluon_pingpong_attend(q, k, v, offsets, counts, ids, bias, *, chunk_size: int, bm: int, gp: int,
                          stages: int = 3, consumer_regs: int = 240):  # fmt: skip
    """``gluon_attend`` with two tiles a CTA whose warpgroups take turns issuing their products;
    same arguments and result. Experimental: see the module notes."""
    B, Hq, N, D = q.shape
    Hkv = k.shape[1]
    C = chunk_size
    check_inputs("gluon_pingpong_attend", q, k, v, ids, bias, bm)
    if gp * bm != 64 or stages < 2:
        raise ValueError("gluon_pingpong_attend runs 64-row tiles with at least 2 stages")
    k_desc, v_desc, gl_dtype = kv_descriptors(k, v, C)
    out = torch.empty_like(q)
    lse = torch.empty(B, Hq, N, device=q.device, dtype=torch.float32)
    n_tiles = counts.shape[2]
    n_pairs = (n_tiles + 1) // 2
    _gluon_pingpong_kernel[(n_pairs, B * Hkv)](
        q, k_desc, v_desc, offsets, counts, ids, bias.view(torch.int32), out, lse,
        q.stride(0), q.stride(1), q.stride(2), out.stride(0), out.stride(1), out.stride(2),
        N, n_tiles, n_pairs, LOG2E / math.sqrt(D),
        HKV=Hkv, G=Hq // Hkv, GP=gp, BM=bm, C=C, D=D, STAGES=stages,
        Q_LAYOUT=gl.NVMMASharedLayout.get_default_for([gp * bm, D], gl_dtype), CONSUMER_REGS=consumer_regs,
        num_warps=4, maxnreg=240,
    )  # fmt: skip
    return out, lse


def compile_for_sm90(G: int = 4, D: int = 128, chunk_size: int = 64, stages: int = 3, consumer_regs: int = 240):
    """The kernel compiled ahead of time for an H100 (no GPU needed), bf16, 64-row tiles."""
    from dashbench.kernels.dash.route import padded_group, tile_rows

    gp, bm = padded_group(G), tile_rows(G, chunk_size, 64)
    consts = dict(HKV=8, G=G, GP=gp, BM=bm, C=chunk_size, D=D, STAGES=stages, CONSUMER_REGS=consumer_regs, num_warps=4,
                  Q_LAYOUT=gl.NVMMASharedLayout.get_default_for([gp * bm, D], gl.bfloat16))  # fmt: skip
    return compile_kernel_for_sm90(_gluon_pingpong_kernel, consts, D, chunk_size, maxnreg=240)


if __name__ == "__main__":  # python -m dashbench.kernels.dash.gluon_pingpong_attend: sm_90 resources, schedule
    import sys

    from dashbench.kernels.dash.compile_check import resources
    from dashbench.kernels.dash.gluon_attend import sass_schedule

    for G, D, stages in ((4, 128, 3), (16, 128, 3), (4, 128, 2), (2, 64, 3)):
        kernel = compile_for_sm90(G, D, stages=stages)
        print(f"G={G} D={D} stages={stages} {resources(kernel)}: {' '.join(sass_schedule(kernel))}")
    sys.stdout.flush()
