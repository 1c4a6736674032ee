"""Experimental (stop 21): the stored-bias attention over two adjacent 64-row tiles of a KV head
per CTA, in Gluon for sm_90 with warp specialization, so that the chunks the two tiles share
cross from L2 once.

Why: at 64-row tiles the attention moves 32 KB of K/V from L2 per computed (tile, chunk) pair,
and ncu puts its L2 throughput at 78-80% (stop 21, 32k, Hkv 8), the busiest unit. 128-row
tiles halve the bytes per row but compute the wider union of their rows' chunks (0.238 -> 0.327
compute density at 128k, Hkv 8), which cost as much as the bytes saved. Here the two tiles keep
their own lists and biases: a producer warp streams the union of the pair's lists (each chunk
once) into a ring of ``STAGES`` K/V slots, and two consumer warpgroups, one a tile, wait for
every slot in order, compute the chunks their tile listed and release the slot (an mbarrier of
count 2). Adjacent tiles share most chunks, so the bytes fall towards the union's (1/1.37 of
the separate lists at 128k, Hkv 8), and while one warpgroup runs its softmax the other's
wgmmas can run (FA3's two consumer warpgroups).

Lists: ``pair_lists(mask, tile_count)`` writes each pair's union ascending, a chunk id with bit
29 set if tile ``2p`` listed it and bit 30 if tile ``2p + 1`` did; the tiles' own chunk (the same
for both: two tiles of ``BM <= C / 2`` tokens from an even tile index share it) is the last
entry of every pair, causally masked, bias 0. A consumer finds its stored biases by counting
the entries its tile listed (its list is the ascending subsequence of the union).

Checked against ``attend`` on the GPU (tests/kernels/dash/test_gluon_attend.py) before it is
timed; compiled for sm_90 without a GPU in its CPU test.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
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
    _load_q_rows,
    _store_rows,
    _tma_load,
    check_inputs,
    compile_kernel_for_sm90,
    kv_descriptors,
    ring_barriers,
)

ID_BITS = 29  # chunk ids below 2**29; bits 29 and 30 say which tile of the pair listed the chunk


@triton.jit
def _pair_union_kernel(MASK, UOFF, UCNT, UIDS, n_tiles, n_words, WRITE: tl.constexpr):
    """One pair of tiles: the union of their chunk bitmasks, counted (``WRITE`` False) or
    written ascending with the membership bits (``WRITE`` True) at the pair's offset."""
    pair = tl.program_id(0).to(tl.int64)
    bh = tl.program_id(1).to(tl.int64)
    n_pairs = tl.num_programs(0)
    ta = bh * n_tiles + 2 * pair
    has_b = 2 * pair + 1 < n_tiles
    lanes = tl.arange(0, 32)
    k = 0
    base = 0
    if WRITE:
        base = tl.load(UOFF + bh * n_pairs + pair)
    for w in range(0, n_words):
        wa = tl.load(MASK + ta * n_words + w)
        wb = tl.load(MASK + (ta + 1) * n_words + w, mask=has_b, other=0)
        in_a = (wa >> lanes) & 1
        in_b = (wb >> lanes) & 1
        bits = in_a | in_b
        if WRITE:
            slot = tl.cumsum(bits, axis=0) - bits
            word = (w * 32 + lanes) | (in_a << 29) | (in_b << 30)  # ID_BITS
            tl.store(UIDS + base + k + slot, word, mask=bits == 1)
        k += tl.sum(bits, axis=0)
    if not WRITE:
        tl.store(UCNT + bh * n_pairs + pair, k)


def pair_lists(mask: torch.Tensor, tile_count: torch.Tensor):
    """Per pair of tiles ``(2p, 2p + 1)`` of a (batch, KV head), the union of their chunk
    bitmasks (``route.route``'s ``mask`` ``[B, Hkv, n_tiles, n_words]``) in CSR form:
    ``(offsets [B, Hkv, n_pairs] int64, counts [B, Hkv, n_pairs] int32, ids int32)``, ids with
    the membership bits (module notes)."""
    B, Hkv, n_tiles, n_words = mask.shape
    if n_words * 32 >= 2**ID_BITS:
        raise ValueError("pair_lists takes fewer than 2**29 chunks")
    n_pairs = (n_tiles + 1) // 2
    counts = torch.empty(B, Hkv, n_pairs, device=mask.device, dtype=torch.int32)
    m = mask.contiguous()
    _pair_union_kernel[(n_pairs, B * Hkv)](m, counts, counts, counts, n_tiles, n_words, WRITE=False)
    flat = counts.flatten().long()
    offsets = torch.cumsum(flat, 0) - flat
    ids = torch.empty(max(1, int(flat.sum())), device=mask.device, dtype=torch.int32)
    _pair_union_kernel[(n_pairs, B * Hkv)](m, offsets, counts, ids, n_tiles, n_words, WRITE=True)
    return offsets.view(B, Hkv, n_pairs), counts, ids


