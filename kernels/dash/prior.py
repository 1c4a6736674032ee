"""The log-prior bias of every listed (query tile, chunk) pair, computed once before the attention.

The attention otherwise recomputes, per listed chunk, each row's routing score (a D-long dot of
the row with the chunk summary) and the mean over a token's heads, which crosses warps (rows are
head-major). Here one program per attention tile takes its listed chunks a block at a time on the
tensor cores, with the lean router's arithmetic: the summaries' pre-scaled bf16 terms
(``route.summary_terms``) against ``q^T``, so the mean over heads is in-thread adds (as in the
router's transposed final pass) and a chunk is biased where the router routed it. (The third
bf16 term is chosen here per attention tile from its thresholds, by the router per router tile
from its max: at scores near 256 a chunk within ~1e-3 of a threshold may still differ.) It
writes ``BM`` base-2 biases a pair, in list order: ``[n_pairs, BM]`` fp32, ``-inf`` for tokens
that did not route the chunk. Size: ``2 * cd * N^2 * Hkv / C`` bytes for compute density ``cd``
(6.6% of q, k, v and out at 128k, 32/2 heads, 25%; 38% at 32/8), so the forward takes it only
under a memory budget (``interface.STORED_BIAS_MAX_FRACTION``).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from dashbench.kernels.dash.route import EXPAND_WORDS, _expand_tile, _lean_term_scores, _router_tile, router_operand

LOG2E = 1.4426950408889634
# Listed chunks a step (rows of the transposed product). 64 builds on wgmma (32 on mma.sync;
# sm_90, Triton 3.6): H100, 128k, structured, checked then timed in rotated rounds
# (scripts/bench_listed_bias.py, results/reference/h100-dash/stop23/321a89b_e/): 25% 3.68 ->
# 2.40 ms (Hkv 8), 2.15 -> 1.66 (Hkv 2); 10% 2.60 -> 1.87, 1.56 -> 1.35; the same -inf pattern,
# finite biases within fp16 rounding (0.008); 128 was slower (stop 24: 3.71 vs 2.39 ms, Hkv 8).
LIST_BLOCK = 64
# The bias programs launched longest first (a tile's list grows with its position), as the
# attention's are. H100, 128k, 5 rounds (results/reference/h100-dash/stop25/48645e8_a/): 2.431 ->
# 2.423 ms (Hkv 8, 25%), 1.869 -> 1.854 (10%), 1.680 -> 1.669 (Hkv 2, 25%), 1.355 -> 1.331 (10%).
BIAS_LONGEST_FIRST = True
# The bias kernel writes the chunk lists itself (``listed_bias(mask=...)``), one launch fewer
# after the forward's synchronization (stop 24: 60-130 us of host time a launch there, the GPU
# idle). Off: no gain on the H100 (stop25/48645e8_a/, 32k, whole call back to back 7.566 ->
# 7.549 ms at Hkv 8, 5.363 -> 5.424 at Hkv 2).
BIAS_EXPANDS_LISTS = False


@triton.jit
def _listed_bias_kernel(
    Q, S, TAU, LOGG, OFFSETS, COUNTS, IDS, BIAS, MASK,
    stride_qb, stride_qh, stride_qn,
    stride_st, stride_sb, stride_sh, stride_sc,
    N, n_tiles, n_words, inv_sigma,
    HKV: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, BM: tl.constexpr, D: tl.constexpr,
    LB: tl.constexpr, SPLIT_BF16: tl.constexpr, ESTIMATE_DIAGONAL: tl.constexpr,
    LONGEST_FIRST: tl.constexpr = False, EXPAND: tl.constexpr = False, WB: tl.constexpr = 16,
):  # fmt: skip
    """Program (tile ``t``, batch x KV head): the biases of the tile's listed chunks, ``LB`` at a
    time. Scores as the router's (two bf16 terms of the summaries, three where the tile's
    thresholds pass 255, as the router's tiles whose max passes 256; fp32: tf32x3).
    ``LONGEST_FIRST``: the last tiles (the longest lists) first. ``EXPAND``: the program first
    writes its tile's list into ``IDS`` from the union bitmask ``MASK`` (``route._expand_tile``),
    so that no launch of its own does."""
    t = tl.program_id(0)
    if LONGEST_FIRST:
        t = n_tiles - 1 - t
    # The router's tile rows and q (its own chunk, from C = BM, is not used here).
    b, h, g, pos, valid, _, q = _router_tile(t, Q, stride_qb, stride_qh, stride_qn, N, 0, HKV, G, GP, BM, BM, D,
                                             SPLIT_BF16)  # fmt: skip
    dims = tl.arange(0, D)
    q_t = tl.trans(q)
    tau = tl.load(TAU + (b * HKV * G + h * G + g).to(tl.int64) * N + pos, mask=valid, other=float("inf"))
    finite = valid & (tau < float("inf"))
    three = tl.max(tl.where(finite, tl.abs(tau), 0.0), axis=0) > 255.0
    tokens = tl.arange(0, BM)
    tok_pos = t.to(tl.int64) * BM + tokens
    log_g = tl.load(LOGG + (b * HKV + h) * N + tok_pos, mask=tok_pos < N, other=0.0)
    tile = (b * HKV + h) * n_tiles + t
    start = tl.load(OFFSETS + tile)
    if EXPAND:
        _expand_tile(MASK, IDS, tile, start, n_words, WB)
        tl.debug_barrier()  # the ids written by all the program's threads, read by others below
    n_list = tl.load(COUNTS + tile)
    s_base = S + b * stride_sb + h * stride_sh
    lanes = tl.arange(0, LB)
    for i0 in range(0, n_list, LB):
        ok = i0 + lanes < n_list
        ids = tl.load(IDS + start + i0 + lanes, mask=ok, other=0)
        offs = ids[:, None].to(tl.int64) * stride_sc + dims[None, :]
        xt = _lean_term_scores(q_t, s_base, stride_st, offs, ok, SPLIT_BF16, True, three, False, True)
        p = tl.maximum(xt - tau[None, :], 0.0)  # rows without a threshold (+inf) give 0
        p_bar = tl.sum(tl.reshape(p * p, (LB, GP, BM)), axis=1) / G
        routed = p_bar > 1e-20
        log_p = tl.log(tl.where(routed, p_bar, 1.0))
        if ESTIMATE_DIAGONAL:
            bias = (log_p - log_g[None, :]) * inv_sigma
        else:
            bias = log_p
        bias = tl.where(routed, bias * 1.4426950408889634, float("-inf"))
        tl.store(BIAS + (start + i0 + lanes)[:, None].to(tl.int64) * BM + tokens[None, :],
                 bias.to(BIAS.dtype.element_ty), mask=ok[:, None])  # fmt: skip


def bias_dtype(q_dtype: torch.dtype, sigma: float) -> torch.dtype:
    """The stored biases' dtype: fp16 for bf16 inputs at sigma >= 1, fp32 otherwise. fp16 rounds a
    log2 bias ``b`` by up to ``|b| * 2^-11``, a relative error of ``ln 2`` times that in the weight it
    stands for: ~0.1% for the chunks that matter at sigma = 1 (|b| below ~16), under bf16's own
    rounding of the output (2^-9). Smaller sigma scales the biases up (to 66 / sigma for a
    probability of 1e-20: overflow below sigma ~1e-3), and fp16 or fp32 inputs are computed more
    finely than bf16's, so those keep fp32."""
    return torch.float16 if q_dtype == torch.bfloat16 and sigma >= 1.0 else torch.float32


