"""Decode-step kernels: one query per sequence, parallel over chunks (flash-decoding style).

A prefill tile program would walk every chunk in one program per (batch, KV head): 8 programs
at batch 1, far too few for an H100. Here the step is split in four short launches:

1. ``_decode_scores_kernel``: routing scores of the G query heads against every candidate chunk
   summary, one program per block of chunks (fp32-accurate products, as the router's);
2. ``_decode_threshold_kernel``: one program per (batch, KV head, query head) finds the row's
   exact entmax threshold from the stored scores (loads only; rows up to 16k chunks stay in
   registers for every pass);
3. ``_decode_attend_kernel``: the candidate chunks are cut into ``n_split`` spans, one program
   each: it forms the GQA-mean probabilities of its span from the scores, lists its routed
   chunks and attends them (one more program takes the query's own, partial chunk); each writes
   a partial softmax state, its count and its sum of log-probabilities;
4. ``_decode_combine_kernel`` centres the bias by ``log_g`` (the mean log-probability over all
   spans: it shifts every routed state alike) and merges the states of each row at once.
Scores are ``G x n_chunks`` floats per (batch, KV head): O(N) for a decode step.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from dashbench.kernels.dash.route import (
    CB,
    MAX_ITER,
    _lean_step,
    _lean_sums,
    _scores,
    _solve_on_support,
    _support_init,
    _support_update,
)


@triton.jit
def _decode_scores_kernel(
    Q, S, X, stride_qb, stride_qh, stride_sb, stride_sh, stride_sc,
    n_cand, n_pad, xscale,
    HKV: tl.constexpr, G: tl.constexpr, RP: tl.constexpr, D: tl.constexpr, CB: tl.constexpr,
    SPLIT_BF16: tl.constexpr,
):  # fmt: skip
    blk = tl.program_id(0)
    bh = tl.program_id(1)
    b = (bh // HKV).to(tl.int64)
    h = (bh % HKV).to(tl.int64)
    rows = tl.arange(0, RP)
    valid = rows < G
    dims = tl.arange(0, D)
    q = tl.load(Q + b * stride_qb + (h * G + rows)[:, None] * stride_qh + dims[None, :],
                mask=valid[:, None], other=0.0)  # fmt: skip
    if not SPLIT_BF16:
        q = q.to(tl.float32)
    # All 24 bits of the summaries: a decode step is too small for the split's cost to matter.
    cs = blk * CB + tl.arange(0, CB)
    x = _scores(q, S + b * stride_sb + h * stride_sh, stride_sc, cs, cs < n_cand, xscale, D,
                SPLIT_BF16, True)  # fmt: skip
    tl.store(X + (bh * RP + rows[:, None]).to(tl.int64) * n_pad + cs[None, :], x,
             mask=valid[:, None] & (cs[None, :] < n_pad))  # fmt: skip


@triton.jit
def _row_scores_and_max(row, n_cand, BLK: tl.constexpr, RESIDENT: tl.constexpr):
    """A threshold row's scores as ``[1, BLK]`` (``RESIDENT``; otherwise the passes stream
    them and this is an unused placeholder) and its max (0 when it has no candidate, so that
    ``x - max`` and ``max - 1`` stay finite)."""
    lanes = tl.arange(0, BLK)
    if RESIDENT:
        x_all = tl.load(row + lanes[None, :], mask=(lanes < n_cand)[None, :], other=float("-inf"))
        m = tl.max(x_all, axis=1)
    else:
        # The max is kept per lane and reduced after the loop: a row reduction inside this loop
        # followed by the reducing loops below crashes Triton 3.6's thread-locality pass (sm_90).
        x_all = tl.full([1, BLK], float("-inf"), tl.float32)
        m_lanes = tl.full([1, BLK], float("-inf"), tl.float32)
        for c0 in range(0, n_cand, BLK):
            x = tl.load(row + c0 + lanes[None, :], mask=((c0 + lanes) < n_cand)[None, :], other=float("-inf"))
            m_lanes = tl.maximum(m_lanes, x)
        m = tl.max(m_lanes, axis=1)
    return x_all, tl.where(m == float("-inf"), 0.0, m)


@triton.jit
def _lean_step_sums(x, tau, probe, s2_probe, PROBE: tl.constexpr):
    """The router's per-pass sums (``route._lean_sums``) for ``[1, BLK]`` scores and, with
    ``PROBE``, the sum of squares over {x > probe} added to ``s2_probe``."""
    if PROBE:
        d_probe = tl.maximum(x - probe[:, None], 0.0)
        s2_probe += tl.sum(d_probe * d_probe, axis=1)
    cnt, s1, s2, nearest = _lean_sums(x, tau)
    return cnt, s1, s2, nearest, s2_probe


@triton.jit
def _decode_threshold_lean(row, n_cand, max_iter, BLK: tl.constexpr, RESIDENT: tl.constexpr):
    """The row's exact threshold (absolute) by the lean router's step (``route._lean_solve``:
    one convergence statistic, the smallest |x - tau|; the first pass also tests max - 1/4)."""
    lanes = tl.arange(0, BLK)
    one = tl.zeros([1], tl.int32) == 0
    x_all, m = _row_scores_and_max(row, n_cand, BLK, RESIDENT)
    tau = m - 1.0
    done = one & (n_cand == 0)
    it = 0
    while (it < max_iter) & (tl.min(done.to(tl.int32), axis=0) == 0):
        probe = tau + 0.75
        s2_probe = tl.zeros([1], tl.float32)
        if RESIDENT:
            if it == 0:
                cnt, s1, s2, nearest, s2_probe = _lean_step_sums(x_all, tau, probe, s2_probe, True)
            else:
                cnt, s1, s2, nearest, s2_probe = _lean_step_sums(x_all, tau, probe, s2_probe, False)
        else:
            cnt = tl.zeros([1], tl.float32)
            s1 = tl.zeros([1], tl.float32)
            s2 = tl.zeros([1], tl.float32)
            nearest = tl.full([1], float("inf"), tl.float32)
            for c0 in range(0, n_cand, BLK):
                x = tl.load(row + c0 + lanes[None, :], mask=((c0 + lanes) < n_cand)[None, :],
                            other=float("-inf"))  # fmt: skip
                b_cnt, b_s1, b_s2, b_near, s2_probe = _lean_step_sums(x, tau, probe, s2_probe, True)
                cnt += b_cnt
                s1 += b_s1
                s2 += b_s2
                nearest = tl.minimum(nearest, b_near)
        delta, converged = _lean_step(cnt, s1, s2, nearest)
        stepped = tau + delta
        # first pass only: a probe below the threshold (its sum of squares >= 1) above the step
        jump = (~converged) & (it == 0) & (s2_probe >= 1.0) & (probe > stepped)
        tau = tl.where(done, tau, tl.where(jump, probe, stepped))
        done = done | converged
        it += 1
    return tau


@triton.jit
def _decode_threshold_kernel(X, TAU, n_cand, n_pad, max_iter, RP: tl.constexpr, G: tl.constexpr,
                             BLK: tl.constexpr, RESIDENT: tl.constexpr, LEAN: tl.constexpr = False):  # fmt: skip
    """One program per (batch, KV head, query head): the row's exact entmax threshold.
    RESIDENT (``n_cand <= BLK``): the row is loaded once and every pass runs on registers;
    otherwise each pass streams it in blocks of BLK."""
    r = tl.program_id(0).to(tl.int64)
    row = X + ((r // G) * RP + r % G) * n_pad
    if LEAN:
        tau = _decode_threshold_lean(row, n_cand, max_iter, BLK, RESIDENT)
        tl.store(TAU + r + tl.arange(0, 1), tl.where(n_cand > 0, tau, float("inf")))
        return
    lanes = tl.arange(0, BLK)
    # Work on [1, BLK] tensors: the support helpers reduce along axis 1.
    one = tl.zeros([1], tl.int32) == 0
    ok_all = (lanes < n_cand)[None, :]
    x_all, m = _row_scores_and_max(row, n_cand, BLK, RESIDENT)
    tau = tl.full([1], -1.0, tl.float32)
    done = one & (n_cand == 0)
    it = 0
    while (it < max_iter) & (tl.min(done.to(tl.int32), axis=0) == 0):
        cnt, s1, s2, lowest_in, highest_out = _support_init(1)
        if RESIDENT:
            cnt, s1, s2, lowest_in, highest_out = _support_update(
                x_all - m[:, None], tau, ok_all, cnt, s1, s2, lowest_in, highest_out)
        else:
            for c0 in range(0, n_cand, BLK):
                ok = ((c0 + lanes) < n_cand)[None, :]
                x = tl.load(row + c0 + lanes[None, :], mask=ok, other=float("-inf"))
                cnt, s1, s2, lowest_in, highest_out = _support_update(
                    x - m[:, None], tau, ok, cnt, s1, s2, lowest_in, highest_out)
        root, converged = _solve_on_support(cnt, s1, s2, lowest_in, highest_out)
        tau = tl.where(done, tau, root)
        done = done | converged
        it += 1
    tl.store(TAU + r + tl.arange(0, 1), tl.where(n_cand > 0, m + tau, float("inf")))


RESIDENT_VALUES = 16384  # longest score row a threshold program keeps in registers
# The threshold kernel's passes by the lean router's step (absolute threshold, one convergence
# statistic: four row reductions a pass instead of five) with the first pass's probe at
# max - 1/4 (fewer passes where many scores sit near the max). H100, 128k, 10%
# (results/reference/h100-dash/stop17/): the kernel 4.6 -> 3.2 us (Hkv 8, B=1), 5.5 -> 3.9 (Hkv 8,
# B=8), 4.7 -> 3.1 (Hkv 2, B=1), 5.5 -> 3.5 (Hkv 2, B=8); the step under a CUDA graph 22.7 -> 21.4
# us at Hkv 2, B=1.
DECODE_LEAN_THRESHOLD = True
# 512 scores a warp: 4.6 us for 2048 chunks at 128k; one warp (2048) took 10.1 us
# (results/reference/h100-dash/decode/profile_decode_variants.json)
THRESHOLD_VALUES_PER_WARP = 512


def threshold_config(n_cand: int) -> tuple[int, bool, int]:
    """(BLK, RESIDENT, num_warps) of the threshold kernel for a row of ``n_cand`` scores."""
    whole = triton.next_power_of_2(max(n_cand, 1))
    if whole <= RESIDENT_VALUES:
        return whole, True, max(1, min(16, whole // THRESHOLD_VALUES_PER_WARP))
    return RESIDENT_VALUES, False, 16


def split_config(n_cand: int, want: int, GP: int) -> tuple[int, int]:
    """(SPAN, n_split): candidate chunks per attend program (a power of two) and their count,
    near ``want`` programs per (batch, KV head), at most ``SPAN_VALUES`` scores per program."""
    span = triton.next_power_of_2(max(1, -(-n_cand // want)))
    span = min(span, max(16, SPAN_VALUES // GP))
    return span, max(1, -(-n_cand // span))


@triton.jit
def _own_chunk_state(q, k_base, v_base, n_keys, stride_kn, stride_vn, valid, sm_scale, C: tl.constexpr,
                     D: tl.constexpr):  # fmt: skip
    """Softmax state (base-2 max, sum, output) of the decode query's rows over its own, partial
    chunk: keys up to the last one (``n_keys - 1``)."""
    # (no .to() on n_keys-derived scalars: Triton turns an argument equal to 1 into a
    # compile-time int)
    dims = tl.arange(0, D)
    kpos = (((n_keys - 1) // C) * C + tl.arange(0, C)).to(tl.int64)
    kvalid = kpos < n_keys
    k = tl.load(k_base + kpos[:, None] * stride_kn + dims[None, :], mask=kvalid[:, None], other=0.0)
    v = tl.load(v_base + kpos[:, None] * stride_vn + dims[None, :], mask=kvalid[:, None], other=0.0)
    s = tl.dot(q, tl.trans(k)) * sm_scale
    s = tl.where(kvalid[None, :] & valid[:, None], s, float("-inf"))
    m_i = tl.where(valid, tl.max(s, axis=1), 0.0)
    p = tl.exp2(s - m_i[:, None])
    return m_i, tl.sum(p, axis=1), tl.dot(p.to(v.dtype), v)


@triton.jit
def _fold_chunk(s, v, m_i, l_i, acc):
    """Fold one chunk's base-2 scores ``s`` (``-inf`` for rows that skip it) and values into a
    running softmax state whose max may still be ``-inf``."""
    m_new = tl.maximum(m_i, tl.max(s, axis=1))
    m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
    alpha = tl.exp2(m_i - m_safe)
    p = tl.exp2(s - m_safe[:, None])
    return m_new, l_i * alpha + tl.sum(p, axis=1), acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)


@triton.jit
def _decode_attend_kernel(
    Q, K, V, X, TAU, IDS, LOGP, LSUM, NCNT, M_OUT, L_OUT, ACC_OUT,
    stride_qb, stride_qh, stride_kb, stride_kh, stride_kn,
    n_keys, n_cand, n_pad, n_split, sm_scale, inv_sigma,
    HKV: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, RP: tl.constexpr, C: tl.constexpr,
    D: tl.constexpr, SPAN: tl.constexpr, ESTIMATE_DIAGONAL: tl.constexpr,
):  # fmt: skip
    """Program ``s < n_split`` owns candidate chunks ``[s * SPAN, (s + 1) * SPAN)``: it forms
    their GQA-mean probabilities from the stored scores and thresholds, lists the routed ones
    (in its own slice of IDS/LOGP, read back after a barrier), attends them with the bias
    ``log p / sigma`` and writes a partial softmax state plus its sum of log-probabilities and
    count. Program ``n_split`` attends the query's own, partial chunk (no bias). The centring
    by ``log_g`` (a mean over all splits) is applied by the combine."""
    split = tl.program_id(0)
    bh = tl.program_id(1)
    b = (bh // HKV).to(tl.int64)
    h = (bh % HKV).to(tl.int64)
    rows = tl.arange(0, RP)
    valid = rows < G
    dims = tl.arange(0, D)
    keys = tl.arange(0, C)
    q = tl.load(Q + b * stride_qb + (h * G + rows)[:, None] * stride_qh + dims[None, :],
                mask=valid[:, None], other=0.0)  # fmt: skip
    k_base = K + b * stride_kb + h * stride_kh
    v_base = V + b * stride_kb + h * stride_kh
    m_i = tl.full([RP], float("-inf"), tl.float32)
    l_i = tl.zeros([RP], tl.float32)
    acc = tl.zeros([RP, D], tl.float32)
    if split == n_split:  # the query's own chunk, up to the query (the last key)
        m_i, l_i, acc = _own_chunk_state(q, k_base, v_base, n_keys, stride_kn, stride_kn, valid, sm_scale, C, D)
    else:
        grows = tl.arange(0, GP)
        gvalid = grows < G
        lanes = tl.arange(0, SPAN)
        cs = split * SPAN + lanes
        cm = cs < n_cand
        x = tl.load(X + (bh.to(tl.int64) * RP + grows[:, None]) * n_pad + cs[None, :],
                    mask=gvalid[:, None] & cm[None, :], other=float("-inf"))  # fmt: skip
        tau = tl.load(TAU + bh * G + grows, mask=gvalid, other=float("inf"))
        pr = tl.maximum(x - tau[:, None], 0.0)
        p_bar = tl.sum(tl.where(gvalid[:, None] & cm[None, :], pr * pr, 0.0), axis=0) / G
        routed = (p_bar > 1e-20) & cm
        r = routed.to(tl.int32)
        log_p = tl.log(tl.where(routed, p_bar, 1.0))
        slot = tl.cumsum(r, axis=0) - r
        base = bh.to(tl.int64) * n_pad + split * SPAN
        tl.store(IDS + base + slot, cs, mask=routed)
        tl.store(LOGP + base + slot, log_p, mask=routed)
        n_routed = tl.sum(r, axis=0)
        tl.store(LSUM + bh * n_split + split, tl.sum(tl.where(routed, log_p, 0.0), axis=0))
        tl.store(NCNT + bh * n_split + split, n_routed)
        tl.debug_barrier()  # the list was written by the whole block; every thread reads it
        for i in range(0, n_routed):
            c = tl.load(IDS + base + i)
            bias = tl.load(LOGP + base + i)  # the token's GQA-mean log-probability
            if ESTIMATE_DIAGONAL:
                bias = bias * inv_sigma
            kpos = (c * C + keys).to(tl.int64)
            k = tl.load(k_base + kpos[:, None] * stride_kn + dims[None, :])
            v = tl.load(v_base + kpos[:, None] * stride_kn + dims[None, :])
            s = tl.dot(q, tl.trans(k)) * sm_scale + bias * 1.4426950408889634
            m_i, l_i, acc = _fold_chunk(tl.where(valid[:, None], s, float("-inf")), v, m_i, l_i, acc)
    state = (bh * (n_split + 1) + split) * RP + rows
    # only the G real rows: the merge reads no other (at G = 4, 3/4 of the state is padding; H200,
    # 128k, 10%, Hkv 8, B=1: attend 21.5 -> 20.1-20.4 us, results/reference/h200-dash/stop29/)
    tl.store(M_OUT + state, m_i, mask=valid)
    tl.store(L_OUT + state, l_i, mask=valid)
    tl.store(ACC_OUT + state[:, None] * D + dims[None, :], acc, mask=valid[:, None])


@triton.jit
def _decode_combine_kernel(
    M_IN, L_IN, ACC_IN, LSUM, NCNT, OUT, COUNT, stride_ob, stride_oh, n_split, inv_sigma,
    HKV: tl.constexpr, G: tl.constexpr, RP: tl.constexpr, D: tl.constexpr, NSP: tl.constexpr,
    ESTIMATE_DIAGONAL: tl.constexpr, DB: tl.constexpr = 0,
):  # fmt: skip
    """One program per (batch, KV head, query head) and ``DB`` of the head dims (0: all):
    centres the routed states' bias by ``log_g`` (the mean log-probability over every split) and
    merges the ``n_split + 1`` partial states of its row at once (log-sum-exp)."""
    bh = tl.program_id(0)
    g = tl.program_id(1)
    part = tl.program_id(2)
    b = (bh // HKV).to(tl.int64)
    h = (bh % HKV).to(tl.int64)
    splits = tl.arange(0, NSP)
    routed_state = splits < n_split
    ok = splits <= n_split
    DP: tl.constexpr = D if DB == 0 else DB
    dims = part * DP + tl.arange(0, DP)
    n_routed = tl.sum(tl.load(NCNT + bh * n_split + splits, mask=routed_state, other=0), axis=0)
    log_sum = tl.sum(tl.load(LSUM + bh * n_split + splits, mask=routed_state, other=0.0), axis=0)
    state = (bh * (n_split + 1) + splits) * RP + g
    m_s = tl.load(M_IN + state, mask=ok, other=float("-inf"))
    if ESTIMATE_DIAGONAL:
        log_g = log_sum / tl.maximum(n_routed, 1).to(tl.float32)
        m_s = tl.where(routed_state, m_s - log_g * inv_sigma * 1.4426950408889634, m_s)
    m = tl.max(m_s, axis=0)
    m = tl.where(m == float("-inf"), 0.0, m)
    w = tl.where(ok, tl.exp2(m_s - m), 0.0)
    l_sum = tl.sum(w * tl.load(L_IN + state, mask=ok, other=0.0), axis=0)
    acc = tl.load(ACC_IN + state[:, None].to(tl.int64) * D + dims[None, :], mask=ok[:, None], other=0.0)
    out = tl.sum(w[:, None] * acc, axis=0) / tl.where(l_sum > 0, l_sum, 1.0)
    tl.store(OUT + b * stride_ob + (h * G + g) * stride_oh + dims, out.to(OUT.dtype.element_ty))
    if (g == 0) & (part == 0):
        tl.store(COUNT + bh, n_routed + 1)


# At most 128 spans a (batch, KV head), merged over head-dim slices of 32 (COMBINE_DIMS): H100,
# 128k, 10% (results/reference/h100-dash/stop17/), Hkv 2, B=1: attend 10.0 -> 8.0 us, the step
# under a CUDA graph 21.7 -> 19.1 us (2.82x -> 3.21x FA3; a rerun: 22.0 -> 19.8 us, 3.12x); the
# other cases keep 64 spans or fewer (four programs an SM) and the sliced combine is as fast or
# faster (3.66 -> 3.41 us at Hkv 8, B=1). 256 spans: attend 7.7 us, but the combine 4.5 us (20.2 us).
MAX_SPLIT = 128
# Head dims a combine program merges (0: all of them): more, smaller programs for many states.
COMBINE_DIMS = 32
# (Programmatic dependent launch of the threshold, attend and combine kernels was slower under
# CUDA graphs on the H100, stop 17: 21.7 -> 24.3 us at Hkv 2, B=1; removed, commit f04ddc9 has it.)
SPAN_VALUES = 16384  # scores one attend program reads (GP rows x SPAN chunks)
# Attend programs aimed at per step, and the software-pipeline depth of their loop over listed
# chunks. At Triton's default 3 stages the loop waits for all its copies in flight at each listed
# chunk (sm_90 TTGIR: async_wait num = 0); at 5 the next chunk's K/V stay in flight while this
# one is computed (two K/V buffers, 71.7 KB of shared memory). H100, 128k, the decoded row at
# 10% density, graph replays over cache copies (cold reads; results/reference/h100-dash/stop26/,
# call a): 528 programs at 3 stages -> 1056 at 5: Hkv 8, B=1 48.6 -> 44.5 us (3.95x -> 4.32x
# FA3); B=8 234.5 -> 208.9; Hkv 2, B=8 78.9 -> 71.6; Hkv 2, B=1 26.0 -> 25.8 (128 spans,
# MAX_SPLIT, either way). Call b in one process: the same at 128k; at 32k, Hkv 8, B=1 (spans of 4
# chunks) 23.7 -> 25.2 us, the one case that lost. (Stop 16 had found 528 faster than 2112.)
ATTEND_PROGRAMS = 1056
ATTEND_STAGES = 5  # None: Triton's default
# (Programs over interleaved spans, every n_split-th candidate, so that runs of routed chunks spread
# over them: H200, 128k, 10%, cold, in one process (results/reference/h200-dash/stop33/96af170_b/):
# Hkv 8, B=1 35.6 / 37.6 us (default before / after) against 37.8; B=8 159.7 / 159.3 against
# 161.4; Hkv 2, B=8 58.7 / 58.6 against 61.1; faster only at Hkv 2, B=1, 25.6 / 25.4 against 24.7
# (1.9x FA3 either way). Removed, commit 96af170 has it; stop 18 had timed it slower on the H100.)
# (Spans of at least 8 chunks, against the 4 that 1056 programs cut at 32k, B=1: 24.5 -> 23.0 us
# at Hkv 8, 16.6 -> 18.0 at Hkv 2, 128k within noise; not kept. stop26/52c5076_c/.)
# (Programs sharing the routed candidates evenly instead of spans, the threshold kernel flagging
# each row's support: 128k, 10%, cold, Hkv 2, B=1 26.6 -> 25.8 us (attend 10.9 -> 9.2, threshold
# 3.8 -> 4.3; 32k 18.2 -> 16.8), but Hkv 8, B=1 45.3 -> 48.7 (32k 25.3 -> 27.1), B=8 0.4-7.5%
# slower; removed, commit b0a4993 has it. stop26/b0a4993_e/.)


def decode_step(q, k, v, summaries, *, chunk_size, scaling, sigma, estimate_diagonal,
                n_split: int | None = None):  # fmt: skip
    """One decode step for ``q`` ``[B, Hq, 1, D]`` at position ``L - 1`` of ``k``/``v``
    ``[B, Hkv, L, D]`` (views of a cache are fine). Returns ``(out, count [B, Hkv, 1])``."""
    B, Hq, _, D = q.shape
    Hkv, L = k.shape[1], k.shape[2]
    G = Hq // Hkv
    GP = triton.next_power_of_2(G)
    RP = max(16, GP)  # tensor-core tiles need 16 rows
    C = chunk_size
    n_cand = (L - 1) // C  # complete chunks before the query's own
    n_pad = max(CB, math.ceil(n_cand / CB) * CB)
    dev = q.device
    xscale = 0.5 * scaling / math.sqrt(D)
    BH = B * Hkv
    want = n_split or max(1, min(MAX_SPLIT, ATTEND_PROGRAMS // BH))
    span, n_split = split_config(n_cand, want, GP)
    states = BH * (n_split + 1) * RP  # routed slices, then the query's own chunk
    # Two workspace allocations, split into views: a decode step is short enough for host-side
    # allocation calls to show up in its time.
    f32 = torch.empty(BH * (RP * n_pad + G + n_pad + n_split) + states * (2 + D), device=dev,
                      dtype=torch.float32)  # fmt: skip
    x, tau, log_p, l_sum, m_part, l_part, acc_part = f32.split(
        [BH * RP * n_pad, BH * G, BH * n_pad, BH * n_split, states, states, states * D])
    i32 = torch.empty(BH * (1 + n_pad + n_split), device=dev, dtype=torch.int32)
    count, ids, n_count = i32.split([BH, BH * n_pad, BH * n_split])
    bf16 = q.dtype == torch.bfloat16
    out = torch.empty_like(q)
    if n_cand:
        _decode_scores_kernel[(n_pad // CB, BH)](
            q, summaries, x, q.stride(0), q.stride(1),
            summaries.stride(0), summaries.stride(1), summaries.stride(2),
            n_cand, n_pad, xscale, HKV=Hkv, G=G, RP=RP, D=D, CB=CB, SPLIT_BF16=bf16,
        )  # fmt: skip
    blk, resident, warps = threshold_config(n_cand)
    _decode_threshold_kernel[(BH * G,)](
        x, tau, n_cand, n_pad, MAX_ITER, RP=RP, G=G, BLK=blk, RESIDENT=resident, LEAN=DECODE_LEAN_THRESHOLD,
        num_warps=warps,
    )  # fmt: skip
    _decode_attend_kernel[(n_split + 1, BH)](
        q, k, v, x, tau, ids, log_p, l_sum, n_count, m_part, l_part, acc_part,
        q.stride(0), q.stride(1), k.stride(0), k.stride(1), k.stride(2),
        L, n_cand, n_pad, n_split, 1.4426950408889634 / math.sqrt(D), 1.0 / sigma,
        HKV=Hkv, G=G, GP=GP, RP=RP, C=C, D=D, SPAN=span, ESTIMATE_DIAGONAL=estimate_diagonal,
        **({} if ATTEND_STAGES is None else {"num_stages": ATTEND_STAGES}),
    )  # fmt: skip
    nsp = triton.next_power_of_2(n_split + 1)
    db = COMBINE_DIMS if 0 < COMBINE_DIMS < D else 0
    _decode_combine_kernel[(BH, G, D // db if db else 1)](
        m_part, l_part, acc_part, l_sum, n_count, out, count, out.stride(0), out.stride(1), n_split,
        1.0 / sigma, HKV=Hkv, G=G, RP=RP, D=D, NSP=nsp, ESTIMATE_DIAGONAL=estimate_diagonal, DB=db,
        num_warps=min(16, max(4, nsp * (db or D) // 8192)),  # 4 up to 128 states (8 measured slower)
    )  # fmt: skip
    return out, count.view(B, Hkv, 1)