@gluon.jit
def _producer(k_desc, v_desc, k_bufs, v_bufs, ready, empty, Q, OUT, LSE, OFFSETS, COUNTS, UIDS, BIAS, u_start,
              n_union, pair, bh, N, n_tiles, stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on,
              sm_scale, q_bufs, HALF: gl.constexpr, HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr,
              BM: gl.constexpr, C: gl.constexpr, D: gl.constexpr, STAGES: gl.constexpr):  # fmt: skip
    """One warp: the pair's union entries' K and V, by TMA, into the ring's slots as the two
    consumers free them; chunk ids loaded an entry ahead."""
    own = (2 * pair * BM) // C
    kv_row0 = bh * N
    n_entries = n_union + 1
    c_next = gl.where(n_union > 0, gl.load(UIDS + u_start, mask=n_union > 0, other=0) & ((1 << 29) - 1), own)
    for e in range(0, n_entries):
        slot = e % STAGES
        c = c_next
        nxt = e + 1
        c_next = gl.where(nxt < n_union, gl.load(UIDS + u_start + gl.minimum(nxt, gl.maximum(n_union - 1, 0)),
                                                 mask=nxt < n_union, other=0) & ((1 << 29) - 1), own)  # fmt: skip
        mbarrier.wait(empty.index(slot), ((e // STAGES) & 1) ^ 1)  # a fresh barrier passes parity 1
        bar = ready.index(slot)
        mbarrier.expect(bar, k_desc.block_type.nbytes + v_desc.block_type.nbytes)
        _tma_load(k_desc, [kv_row0 + c * C, 0], bar, k_bufs.index(slot))
        _tma_load(v_desc, [kv_row0 + c * C, 0], bar, v_bufs.index(slot))


@gluon.jit
def _consumer(k_desc, v_desc, k_bufs, v_bufs, ready, empty, Q, OUT, LSE, OFFSETS, COUNTS, UIDS, BIAS, u_start,
              n_union, pair, bh, N, n_tiles, stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on,
              sm_scale, q_bufs, HALF: gl.constexpr, HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr,
              BM: gl.constexpr, C: gl.constexpr, D: gl.constexpr, STAGES: gl.constexpr):  # fmt: skip
    """One warpgroup: tile ``2 * pair + HALF``'s attention over the entries its tile listed and
    the own chunk; every slot waited for in order and released."""
    R: gl.constexpr = GP * BM
    NW: gl.constexpr = 4
    t = 2 * pair + HALF
    b = (bh // HKV).to(gl.int64)
    h = (bh % HKV).to(gl.int64)
    own = (2 * pair * BM) // C
    live = t < n_tiles  # an odd tile count leaves the last pair's second tile empty
    s_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[NW, 1],
                                                       instr_shape=[16, C, 16])  # fmt: skip
    o_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[NW, 1],
                                                       instr_shape=[16, D, 16])  # fmt: skip
    p_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)

    q = _load_q_rows(Q, b, h, t, N, stride_qb, stride_qh, stride_qn, R, BM, G, D, NW)
    q_smem = q_bufs.index(HALF)
    q_smem.store(q)
    fence_async_shared()  # the wgmmas read q through the async proxy

    tile = bh * n_tiles + gl.minimum(t, n_tiles - 1)
    start = gl.load(OFFSETS + tile)
    rows = gl.arange(0, R, layout=gl.SliceLayout(1, s_layout))
    keys = gl.arange(0, C, layout=gl.SliceLayout(0, s_layout))
    token = rows % BM
    pos = t * BM + token
    zero_s = gl.zeros([R, C], gl.float32, layout=s_layout)
    m_i = gl.full([R], -1.0e30, gl.float32, layout=gl.SliceLayout(1, s_layout))  # a finite floor
    l_i = gl.zeros([R], gl.float32, layout=gl.SliceLayout(1, s_layout))
    acc = gl.zeros([R, D], gl.float32, layout=o_layout)
    j = 0  # the tile's listed entries so far: its biases' index
    n_entries = n_union + 1
    word_next = gl.load(UIDS + u_start, mask=n_union > 0, other=0)
    for e in range(0, n_entries):
        slot = e % STAGES
        word = word_next
        nxt = e + 1
        word_next = gl.load(UIDS + u_start + gl.minimum(nxt, gl.maximum(n_union - 1, 0)), mask=nxt < n_union, other=0)
        listed = e < n_union
        mine = (((word >> (29 + HALF)) & 1) == 1) & listed
        mbarrier.wait(ready.index(slot), (e // STAGES) & 1)  # every slot, so the phases stay in step
        if (mine | (e == n_union)) & live:
            qk = warpgroup_mma(q_smem, k_bufs.index(slot).permute((1, 0)), zero_s, use_acc=False, is_async=True)
            words = gl.load(BIAS + (start + j) * (BM // 2) + token // 2, mask=(rows >= 0) & mine, other=0)
            qk = warpgroup_mma_wait(num_outstanding=0, deps=(qk,))
            half = gl.where(token % 2 == 0, words, words >> 16) & 0xFFFF
            bias = half.to(gl.int16).to(gl.float16, bitcast=True).to(gl.float32)
            s = qk * sm_scale + bias[:, None]
            kpos = own * C + keys
            s = gl.where(listed | (kpos[None, :] <= pos[:, None]), s, float("-inf"))
            m_new = gl.maximum(m_i, gl.max(s, axis=1))
            alpha = gl.exp2(m_i - m_new)
            p = gl.exp2(s - m_new[:, None])
            l_i = l_i * alpha + gl.sum(p, axis=1)
            m_i = m_new
            acc = acc * gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]
            p_op = gl.convert_layout(p.to(Q.dtype.element_ty), p_layout)
            acc = warpgroup_mma(p_op, v_bufs.index(slot), acc, is_async=True)
            acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc, p_op))[0]
            j += gl.where(mine, 1, 0)
        mbarrier.arrive(empty.index(slot), count=1)

    _store_rows(OUT, LSE, acc, m_i, l_i, rows, b, h, t, N, stride_ob, stride_oh, stride_on, HKV, G, R, BM, D,
                o_layout)


@gluon.jit
def _gluon_pair_attend_kernel(
    Q, k_desc, v_desc, OFFSETS, COUNTS, UOFF, UCNT, UIDS, BIAS, OUT, LSE,
    stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on,
    N, n_tiles, n_pairs, sm_scale,
    HKV: gl.constexpr, G: gl.constexpr, GP: gl.constexpr, BM: gl.constexpr, C: gl.constexpr,
    D: gl.constexpr, STAGES: gl.constexpr, Q_LAYOUT: gl.constexpr, CONSUMER_REGS: gl.constexpr,
    num_warps: gl.constexpr,
):  # fmt: skip
    R: gl.constexpr = GP * BM
    pair = n_pairs - 1 - gl.program_id(0)  # the longest pairs first
    bh = gl.program_id(1)
    u_start = gl.load(UOFF + bh * n_pairs + pair)
    n_union = gl.load(UCNT + bh * n_pairs + pair)
    k_bufs = gl.allocate_shared_memory(k_desc.dtype, [STAGES, C, D], k_desc.layout)
    v_bufs = gl.allocate_shared_memory(v_desc.dtype, [STAGES, C, D], v_desc.layout)
    q_bufs = gl.allocate_shared_memory(Q.dtype.element_ty, [2, R, D], Q_LAYOUT)
    ready, empty = ring_barriers(STAGES, 2)  # both consumers release a slot
    # (the same argument list for each partition: the partitions' functions share a signature)
    gl.warp_specialize([
        (_consumer, (k_desc, v_desc, k_bufs, v_bufs, ready, empty, Q, OUT, LSE, OFFSETS, COUNTS, UIDS, BIAS, u_start,
                     n_union, pair, bh, N, n_tiles, stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on,
                     sm_scale, q_bufs, 0, HKV, G, GP, BM, C, D, STAGES)),
        (_consumer, (k_desc, v_desc, k_bufs, v_bufs, ready, empty, Q, OUT, LSE, OFFSETS, COUNTS, UIDS, BIAS, u_start,
                     n_union, pair, bh, N, n_tiles, stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on,
                     sm_scale, q_bufs, 1, HKV, G, GP, BM, C, D, STAGES)),
        (_producer, (k_desc, v_desc, k_bufs, v_bufs, ready, empty, Q, OUT, LSE, OFFSETS, COUNTS, UIDS, BIAS, u_start,
                     n_union, pair, bh, N, n_tiles, stride_qb, stride_qh, stride_qn, stride_ob, stride_oh, stride_on,
                     sm_scale, q_bufs, 0, HKV, G, GP, BM, C, D, STAGES)),
    ], [4, 1], [CONSUMER_REGS, 24])  # fmt: skip


def gluon_pair_attend(q, k, v, offsets, counts, ids, bias, pair_offsets, pair_counts, pair_ids, *, chunk_size: int,
                      bm: int, gp: int, stages: int = 4, consumer_regs: int = 232):  # fmt: skip
    """``attend(..., bias=bias, diagonal_last=True)`` over 64-row tiles (``offsets``,
    ``counts``, ``ids``: ``route.chunk_lists``; ``bias``: fp16 ``prior.listed_bias``) with each
    pair of tiles' K/V loaded once (``pair_*``: ``pair_lists`` of the same mask). Returns
    ``(out, lse)``. Experimental: see the module notes."""
    B, Hq, N, D = q.shape
    Hkv = k.shape[1]
    C = chunk_size
    check_inputs("gluon_pair_attend", q, k, v, ids, bias, bm)
    if gp * bm != 64 or 2 * bm > C or stages < 2:
        raise ValueError("gluon_pair_attend runs 64-row tiles of at most half a chunk's tokens, >= 2 stages")
    k_desc, v_desc, gl_dtype = kv_descriptors(k, v, C)
    out = torch.empty_like(q)
    lse = torch.empty(B, Hq, N, device=q.device, dtype=torch.float32)
    n_tiles = counts.shape[2]
    n_pairs = pair_counts.shape[2]
    _gluon_pair_attend_kernel[(n_pairs, B * Hkv)](
        q, k_desc, v_desc, offsets, counts, pair_offsets, pair_counts, pair_ids, bias.view(torch.int32), out, lse,
        q.stride(0), q.stride(1), q.stride(2), out.stride(0), out.stride(1), out.stride(2),
        N, n_tiles, n_pairs, LOG2E / math.sqrt(D),
        HKV=Hkv, G=Hq // Hkv, GP=gp, BM=bm, C=C, D=D, STAGES=stages,
        Q_LAYOUT=gl.NVMMASharedLayout.get_default_for([gp * bm, D], gl_dtype), CONSUMER_REGS=consumer_regs,
        num_warps=4, maxnreg=168,
    )  # fmt: skip
    return out, lse


def compile_for_sm90(G: int = 4, D: int = 128, chunk_size: int = 64, stages: int = 4, consumer_regs: int = 232):
    """The kernel compiled ahead of time for an H100 (no GPU needed), bf16."""
    from dashbench.kernels.dash.route import padded_group, tile_rows

    gp, bm = padded_group(G), tile_rows(G, chunk_size, 64)
    consts = dict(HKV=8, G=G, GP=gp, BM=bm, C=chunk_size, D=D, STAGES=stages, CONSUMER_REGS=consumer_regs, num_warps=4,
                  Q_LAYOUT=gl.NVMMASharedLayout.get_default_for([gp * bm, D], gl.bfloat16))  # fmt: skip
    return compile_kernel_for_sm90(_gluon_pair_attend_kernel, consts, D, chunk_size, maxnreg=168)


if __name__ == "__main__":  # python -m dashbench.kernels.dash.gluon_pair_attend: sm_90 resources
    import sys

    from dashbench.kernels.dash.compile_check import resources

    for G, D, stages in ((4, 128, 4), (16, 128, 4), (4, 128, 3), (2, 64, 4)):
        kernel = compile_for_sm90(G, D, stages=stages)
        print(f"G={G} D={D} stages={stages} {resources(kernel)}")
    sys.stdout.flush()