def stored_bias_bytes(n_pairs: int, bm: int, q_dtype: torch.dtype, sigma: float) -> int:
    """Bytes of the stored bias for ``n_pairs`` listed (tile, chunk) pairs of ``bm`` tokens."""
    return bias_dtype(q_dtype, sigma).itemsize * max(1, n_pairs) * bm


def listed_bias(q, summaries, tau, log_g, offsets, counts, ids, *, scaling, sigma, estimate_diagonal,
                bm: int, gp: int, operand: torch.Tensor | None = None,
                longest_first: bool | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """Base-2 log-prior biases ``[n_pairs, bm]`` of every listed pair (``bias_dtype``), in ``ids`` order
    (``offsets``/``counts``/``ids`` from ``route.chunk_lists``; ``tau``, ``log_g`` from
    ``route.route``); ``-inf`` where the token did not route the chunk. ``operand``: the router's
    ``route.router_operand(summaries, scaling, q.dtype)`` where the caller has formed it.
    ``longest_first`` (default ``BIAS_LONGEST_FIRST``): the last tiles first. ``mask``: the
    router's union bitmask, from which the kernel writes ``ids`` itself (``chunk_lists(...,
    expand=False)`` allocated it)."""
    B, Hq, N, D = q.shape
    Hkv = summaries.shape[1]
    n_tiles = counts.shape[2]
    split = q.dtype == torch.bfloat16
    s = router_operand(summaries, scaling, q.dtype) if operand is None else operand
    bias = torch.empty(max(1, ids.numel()), bm, device=q.device, dtype=bias_dtype(q.dtype, sigma))
    _listed_bias_kernel[(n_tiles, B * Hkv)](
        q, s, tau, log_g, offsets, counts, ids, bias, counts if mask is None else mask,  # (MASK read only with EXPAND)
        q.stride(0), q.stride(1), q.stride(2),
        s.stride(3), s.stride(0), s.stride(1), s.stride(2),
        N, n_tiles, 0 if mask is None else mask.shape[-1], 1.0 / sigma,
        HKV=Hkv, G=Hq // Hkv, GP=gp, BM=bm, D=D, LB=LIST_BLOCK, SPLIT_BF16=split,
        ESTIMATE_DIAGONAL=estimate_diagonal,
        LONGEST_FIRST=BIAS_LONGEST_FIRST if longest_first is None else longest_first,
        EXPAND=mask is not None, WB=EXPAND_WORDS,
        num_warps=4 if split or D < 128 else 8,  # (fp32 q, D 128: spills at 4)
    )  # fmt: skip
    return bias
