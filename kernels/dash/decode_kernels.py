"""Decode-step kernels: one query per sequence, parallel over chunks (flash-decoding style).

A prefill tile program would walk every chunk in one program per (batch, KV head): 8 programs
at batch 1, far too few for an H100. Here the step is split in five short launches:

1. ``_decode_scores_kernel``: routing scores of the G query heads against every candidate chunk
   summary, one program per block of chunks (fp32-accurate products, as the router's);
2. ``_decode_threshold_kernel``: one program per (batch, KV head, query head) finds the row's
   exact entmax threshold from the stored scores (loads only; rows up to 16k chunks stay in
   registers for every pass);
3. ``_decode_list_kernel``: one program per (batch, KV head), one pass: the routed chunks as a
   compact list, the mean log-probability ``log_g`` and the counts;
4. ``_decode_attend_kernel``: the routed list is cut into ``n_split`` slices, one program each
   (split 0 also takes the query's own, partial chunk); each writes a partial softmax state;
5. ``_decode_combine_kernel`` merges the partial states of each row at once (log-sum-exp).
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
def _decode_threshold_kernel(X, TAU, n_cand, n_pad, max_iter, RP: tl.constexpr, G: tl.constexpr,
                             BLK: tl.constexpr, RESIDENT: tl.constexpr):  # fmt: skip
    """One program per (batch, KV head, query head): the row's exact entmax threshold.
    RESIDENT (``n_cand <= BLK``): the row is loaded once and every pass runs on registers;
    otherwise each pass streams it in blocks of BLK."""
    r = tl.program_id(0).to(tl.int64)
    row = X + ((r // G) * RP + r % G) * n_pad
    lanes = tl.arange(0, BLK)
    # Work on [1, BLK] tensors: the support helpers reduce along axis 1.
    one = tl.zeros([1], tl.int32) == 0
    if RESIDENT:
        ok_all = (lanes < n_cand)[None, :]
        x_all = tl.load(row + lanes[None, :], mask=ok_all, other=float("-inf"))
        m = tl.max(x_all, axis=1)
    else:
        # The max is kept per lane and reduced after the loop: a row reduction inside this loop
        # followed by the reducing loops below crashes Triton 3.6's thread-locality pass (sm_90).
        m_lanes = tl.full([1, BLK], float("-inf"), tl.float32)
        for c0 in range(0, n_cand, BLK):
            x = tl.load(row + c0 + lanes[None, :], mask=((c0 + lanes) < n_cand)[None, :], other=float("-inf"))
            m_lanes = tl.maximum(m_lanes, x)
        m = tl.max(m_lanes, axis=1)
    m = tl.where(m == float("-inf"), 0.0, m)  # no candidate: avoid inf - inf
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


@triton.jit
def _decode_list_kernel(X, TAU, LOGG, COUNT, LIST, LOGP, NLIST, n_cand, n_pad,
                        G: tl.constexpr, GP: tl.constexpr, RP: tl.constexpr, BLK: tl.constexpr):  # fmt: skip
    """One program per (batch, KV head): one pass over the scores forms the GQA-mean probability
    of each chunk, lists the routed chunks with their log-probabilities (the attention's bias
    before centring), and writes log_g (their mean log-probability)."""
    bh = tl.program_id(0).to(tl.int64)
    rows = tl.arange(0, GP)
    valid = rows < G
    lanes = tl.arange(0, BLK)
    x_base = X + (bh * RP + rows[:, None]) * n_pad
    tau = tl.load(TAU + bh * G + rows, mask=valid, other=float("inf"))
    log_sum = 0.0
    n_routed = 0
    for c0 in range(0, n_cand, BLK):
        cm = (c0 + lanes) < n_cand
        x = tl.load(x_base + c0 + lanes[None, :], mask=valid[:, None] & cm[None, :], other=float("-inf"))
        p = tl.maximum(x - tau[:, None], 0.0)
        p_bar = tl.sum(tl.where(valid[:, None] & cm[None, :], p * p, 0.0), axis=0) / G
        routed = (p_bar > 1e-20) & cm
        r = routed.to(tl.int32)
        slot = tl.cumsum(r, axis=0) - r
        log_p = tl.log(tl.where(routed, p_bar, 1.0))
        tl.store(LIST + bh * n_pad + n_routed + slot, c0 + lanes, mask=routed)
        tl.store(LOGP + bh * n_pad + n_routed + slot, log_p, mask=routed)
        log_sum += tl.sum(tl.where(routed, log_p, 0.0), axis=0)
        n_routed += tl.sum(r, axis=0)
    tl.store(LOGG + bh, log_sum / tl.maximum(n_routed, 1).to(tl.float32))
    tl.store(COUNT + bh, n_routed + 1)
    tl.store(NLIST + bh, n_routed)


RESIDENT_VALUES = 16384  # longest score row a threshold program keeps in registers
LIST_VALUES = 32768  # scores per block of the list pass (G rows x BLK chunks)


def threshold_config(n_cand: int) -> tuple[int, bool, int]:
    """(BLK, RESIDENT, num_warps) of the threshold kernel for a row of ``n_cand`` scores."""
    whole = triton.next_power_of_2(max(n_cand, 1))
    if whole <= RESIDENT_VALUES:
        return whole, True, max(1, min(16, whole // 512))
    return RESIDENT_VALUES, False, 16


def list_config(n_cand: int, GP: int) -> tuple[int, int]:
    """(BLK, num_warps) of the list kernel."""
    blk = min(triton.next_power_of_2(max(n_cand, 1)), max(32, LIST_VALUES // GP))
    return blk, max(1, min(16, blk * GP // 1024))


@triton.jit
def _decode_attend_kernel(
    Q, K, V, LOGG, LIST, LOGP, NLIST, M_OUT, L_OUT, ACC_OUT,
    stride_qb, stride_qh, stride_kb, stride_kh, stride_kn,
    n_keys, n_pad, n_split, sm_scale, inv_sigma,
    HKV: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, RP: tl.constexpr, C: tl.constexpr,
    D: tl.constexpr, ESTIMATE_DIAGONAL: tl.constexpr,
):  # fmt: skip
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
    log_g = tl.load(LOGG + bh)
    k_base = K + b * stride_kb + h * stride_kh
    v_base = V + b * stride_kb + h * stride_kh
    n_list = tl.load(NLIST + bh)
    lo = (n_list * split) // n_split
    hi = (n_list * (split + 1)) // n_split
    m_i = tl.full([RP], float("-inf"), tl.float32)
    l_i = tl.zeros([RP], tl.float32)
    acc = tl.zeros([RP, D], tl.float32)
    if split == 0:  # the query's own chunk, up to the query (the last key)
        # (no .to() on n_keys-derived scalars: Triton turns an argument equal to 1 into a
        # compile-time int)
        kpos = (((n_keys - 1) // C) * C + keys).to(tl.int64)
        kvalid = kpos < n_keys
        k = tl.load(k_base + kpos[:, None] * stride_kn + dims[None, :], mask=kvalid[:, None], other=0.0)
        v = tl.load(v_base + kpos[:, None] * stride_kn + dims[None, :], mask=kvalid[:, None], other=0.0)
        s = tl.dot(q, tl.trans(k)) * sm_scale
        s = tl.where(kvalid[None, :] & valid[:, None], s, float("-inf"))
        m_i = tl.where(valid, tl.max(s, axis=1), 0.0)
        p = tl.exp2(s - m_i[:, None])
        l_i = tl.sum(p, axis=1)
        acc = tl.dot(p.to(v.dtype), v)
    for i in range(lo, hi):
        c = tl.load(LIST + bh * n_pad + i)
        log_p = tl.load(LOGP + bh * n_pad + i)  # the token's GQA-mean log-probability
        if ESTIMATE_DIAGONAL:
            bias = (log_p - log_g) * inv_sigma
        else:
            bias = log_p
        kpos = (c * C + keys).to(tl.int64)
        k = tl.load(k_base + kpos[:, None] * stride_kn + dims[None, :])
        v = tl.load(v_base + kpos[:, None] * stride_kn + dims[None, :])
        s = tl.dot(q, tl.trans(k)) * sm_scale + bias * 1.4426950408889634
        s = tl.where(valid[:, None], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp2(m_i - m_safe)
        p = tl.exp2(s - m_safe[:, None])
        l_i = l_i * alpha + tl.sum(p, axis=1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    state = (bh * n_split + split) * RP + rows
    tl.store(M_OUT + state, m_i)
    tl.store(L_OUT + state, l_i)
    tl.store(ACC_OUT + state[:, None] * D + dims[None, :], acc)


@triton.jit
def _decode_combine_kernel(
    M_IN, L_IN, ACC_IN, OUT, stride_ob, stride_oh, n_split,
    HKV: tl.constexpr, G: tl.constexpr, RP: tl.constexpr, D: tl.constexpr, NSP: tl.constexpr,
):  # fmt: skip
    """One program per (batch, KV head, query head): merges the ``n_split`` partial states of
    its row at once (log-sum-exp)."""
    bh = tl.program_id(0)
    g = tl.program_id(1)
    b = (bh // HKV).to(tl.int64)
    h = (bh % HKV).to(tl.int64)
    splits = tl.arange(0, NSP)
    ok = splits < n_split
    dims = tl.arange(0, D)
    state = (bh * n_split + splits) * RP + g
    m_s = tl.load(M_IN + state, mask=ok, other=float("-inf"))
    m = tl.max(m_s, axis=0)
    m = tl.where(m == float("-inf"), 0.0, m)
    w = tl.where(ok, tl.exp2(m_s - m), 0.0)
    l_sum = tl.sum(w * tl.load(L_IN + state, mask=ok, other=0.0), axis=0)
    acc = tl.load(ACC_IN + state[:, None].to(tl.int64) * D + dims[None, :], mask=ok[:, None], other=0.0)
    out = tl.sum(w[:, None] * acc, axis=0) / tl.where(l_sum > 0, l_sum, 1.0)
    tl.store(OUT + b * stride_ob + (h * G + g) * stride_oh + dims, out.to(OUT.dtype.element_ty))


MAX_SPLIT = 64


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
    if n_split is None:  # ~4 programs per SM on an H100 (528 measured faster than 2112 at
        # 128k: 16.1 vs 17.7 us at B=1, 98 vs 104 us at B=8), fewer for short caches
        n_split = max(1, min(MAX_SPLIT, 528 // (B * Hkv), n_cand // 2 + 1))
    states = B * Hkv * n_split * RP
    # Two workspace allocations, split into views: a decode step is short enough for host-side
    # allocation calls to show up in its time.
    BH = B * Hkv
    f32 = torch.empty(BH * (RP * n_pad + G + 1 + n_pad) + states * (2 + D), device=dev, dtype=torch.float32)
    x, tau, log_g, log_p, m_part, l_part, acc_part = f32.split(
        [BH * RP * n_pad, BH * G, BH, BH * n_pad, states, states, states * D])
    i32 = torch.empty(BH * (2 + n_pad), device=dev, dtype=torch.int32)
    count, n_list, ids = i32.split([BH, BH, BH * n_pad])
    bf16 = q.dtype == torch.bfloat16
    if n_cand:
        _decode_scores_kernel[(n_pad // CB, B * Hkv)](
            q, summaries, x, q.stride(0), q.stride(1),
            summaries.stride(0), summaries.stride(1), summaries.stride(2),
            n_cand, n_pad, xscale, HKV=Hkv, G=G, RP=RP, D=D, CB=CB, SPLIT_BF16=bf16,
        )  # fmt: skip
    blk, resident, warps = threshold_config(n_cand)
    _decode_threshold_kernel[(B * Hkv * G,)](
        x, tau, n_cand, n_pad, MAX_ITER, RP=RP, G=G, BLK=blk, RESIDENT=resident, num_warps=warps,
    )  # fmt: skip
    blk, warps = list_config(n_cand, GP)
    _decode_list_kernel[(B * Hkv,)](
        x, tau, log_g, count, ids, log_p, n_list, n_cand, n_pad, G=G, GP=GP, RP=RP, BLK=blk,
        num_warps=warps,
    )  # fmt: skip
    _decode_attend_kernel[(n_split, B * Hkv)](
        q, k, v, log_g, ids, log_p, n_list, m_part, l_part, acc_part,
        q.stride(0), q.stride(1), k.stride(0), k.stride(1), k.stride(2),
        L, n_pad, n_split, 1.4426950408889634 / math.sqrt(D), 1.0 / sigma,
        HKV=Hkv, G=G, GP=GP, RP=RP, C=C, D=D, ESTIMATE_DIAGONAL=estimate_diagonal,
    )  # fmt: skip
    out = torch.empty_like(q)
    _decode_combine_kernel[(B * Hkv, G)](
        m_part, l_part, acc_part, out, out.stride(0), out.stride(1), n_split,
        HKV=Hkv, G=G, RP=RP, D=D, NSP=triton.next_power_of_2(n_split),
    )  # fmt: skip
    return out, count.view(B, Hkv, 1)
