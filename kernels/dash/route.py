"""Stage 2: 1.5-entmax routing, kept as O(N) state instead of an N x N/C score tensor.

One program per (tile of ``BM`` consecutive query tokens inside one chunk, batch, KV head). Its
rows are the ``G`` query heads of those tokens (``R = G * BM`` rows, so tensor cores see
M >= 16). Scores ``x = z / 2`` against the summaries of the chunks before the tile's chunk are
recomputed on every pass instead of stored (one pass costs about ``1 / (2C)`` of dense causal
attention):

* pass 0 finds each row's max ``m``;
* then the threshold ``tau`` (relative to ``m``, in ``[-1, 0]``) solves
  ``sum [y - tau]_+^2 = 1`` exactly: each pass takes the support ``{y > tau}``, solves the
  quadratic on it, and stops when the solution is consistent with its own support (all support
  entries above it, every other entry at or below it). Starting from ``tau = -1`` this converges
  in a handful of passes (<= 7 on 3000 random rows of up to 2048 chunks, to fp32 rounding);
* a last pass forms the GQA-mean probability ``p_bar`` per (token, chunk), marks chunks with
  ``p_bar > 1e-20`` as routed, and writes per token the count and the mean log-probability of the
  routed chunks (for the prior), and per tile the union of routed chunks as a bitmask.

``_route_lean_kernel`` (the default, ``ROUTE_LEAN``) computes the same with fewer operations
per score: summaries pre-scaled and pre-split into bf16 terms on the host (``summary_terms``),
an absolute threshold, a one-product max pass (it only places the solver's start), one
convergence statistic, 64-chunk blocks for bf16, and a final pass on transposed scores (the
mean over a token's heads in-thread). ``_route_kernel`` stays as the baseline that
``scripts/bench_router.py`` checks and times it against.

Outputs (``n_tiles = ceil(N / BM)``, ``n_words = ceil(n_chunks / 32)``):
  tau ``[B, Hq, N]`` fp32 absolute threshold on ``x`` (``+inf`` for tokens of chunk 0),
  log_g ``[B, Hkv, N]`` fp32, count ``[B, Hkv, N]`` int32 (diagonal included),
  mask ``[B, Hkv, n_tiles, n_words]`` int32 (bit ``c % 32`` of word ``c // 32``; chunks before
  the tile's own chunk only).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

P_FLOOR = 1e-20
CB = 32  # chunks per block: one mask word
MAX_ITER = 12
# The lean router (_route_lean_kernel) against the first one (_route_kernel): same outputs; the
# choice is timed on the H100 (kernels/README.md).
ROUTE_LEAN = True
# Chunks per block of the lean router with bf16 queries (H100, 128k, Hkv 8: 34.1 ms at 64 vs 40.2
# at 32); fp32 summaries keep 32 (at 64 and head dim 128 a tile's operands pass shared memory).
LEAN_CB_BF16 = 64
# The lean router's solver steps on one-product scores (the bf16 head of the summaries) until
# they converge, then exact steps from there: a CPU simulation at 32k (structured, 25%) took 4
# steps either way and one exact step after the rough ones, so two-product steps fall from ~4.3
# to 1 a program. The steps are not product-bound, so it gains little: H100, structured 25%
# (results/reference/h100-dash/stop16/): 128k 35.3 -> 34.1 ms (Hkv 8), 31.1 -> 28.9 ms (Hkv 2);
# 32k 2.76 -> 2.97 ms (Hkv 8), 2.34 -> 2.35 (Hkv 2). "auto": on from ROUGH_SOLVE_MIN_CHUNKS
# chunks (between 512 and 2048 it is not measured) where the sample start is off; after the
# sample's start the exact steps alone are faster (stop 32, ROUTE_SAMPLE_START), so by default
# it no longer runs.
ROUTE_ROUGH_SOLVE = "auto"
ROUGH_SOLVE_MIN_CHUNKS = 1024
# Router tiles a lean-router program takes in a row, each after the first starting its solver
# from the previous tile's thresholds (the same heads, BM tokens earlier), its first pass also
# taking the max. A CPU simulation at 16k, 32/2 heads (scripts/simulate_warm_start.py,
# results/reference/h100-dash/stop18/) cut a tile's passes 5.22 -> 3.01 (structured, 25%), 4.11
# -> 4.09 (10%), and left random inputs' alike; but the first pass costs a solver pass's work
# per score instead of a max's. H100, router alone, 25%: structured 27.87 -> 24.67 ms (128k,
# 32/2, 4 tiles), 33.50 -> 31.48 (128k, 32/8), 2.33 -> 2.14 (32k, 32/2); random 1.94 -> 2.22 ms
# (32k, 32/2), 2.90 -> 3.35 (32/8). Retimed after stop 18's guard (stop 19, before the
# transposed final pass): structured 25% 27.88 -> 24.73 (128k, 32/2) and 33.58 -> 31.47 (32/8),
# but structured 10% 29.42 -> 30.53 and 34.63 -> 36.49, random 32k 1.95 -> 2.23 and 2.89 -> 3.36.
# Those were back-to-back timings. In 5 rotated rounds (stop 24, results/reference/h100-dash/
# stop24/7da7ccf_a/, 25%, default -> 2 / 4 tiles): 128k structured 24.95 -> 23.77 / 22.58 ms
# (Hkv 8), 22.86 -> 21.17 / 20.50 (Hkv 2); 128k random 36.14 -> 34.63 / 32.08 (Hkv 8); 32k
# structured 2.19 -> 2.07 / 1.99, 2.05 -> 1.84 / 1.74; 32k random 2.34 -> 2.52 / 2.59, 1.66 ->
# 1.80 / 1.90. Where the rough solve runs, the cold tile's first pass is the merged max pass,
# which costs what the warm pass costs, so warm tiles only save steps; at 32k the cold tile's
# first pass is a one-product max, cheaper than the warm pass, and random inputs lost. Stop 24
# took 4 tiles where the rough solve runs only. With the programs launched longest first
# (ROUTE_LONGEST_FIRST, stop 25), end to end in 5 rotated rounds against the default (results/
# reference/h100-dash/stop25/64056ba_d/), 1 -> 4 tiles below the rough solve: 32k structured
# 25% 5.344 -> 4.845 ms (Hkv 2; 2.36x -> 2.61x FA3), 7.706 -> 7.426 (Hkv 8); 10% 3.840 -> 3.845,
# 5.875 -> 6.000; random 25% 10.265 -> 10.433, 19.311 -> 19.343; random 10% 5.880 -> 6.065,
# 12.001 -> 12.038; 16k structured 25% 1.705 -> 1.579, 2.287 -> 2.250: -0.39 ms over the ten
# rows, so 4 tiles at every length.
ROUTE_WARM_TILES = 4
# Warm tiles that stop warm-starting within a program once a warm tile has taken as many solver
# steps as the program's last cold tile: where the previous thresholds do not help (10%, random
# inputs) the program's other tiles start cold. Off: on the H100 (stop25/48645e8_a/, 5 rounds,
# longest first both) it gains at 128k 10% (26.92 -> 26.41 ms Hkv 8, 26.36 -> 24.68 Hkv 2) and
# loses at 25% (21.73 -> 22.06, 19.99 -> 20.53; random 31.26 -> 31.67, 30.23 -> 30.69), the
# 3x target's density.
ROUTE_ADAPTIVE_WARM = False
# Router programs launched longest first, as the attention's are: a tile's work grows with its
# position (causal), and in launch order the last programs to start are the longest, so the
# launch ends on them (a tail of about one program: TILES tiles of the last chunk). H100, router
# alone, 5 rotated rounds (results/reference/h100-dash/stop25/48645e8_a/): 128k, default warm
# tiles -> longest first, structured 25% 22.51 -> 21.73 ms (Hkv 8), 20.14 -> 19.99 (Hkv 2), random
# 25% 32.61 -> 31.26 / 30.74 -> 30.23, 10% 27.70 -> 26.92 / 26.19 -> 26.36; 32k (one tile a
# program), Hkv 8: 2.195 -> 2.138 structured 25%, 2.089 -> 2.015 at 10%, 1.85 -> 1.79 random 10%.
ROUTE_LONGEST_FIRST = True
# The max pass merged into the first solver pass on one-product scores (_lean_merged_pass):
# each block adds its entries above the running max - 1 to the support sums, rebased as the max
# rises, and the step from them (clamped to the root's bounds [max - 1, max - 1/sqrt(chunks)])
# starts the solver. A CPU simulation (scripts/simulate_solver_steps.py, 32k,
# results/reference/h100-dash/stop22/cpu_simulation/) kept the passes a 128-row program takes
# after the max pass: structured 25% 4.34 vs 1 + 4.34, 10% 3.97 vs 1 + 3.94, random 25% 5.56
# vs 1 + 4.81. Only before the rough solve: its start comes from one-product scores, and the
# exact solver started there could find it above every exact score (an empty support that does
# not move), where the rough solve's steps on the same scores cannot. On: H100, router alone,
# structured, variants timed in 5 rounds with the order rotated (results/reference/h100-dash/
# stop23/c838891_c/; timed back to back at stop 23's call a it had looked 2 ms slower, within
# the drift of one kernel timed twice), rough solve without -> with it: 128k 25% 26.23 -> 25.27 ms
# (Hkv 8), 24.62 -> 23.23 (Hkv 2); 10% 27.58 -> 26.06, 26.18 -> 24.51 (the default, the same
# kernel twice: 26.07 / 26.69, 24.83 / 24.84). At 32k the rough solve stays off ("auto"): with
# both, 2.19 -> 2.30 ms at Hkv 8 and 2.06 -> 1.87 at Hkv 2 (25%).
ROUTE_MERGED_MAX = True
# (The max pass and the rough solve on fp8 products (e4m3: q scaled a row, the summaries a head;
# the tensor cores' fp8 rate is twice the bf16 one) were timed at stop 23 and removed: router
# alone, structured, 128k, same process (default, bf16 rough solve again, fp8): 25% 25.3 / 29.0
# / 26.2 ms (Hkv 8), 23.9 / 27.4 / 23.3 (Hkv 2); 10% 26.6 / 30.0 / 25.6, 25.3 / 28.2 / 23.4;
# slower at 32k (2.20 / 2.29 / 2.61 ms, Hkv 8, 25%) and on random inputs. The end-to-end
# prefill with it moved 1.89x -> 1.87x (Hkv 8), 2.86x -> 2.84x (Hkv 2) at 128k, 25%: the solver
# passes are bound by their per-score arithmetic, not their products. The first two columns
# run the same kernel: back-to-back timings of the router drift by up to 15% (the power cap),
# so at 128k fp8 lies within that drift (not retimed in rounds); at 32k, where timings hold to
# ~2%, it is slower. Commit 903e025 has it.)
# The lean router's final pass (probabilities, counts, log-means, tile unions) on transposed
# scores, so the mean over a token's heads is in-thread (_lean_final_block_t). H100, 25%
# (results/reference/h100-dash/stop19/): the max and final passes took 10.6 ms of the router's
# 27.9 at 128k (Hkv 2) and 15.6 of 33.7 (Hkv 8), where an exact solver pass (the same two
# products) takes 4.3. Router alone, row-major -> transposed: 128k 27.88 -> 23.67 ms (Hkv 2),
# 33.28 -> 25.49 (Hkv 8); 32k 2.33 -> 2.01 and 2.75 -> 2.17; random 32k 1.93 -> 1.65 and 2.90 ->
# 2.29. (Token-major rows, the same aim, were slower: 27.9 -> 29.8 ms, Hkv 2; 33.7 -> 47.7 ms,
# Hkv 8; commit 509b641.) "auto": on where a router tile holds at most
# FINAL_TRANSPOSED_MAX_TOKENS tokens (G >= 4 at 128 rows), the timed cases (8 and 32 tokens): its
# per-token accumulators grow with the tokens (sm_90 spill stack at G = 1, 4 tiles: 56 -> 336 B).
# (LEAN_CB_BF16, the lean router's 2 stages and ROUTE_WARM_TILES were chosen before this pass.)
ROUTE_FINAL_TRANSPOSED = "auto"
FINAL_TRANSPOSED_MAX_TOKENS = 32
# Each tile's solver started from a sample (_lean_sample_start: 64 chunks spread over the row,
# their scores kept in registers, the root of sum (x - tau)^2 = 64 / chunks over them) instead
# of the merged max pass, the max pass or a warm start. A CPU simulation (stop 31,
# results/reference/h200-dash/stop31/cpu_simulation/) put the solver's passes a tile at 0.3-0.9x
# today's on structured inputs. H200, router alone, default -> sample start, 3-5 rotated rounds
# (stop31/bc3df35_b/, d8a7166_c/; ms):
#   128k structured 25%: 22.15 -> 21.18, 21.87 -> 21.10 (Hkv 8); 20.32 -> 17.50, 20.16 -> 17.53 (Hkv 2)
#   128k structured 10%: 27.27 -> 17.67, 26.88 -> 17.47; 25.67 -> 15.10, 25.26 -> 14.84
#   128k random 25%: 32.02 -> 33.18, 31.42 -> 32.79; 30.74 -> 31.40, 30.13 -> 31.12
#   128k random 10%: 33.46 -> 32.99, 33.13 -> 32.76; 27.10 -> 33.43, 26.61 -> 32.84
#   32k structured 25%: 1.83 -> 2.06 / 2.19 (Hkv 8); 1.60 -> 1.53 / 1.65 (Hkv 2); 10% 2.19 -> 1.59 /
#   1.70, 1.68 -> 1.18 / 1.25; random 25% +5-38%, 10% +28-33%
# On random inputs a head's support holds 1-2 of the sampled chunks (CPU, 32k:
# cpu_simulation/support_counts_32k.txt), too few to place the start. A fallback to the default
# start where the sample's supports averaged under 3 entries a row (d8a7166_c/) was slower than
# the sample everywhere in 12 of 15 cases and than the default on every random one (the sample's
# cost stays); removed. "auto": on from SAMPLE_START_MIN_CHUNKS chunks, where it gains on
# structured inputs at both densities; below, the warm tiles' start is kept (32k, 25% lost 13-19%
# at Hkv 8). End to end at 128k, 3 rounds (stop31/e997c46_d/), off -> on: 25% 2.16x -> 2.18x FA3
# (Hkv 8), 3.28x -> 3.44x (Hkv 2); 10% 2.65x -> 3.03x, 3.83x -> 4.79x; random 25% (Hkv 2) 1.24x
# either way. Stop 32 (stop32/e2d87e4_a/, router alone, 3 rounds, ms): after the sample's start
# the exact steps alone beat the rough solve then an exact step, at 128k structured 25% 21.01 ->
# 19.07 (Hkv 8), 17.24 -> 15.32 (Hkv 2); 10% 17.31 -> 14.21, 14.72 -> 12.04; random 25% 32.78 ->
# 31.62, 31.41 -> 30.82; random 10% 32.50 -> 31.83, but 32.83 -> 34.46 at Hkv 2. So the rough
# solve no longer runs after it ("auto"); end to end at 128k (stop32/e3c2526_b/, 3 rounds, FA3 in
# the same process), with -> without it: 25% 2.19x -> 2.24x (Hkv 8), 3.44x -> 3.55x (Hkv 2); 10%
# 3.05x -> 3.20x, 4.80x -> 5.11x. Two other starts for a program's later tiles were slower on
# structured inputs at 10%, the target's density, and removed: the previous tile's thresholds
# without the warm pass (commit e2d87e4; Hkv 8: 14.21 -> 27.03 ms after a sampled first tile),
# and those thresholds only for rows whose sample held fewer than K entries of their support
# (commit e3c2526; K = 2, 3, 5: 14.32 -> 15.97, 19.29, 24.66 ms), though both gained on some
# random rows (Hkv 8, 25%: 31.89 -> 29.77 at K = 2; Hkv 2, 10%: 34.53 -> 29.26 at K = 5).
ROUTE_SAMPLE_START = "auto"
SAMPLE_START_MIN_CHUNKS = 1024
# Chunks the sample scores. A CPU simulation at stop 32 (scripts/simulate_sample_size.py, 128k,
# structured 10%, Hkv 8 tiles; results/reference/h200-dash/stop32/cpu_simulation/) put a tile's
# exact passes after the start at 1.54 with 64, 1.06 with 128 and 1.04 with 256; 128 holds
# 128 x 128 fp32 scores a tile in registers. Timed at stop 33 (H200, router alone, 3 rotated
# rounds, results/reference/h200-dash/stop33/679d253_a/), 64 -> 128 -> 256, ms: 128k structured
# 10% 14.24 -> 14.20 -> 30.62 (Hkv 8), 11.74 -> 12.09 -> 27.98 (Hkv 2); 25% 18.87 -> 18.63 ->
# 37.83, 15.16 -> 15.02 -> 30.68; random 0.4-5.9% faster at 128 (the default's own spread
# reached 5% there); 64k structured 1-11% slower at 128.
# End to end at 128k, structured (3 rounds, FA3 in the same process): within 0.4% either way. 64
# stays.
ROUTE_SAMPLE_CHUNKS = 64
# (The exact passes writing the tile unions, so that tiles whose rows all converged skip the final
# pass and the bias kernel forms counts and log_g from the lists: the reduction over a block's 128
# rows crosses warps every block. Router alone at 128k, stop 33 (stop33/7279e32_c/), default ->
# unions in the passes, ms: structured 25% 18.97 -> 29.49 (Hkv 8), 15.21 -> 17.82 (Hkv 2); 10%
# 14.28 -> 17.67, 12.07 -> 12.11; random 30.6-34.0 -> 44.5-60.4. Removed; commit 7279e32 has it.
# Nor can an exact pass skip its second product where a block's tail cannot reach a threshold: a
# CPU simulation, scripts/simulate_lo_skip.py, found 0-2% of 64-chunk blocks clear for all 128 rows.)
# (A first solver pass that also tested max - 1/4, cutting a simulated 128-row program's steps
# from 4-5 to 3, was slower on the H100, stop 17: 33.6 -> 35.5 ms at 128k, Hkv 8; 27.9 -> 32.0,
# Hkv 2. Removed; commit 90c9092 has it. The decode threshold kernel keeps its probe.)


@triton.jit
def _scores(q, s_base, stride_sc, ids, cm, xscale, D: tl.constexpr, SPLIT_BF16: tl.constexpr,
            three):  # fmt: skip
    """x for the rows of ``q`` against the chunks ``ids`` (``-inf`` where ``cm`` is false).

    The scores must be close to fp32: plain tf32 or bf16 (10 / 7 mantissa bits) flips chunks that
    sit near the entmax threshold, and such a chunk moves the prior's centre log_g a lot. With
    bf16 queries (exact in bf16) the summaries are split into bf16 terms, one bf16 product
    each with fp32 accumulation: two terms (16 mantissa bits of S) in general, three (all 24)
    when ``three`` (a tile whose scores are large enough for 16 bits to move them by a
    noticeable fraction of the entmax window); otherwise tf32x3.
    """
    s = tl.load(s_base + ids[:, None].to(tl.int64) * stride_sc + tl.arange(0, D)[None, :],
                mask=cm[:, None], other=0.0)  # fmt: skip
    if SPLIT_BF16:
        s_hi = s.to(tl.bfloat16)
        rest = s - s_hi.to(tl.float32)
        s_lo = rest.to(tl.bfloat16)
        x = tl.dot(q, tl.trans(s_hi)) + tl.dot(q, tl.trans(s_lo))
        if three:
            x += tl.dot(q, tl.trans((rest - s_lo.to(tl.float32)).to(tl.bfloat16)))
    else:
        x = tl.dot(q, tl.trans(s), input_precision="tf32x3")
    x = x * xscale
    return tl.where(cm[None, :], x, float("-inf"))


@triton.jit
def _support_init(R: tl.constexpr):
    """Per-row sums over the support {y > tau}: count, sum y, sum y^2, its lowest entry, and
    the highest entry outside it."""
    zero = tl.zeros([R], tl.float32)
    return (zero, zero, zero, tl.full([R], float("inf"), tl.float32),
            tl.full([R], float("-inf"), tl.float32))  # fmt: skip


@triton.jit
def _support_update(y, tau, ok, cnt, s1, s2, lowest_in, highest_out):
    """Add a block of scores ``y = x - max`` (``ok`` masks the real entries) to the sums."""
    sup = (y > tau[:, None]) & ok
    out = (y <= tau[:, None]) & ok
    ys = tl.where(sup, y, 0.0)
    cnt += tl.sum(sup.to(tl.float32), axis=1)
    s1 += tl.sum(ys, axis=1)
    s2 += tl.sum(ys * ys, axis=1)
    lowest_in = tl.minimum(lowest_in, tl.min(tl.where(sup, y, float("inf")), axis=1))
    highest_out = tl.maximum(highest_out, tl.max(tl.where(out, y, float("-inf")), axis=1))
    return cnt, s1, s2, lowest_in, highest_out


@triton.jit
def _solve_on_support(cnt, s1, s2, lowest_in, highest_out):
    """Root of sum over the support of (y - tau)^2 = 1 (the smaller one), and whether it is
    consistent with the support it was computed on (then it is the exact threshold)."""
    disc = tl.maximum(s1 * s1 - cnt * (s2 - 1.0), 0.0)
    root = (s1 - tl.sqrt(disc)) / tl.maximum(cnt, 1.0)
    return root, (lowest_in > root) & (highest_out <= root)


@triton.jit
def _router_tile(t, Q, stride_qb, stride_qh, stride_qn, N, q_offset, HKV: tl.constexpr, G: tl.constexpr,
                 GP: tl.constexpr, BM: tl.constexpr, C: tl.constexpr, D: tl.constexpr,
                 SPLIT_BF16: tl.constexpr):  # fmt: skip
    """Router tile ``t`` of the program's (batch, KV head): its batch and KV head, the rows' head
    (``g``) and query index (``pos``), which rows are real, the tile's own chunk, and q (fp32
    unless split into bf16 products). Query i sits at key position q_offset + i (0 for a
    prefill, L - 1 for a decode step against L keys)."""
    R: tl.constexpr = GP * BM  # GP: G padded to a power of two (padding rows are masked)
    bh = tl.program_id(1)
    b = (bh // HKV).to(tl.int64)
    h = (bh % HKV).to(tl.int64)
    rows = tl.arange(0, R)
    g = rows // BM
    pos = t.to(tl.int64) * BM + rows % BM  # query index
    valid = (pos < N) & (g < G)
    own = (q_offset + t * BM) // C
    dims = tl.arange(0, D)
    q = tl.load(Q + b * stride_qb + (h * G + g)[:, None].to(tl.int64) * stride_qh
                + pos[:, None] * stride_qn + dims[None, :], mask=valid[:, None], other=0.0)  # fmt: skip
    if not SPLIT_BF16:
        q = q.to(tl.float32)
    return b, h, g, pos, valid, own, q


@triton.jit
def _route_kernel(
    Q, S, TAU, LOGG, COUNT, MASK, TILE_COUNT,
    stride_qb, stride_qh, stride_qn,
    stride_sb, stride_sh, stride_sc,
    N, q_offset, n_tiles, n_words, xscale, max_iter,
    HKV: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, BM: tl.constexpr, C: tl.constexpr,
    D: tl.constexpr, CB: tl.constexpr, SPLIT_BF16: tl.constexpr, SUB: tl.constexpr,
):  # fmt: skip
    # The router's tile of BM tokens holds SUB attention tiles of BM // SUB tokens; masks and
    # counts are written per attention tile (n_tiles of them).
    R: tl.constexpr = GP * BM
    t = tl.program_id(0)
    b, h, g, pos, valid, own, q = _router_tile(t, Q, stride_qb, stride_qh, stride_qn, N, q_offset, HKV, G, GP,
                                               BM, C, D, SPLIT_BF16)  # fmt: skip
    s_base = S + b * stride_sb + h * stride_sh

    lanes = tl.arange(0, CB)
    m = tl.full([R], float("-inf"), tl.float32)
    for c0 in range(0, own, CB):
        x = _scores(q, s_base, stride_sc, c0 + lanes, c0 + lanes < own, xscale, D, SPLIT_BF16, False)
        m = tl.maximum(m, tl.max(x, axis=1))
    # Scores past 256 in this tile: 16 bits of S could move them by ~1% of the entmax window
    # [max - 2, max], so this tile takes all 24 (and redoes its max with them).
    three = tl.max(tl.where(valid & (own > 0), tl.abs(m), 0.0), axis=0) > 256.0
    if three:
        m = tl.full([R], float("-inf"), tl.float32)
        for c0 in range(0, own, CB):
            x = _scores(q, s_base, stride_sc, c0 + lanes, c0 + lanes < own, xscale, D, SPLIT_BF16, True)
            m = tl.maximum(m, tl.max(x, axis=1))

    tau = tl.full([R], -1.0, tl.float32)
    done = (~valid) | (own == 0)
    it = 0
    while (it < max_iter) & (tl.min(done.to(tl.int32), axis=0) == 0):
        cnt, s1, s2, lowest_in, highest_out = _support_init(R)
        for c0 in range(0, own, CB):
            cm = c0 + lanes < own
            x = _scores(q, s_base, stride_sc, c0 + lanes, cm, xscale, D, SPLIT_BF16, three)
            cnt, s1, s2, lowest_in, highest_out = _support_update(
                x - m[:, None], tau, cm[None, :], cnt, s1, s2, lowest_in, highest_out
            )
        root, converged = _solve_on_support(cnt, s1, s2, lowest_in, highest_out)
        tau = tl.where(done, tau, root)
        done = done | converged
        it += 1
    tau_abs = tl.where(own > 0, m + tau, float("inf"))
    tl.store(TAU + b * (HKV * G * N) + (h * G + g).to(tl.int64) * N + pos, tau_abs, mask=valid)

    tok_pos = t.to(tl.int64) * BM + tl.arange(0, BM)
    tok_valid = tok_pos < N
    log_sum = tl.zeros([BM], tl.float32)
    n_routed = tl.zeros([BM], tl.int32)
    BMA: tl.constexpr = BM // SUB
    sub_tile = t * SUB + tl.arange(0, SUB)
    sub_ok = sub_tile < n_tiles
    mask_base = MASK + ((b * HKV + h) * n_tiles + sub_tile) * n_words
    n_union = tl.zeros([SUB], tl.int32)
    WORDS: tl.constexpr = CB // 32
    bits = tl.arange(0, 32)
    for c0 in range(0, own, CB):
        cm = c0 + lanes < own
        x = _scores(q, s_base, stride_sc, c0 + lanes, cm, xscale, D, SPLIT_BF16, three)
        p = tl.maximum(x - tau_abs[:, None], 0.0)
        p = tl.where(cm[None, :] & valid[:, None], p * p, 0.0)
        p_bar = tl.sum(tl.reshape(p, (GP, BM, CB)), axis=0) / G
        routed = (p_bar > 1e-20) & cm[None, :] & tok_valid[:, None]
        log_sum += tl.sum(tl.where(routed, tl.log(tl.where(routed, p_bar, 1.0)), 0.0), axis=1)
        n_routed += tl.sum(routed.to(tl.int32), axis=1)
        any_routed = tl.max(tl.reshape(routed.to(tl.int32), (SUB, BMA, CB)), axis=1)
        # blocks of CB chunks are CB / 32 whole mask words
        words = tl.sum(tl.reshape(any_routed, (SUB, WORDS, 32)) << bits[None, None, :], axis=2)
        w_ids = c0 // 32 + tl.arange(0, WORDS)
        tl.store(mask_base[:, None] + w_ids[None, :], words, mask=sub_ok[:, None] & (w_ids < n_words)[None, :])
        n_union += tl.sum(any_routed, axis=1)
    tl.store(TILE_COUNT + (b * HKV + h) * n_tiles + sub_tile, n_union, mask=sub_ok)
    tok_out = (b * HKV + h) * N + tok_pos
    tl.store(LOGG + tok_out, log_sum / tl.maximum(n_routed, 1).to(tl.float32), mask=tok_valid)
    tl.store(COUNT + tok_out, n_routed + 1, mask=tok_valid)



# ---- Lean router: the same outputs with fewer operations per score (see _route_lean_kernel). ----


@triton.jit
def _load_term(ptr, cm, MASKED: tl.constexpr):
    """One bf16 (or fp32) term of a block of summaries, bounds-masked only in a ``MASKED`` block."""
    if MASKED:
        s = tl.load(ptr, mask=cm[:, None], other=0.0)
    else:
        s = tl.load(ptr)
    return s


@triton.jit
def _term_dot(q_op, s, acc, TRANSPOSED: tl.constexpr, PRECISION: tl.constexpr):
    """``q · s^T`` (``[R, CB]``), or with ``TRANSPOSED`` ``s · q_op`` for ``q_op = q^T`` (``[CB, R]``)."""
    if TRANSPOSED:
        out = tl.dot(s, q_op, acc, input_precision=PRECISION)
    else:
        out = tl.dot(q_op, tl.trans(s), acc, input_precision=PRECISION)
    return out


@triton.jit
def _lean_term_scores(q_op, s_base, stride_term, offs, cm, SPLIT_BF16: tl.constexpr, MASKED: tl.constexpr, three,
                      ROUGH: tl.constexpr, TRANSPOSED: tl.constexpr):  # fmt: skip
    """The scores of the rows of q against the summaries at ``offs`` that the host has already
    scaled by ``xscale`` and split into bf16 terms (``summary_terms``), so the loads feed the
    tensor cores directly: two bf16 products, three with ``three``; fp32 summaries: tf32x3;
    ``ROUGH``: one product (the bf16 head, or plain tf32). ``TRANSPOSED``: ``q_op`` is ``q^T``
    and the result ``[chunks, rows]``. Chunks outside ``cm`` (``MASKED`` only) score 0 here."""
    s0 = _load_term(s_base + offs, cm, MASKED)
    if ROUGH:
        x = _term_dot(q_op, s0, None, TRANSPOSED, "tf32")
    elif SPLIT_BF16:
        s1 = _load_term(s_base + stride_term + offs, cm, MASKED)
        x = _term_dot(q_op, s0, None, TRANSPOSED, None)
        x = _term_dot(q_op, s1, x, TRANSPOSED, None)
        if three:
            s2 = _load_term(s_base + 2 * stride_term + offs, cm, MASKED)
            x = _term_dot(q_op, s2, x, TRANSPOSED, None)
    else:
        x = _term_dot(q_op, s0, None, TRANSPOSED, "tf32x3")
    return x


@triton.jit
def _lean_scores(q, s_base, stride_term, stride_sc, c0, n_valid, D: tl.constexpr, CB: tl.constexpr,
                 SPLIT_BF16: tl.constexpr, MASKED: tl.constexpr, three, ROUGH: tl.constexpr = False):  # fmt: skip
    """x for the rows of ``q`` against chunks ``c0 .. c0 + CB`` (``_lean_term_scores``); only a
    ``MASKED`` block (the last, partial one) pays for a bounds mask, and its missing chunks score
    ``-inf``. ``ROUGH``: one product, for the max pass, whose max only places the solver's start."""
    ids = c0 + tl.arange(0, CB)
    offs = ids[:, None].to(tl.int64) * stride_sc + tl.arange(0, D)[None, :]
    cm = ids < n_valid
    x = _lean_term_scores(q, s_base, stride_term, offs, cm, SPLIT_BF16, MASKED, three, ROUGH, False)
    if MASKED:
        x = tl.where(cm[None, :], x, float("-inf"))
    return x


@triton.jit
def _lean_max_block(m, q, s_base, stride_term, stride_sc, c0, own, D: tl.constexpr, CB: tl.constexpr,
                    SPLIT_BF16: tl.constexpr, MASKED: tl.constexpr):  # fmt: skip
    x = _lean_scores(q, s_base, stride_term, stride_sc, c0, own, D, CB, SPLIT_BF16, MASKED, False, True)
    return tl.maximum(m, tl.max(x, axis=1))


@triton.jit
def _lean_max_pass(q, s_base, stride_term, stride_sc, own, n_full, D: tl.constexpr, CB: tl.constexpr,
                   R: tl.constexpr, SPLIT_BF16: tl.constexpr):  # fmt: skip
    """Each row's max over one-product scores (it only places the solver's start)."""
    m = tl.full([R], float("-inf"), tl.float32)
    for c0 in range(0, n_full, CB):
        m = _lean_max_block(m, q, s_base, stride_term, stride_sc, c0, own, D, CB, SPLIT_BF16, False)
    if n_full < own:
        m = _lean_max_block(m, q, s_base, stride_term, stride_sc, n_full, own, D, CB, SPLIT_BF16, True)
    return m


@triton.jit
def _lean_sums(x, tau):
    """Per row of scores ``x`` (padding -inf: outside the support, infinitely far): count, sum d
    and sum d^2 over the support {d = x - tau > 0}, and the smallest |d| of any entry."""
    d = x - tau[:, None]
    dp = tl.maximum(d, 0.0)
    return (tl.sum((d > 0.0).to(tl.float32), axis=1), tl.sum(dp, axis=1), tl.sum(dp * dp, axis=1),
            tl.min(tl.abs(d), axis=1))  # fmt: skip


@triton.jit
def _lean_step(cnt, s1, s2, nearest):
    """The step from the support sums: the smaller root ``delta`` of sum over the support of
    (d - delta)^2 = 1, and whether it converged. It is the threshold when no entry lies between
    tau and tau + delta (the support is then its own), which "every |d| > |delta|" implies; an
    entry within |delta| of tau only costs a step more. An empty support (a start above every
    score) would not move: there ``nearest`` is tau - max, and the step goes to max - 1, below
    the root."""
    return _lean_step_to(cnt, s1, s2, nearest, 1.0)


@triton.jit
def _lean_step_to(cnt, s1, s2, nearest, rhs):
    """``_lean_step`` for sum (d - delta)^2 = ``rhs`` (a sample's share of the 1)."""
    disc = tl.maximum(s1 * s1 - cnt * (s2 - rhs), 0.0)
    delta = (s1 - tl.sqrt(disc)) / tl.maximum(cnt, 1.0)
    delta = tl.where(cnt > 0.0, delta, -(nearest + 1.0))
    return delta, nearest > tl.abs(delta)


@triton.jit
def _lean_solve_block(tau, cnt, s1, s2, nearest, q, s_base, stride_term, stride_sc, c0, own,
                      D: tl.constexpr, CB: tl.constexpr, SPLIT_BF16: tl.constexpr,
                      MASKED: tl.constexpr, three, ROUGH: tl.constexpr):  # fmt: skip
    """Sums over the support {x > tau} of d = x - tau (count, sum d, sum d^2) and the smallest
    |d| of any entry (``ROUGH``: on one-product scores)."""
    x = _lean_scores(q, s_base, stride_term, stride_sc, c0, own, D, CB, SPLIT_BF16, MASKED, three, ROUGH)
    b_cnt, b_s1, b_s2, b_near = _lean_sums(x, tau)
    return cnt + b_cnt, s1 + b_s1, s2 + b_s2, tl.minimum(nearest, b_near)


@triton.jit
def _lean_pass(tau, own, n_full, q, s_base, stride_st, stride_sc, D: tl.constexpr, CB: tl.constexpr,
               R: tl.constexpr, SPLIT_BF16: tl.constexpr, three, ROUGH: tl.constexpr):  # fmt: skip
    """One solver pass over all the row's chunks: the support sums at ``tau``."""
    cnt = tl.zeros([R], tl.float32)
    s1 = tl.zeros([R], tl.float32)
    s2 = tl.zeros([R], tl.float32)
    nearest = tl.full([R], float("inf"), tl.float32)
    for c0 in range(0, n_full, CB):
        cnt, s1, s2, nearest = _lean_solve_block(
            tau, cnt, s1, s2, nearest, q, s_base, stride_st, stride_sc, c0, own, D, CB, SPLIT_BF16, False, three,
            ROUGH)  # fmt: skip
    if n_full < own:
        cnt, s1, s2, nearest = _lean_solve_block(
            tau, cnt, s1, s2, nearest, q, s_base, stride_st, stride_sc, n_full, own, D, CB, SPLIT_BF16, True,
            three, ROUGH)  # fmt: skip
    return _lean_step(cnt, s1, s2, nearest)


@triton.jit
def _lean_solve(tau, valid, own, n_full, q, s_base, stride_st, stride_sc, max_iter, D: tl.constexpr,
                CB: tl.constexpr, R: tl.constexpr, SPLIT_BF16: tl.constexpr, three, ROUGH: tl.constexpr):  # fmt: skip
    """The exact threshold of every row from ``tau``: steps over all the row's chunks until each
    row's support is its own (``ROUGH``: of the one-product scores). Returns it and the steps."""
    done = (~valid) | (own == 0)
    it = 0
    while (it < max_iter) & (tl.min(done.to(tl.int32), axis=0) == 0):
        delta, converged = _lean_pass(tau, own, n_full, q, s_base, stride_st, stride_sc, D, CB, R, SPLIT_BF16,
                                      three, ROUGH)  # fmt: skip
        tau = tl.where(done, tau, tau + delta)
        done = done | converged
        it += 1
    return tau, it


@triton.jit
def _lean_final_block(log_sum, n_routed, n_union, tau, q, s_base, stride_term, stride_sc, c0, own,
                      mask_base, sub_ok, tok_valid, n_words, D: tl.constexpr, CB: tl.constexpr,
                      GP: tl.constexpr, G: tl.constexpr, BM: tl.constexpr, SUB: tl.constexpr,
                      SPLIT_BF16: tl.constexpr, MASKED: tl.constexpr, three):  # fmt: skip
    """The GQA-mean probability of each (token, chunk): the routed count, the log-probability sum
    and the tile unions as mask words. Rows that route nothing carry tau = +inf (p = 0)."""
    x = _lean_scores(q, s_base, stride_term, stride_sc, c0, own, D, CB, SPLIT_BF16, MASKED, three)
    p = tl.maximum(x - tau[:, None], 0.0)
    p_bar = tl.sum(tl.reshape(p * p, (GP, BM, CB)), axis=0) / G
    routed = (p_bar > 1e-20) & tok_valid[:, None]
    log_sum += tl.sum(tl.where(routed, tl.log(tl.where(routed, p_bar, 1.0)), 0.0), axis=1)
    n_routed += tl.sum(routed.to(tl.int32), axis=1)
    BMA: tl.constexpr = BM // SUB
    any_routed = tl.max(tl.reshape(routed.to(tl.int32), (SUB, BMA, CB)), axis=1)
    WORDS: tl.constexpr = CB // 32
    words = tl.sum(tl.reshape(any_routed, (SUB, WORDS, 32)) << tl.arange(0, 32)[None, None, :], axis=2)
    w_ids = c0 // 32 + tl.arange(0, WORDS)
    tl.store(mask_base[:, None] + w_ids[None, :], words, mask=sub_ok[:, None] & (w_ids < n_words)[None, :])
    n_union += tl.sum(any_routed, axis=1)
    return log_sum, n_routed, n_union


@triton.jit
def _lean_scores_t(q_t, s_base, stride_term, stride_sc, c0, n_valid, D: tl.constexpr, CB: tl.constexpr,
                   SPLIT_BF16: tl.constexpr, MASKED: tl.constexpr, three):  # fmt: skip
    """``_lean_scores`` transposed: ``[CB, R]``, a chunk a row and a query row a column, from
    ``q_t = q^T`` (the same products with the operands' roles swapped)."""
    ids = c0 + tl.arange(0, CB)
    offs = ids[:, None].to(tl.int64) * stride_sc + tl.arange(0, D)[None, :]
    cm = ids < n_valid
    xt = _lean_term_scores(q_t, s_base, stride_term, offs, cm, SPLIT_BF16, MASKED, three, False, True)
    if MASKED:
        xt = tl.where(cm[:, None], xt, float("-inf"))
    return xt


@triton.jit
def _lean_final_block_t(log_acc, routed_acc, union_acc, tau_t, q_t, s_base, stride_term, stride_sc, c0, own,
                        mask_base, sub_ok, tok_valid_t, n_words, D: tl.constexpr, CB: tl.constexpr,
                        GP: tl.constexpr, G: tl.constexpr, BM: tl.constexpr, SUB: tl.constexpr,
                        SPLIT_BF16: tl.constexpr, MASKED: tl.constexpr, three):  # fmt: skip
    """``_lean_final_block`` on transposed scores (``[CB, R]``): in the tensor cores' layout a
    thread's columns differ in their high bits, which are the head of a head-major row, so the
    mean over a token's heads is in-thread adds (row-major it crossed warps through shared
    memory every block). The per-token sums over chunks cross warps, so they accumulate
    elementwise (``[CB, BM]`` and ``[CB, SUB]``) and are reduced once after the pass."""
    xt = _lean_scores_t(q_t, s_base, stride_term, stride_sc, c0, own, D, CB, SPLIT_BF16, MASKED, three)
    p = tl.maximum(xt - tau_t[None, :], 0.0)
    p_bar = tl.sum(tl.reshape(p * p, (CB, GP, BM)), axis=1) / G
    routed = (p_bar > 1e-20) & tok_valid_t[None, :]
    log_acc += tl.where(routed, tl.log(tl.where(routed, p_bar, 1.0)), 0.0)
    routed_acc += routed.to(tl.int32)
    BMA: tl.constexpr = BM // SUB
    any_routed = tl.max(tl.reshape(routed.to(tl.int32), (CB, SUB, BMA)), axis=2)
    WORDS: tl.constexpr = CB // 32
    words = tl.sum(tl.reshape(any_routed, (WORDS, 32, SUB)) << tl.arange(0, 32)[None, :, None], axis=1)
    w_ids = c0 // 32 + tl.arange(0, WORDS)
    tl.store(mask_base[None, :] + w_ids[:, None], words, mask=sub_ok[None, :] & (w_ids < n_words)[:, None])
    return log_acc, routed_acc, union_acc + any_routed


@triton.jit
def _lean_warm_block(m, cnt, s1, s2, tau_prev, q, s_base, stride_st, stride_sc, c0, own, D: tl.constexpr,
                     CB: tl.constexpr, SPLIT_BF16: tl.constexpr, MASKED: tl.constexpr):  # fmt: skip
    """One block of ``_lean_warm_pass``: the running max and support sums at ``tau_prev`` (the
    smallest |d| is dropped, and compiled away: the warm step only places the start)."""
    x = _lean_scores(q, s_base, stride_st, stride_sc, c0, own, D, CB, SPLIT_BF16, MASKED, False, True)
    b_cnt, b_s1, b_s2, _ = _lean_sums(x, tau_prev)
    return tl.maximum(m, tl.max(x, axis=1)), cnt + b_cnt, s1 + b_s1, s2 + b_s2


@triton.jit
def _lean_warm_pass(tau_prev, own, n_full, q, s_base, stride_st, stride_sc, D: tl.constexpr, CB: tl.constexpr,
                    R: tl.constexpr, SPLIT_BF16: tl.constexpr):  # fmt: skip
    """The first pass of a tile that follows one of the same heads: on one-product scores, the
    row max and the support sums at the previous tile's thresholds. Returns the max and the
    solver's start: that step, but never below max - 1 (the cold start; a step from above the
    root lands at or below it, one from below at or above it, and the solver converges from
    either side), or max - 1 where the support is empty (the previous threshold lies above
    every score, where a step would not move) or the previous threshold lies below max - 1."""
    m = tl.full([R], float("-inf"), tl.float32)
    cnt = tl.zeros([R], tl.float32)
    s1 = tl.zeros([R], tl.float32)
    s2 = tl.zeros([R], tl.float32)
    for c0 in range(0, n_full, CB):
        m, cnt, s1, s2 = _lean_warm_block(m, cnt, s1, s2, tau_prev, q, s_base, stride_st, stride_sc, c0, own, D,
                                          CB, SPLIT_BF16, False)  # fmt: skip
    if n_full < own:
        m, cnt, s1, s2 = _lean_warm_block(m, cnt, s1, s2, tau_prev, q, s_base, stride_st, stride_sc, n_full, own,
                                          D, CB, SPLIT_BF16, True)  # fmt: skip
    delta, _ = _lean_step(cnt, s1, s2, tl.full([R], float("inf"), tl.float32))
    # Only from a previous threshold above max - 1 (the root's lower bound): below it the cold
    # start is the better one, and far below it (scores of 1e4 and more) the sums over a wide
    # support cancel in fp32 and the steps wander past MAX_ITER.
    warm = (cnt > 0) & (tau_prev >= m - 1.0)
    return m, tl.where(warm, tl.maximum(tau_prev + delta, m - 1.0), m - 1.0)


@triton.jit
def _lean_merged_block(m, cnt, s1, s2, q, s_base, stride_st, stride_sc, c0, own, D: tl.constexpr, CB: tl.constexpr,
                       SPLIT_BF16: tl.constexpr, MASKED: tl.constexpr):  # fmt: skip
    """One block of ``_lean_merged_pass``: the running max, and the support sums at the running
    max - 1, moved to the new max - 1 as it rises (sums of d - shift from those of d: exact
    algebra on the count, sum and sum of squares)."""
    x = _lean_scores(q, s_base, stride_st, stride_sc, c0, own, D, CB, SPLIT_BF16, MASKED, False, True)
    m_new = tl.maximum(m, tl.max(x, axis=1))
    shift = tl.where(cnt > 0, m_new - m, 0.0)  # (no sums yet: m may still be -inf)
    s2 = s2 - 2.0 * shift * s1 + cnt * shift * shift
    s1 = s1 - cnt * shift
    b_cnt, b_s1, b_s2, _ = _lean_sums(x, m_new - 1.0)
    return m_new, cnt + b_cnt, s1 + b_s1, s2 + b_s2


@triton.jit
def _lean_merged_pass(own, n_full, q, s_base, stride_st, stride_sc, D: tl.constexpr, CB: tl.constexpr,
                      R: tl.constexpr, SPLIT_BF16: tl.constexpr):  # fmt: skip
    """The max pass and the first solver step in one pass over one-product scores
    (``ROUTE_MERGED_MAX``). The support the step sees is {x > max - 1} plus entries of blocks
    read before the max rose, between the max - 1 they saw and the final one. Returns the max
    and the solver's start: that step, clamped to the root's bounds, max - 1 (the max alone is
    in the support) and max - 1/sqrt(chunks) (its (x - tau)^2 sum to 1 over at most that many
    entries): a far superset's sums can cancel in fp32, and a start above every score would
    leave an empty support that does not move."""
    m = tl.full([R], float("-inf"), tl.float32)
    cnt = tl.zeros([R], tl.float32)
    s1 = tl.zeros([R], tl.float32)
    s2 = tl.zeros([R], tl.float32)
    for c0 in range(0, n_full, CB):
        m, cnt, s1, s2 = _lean_merged_block(m, cnt, s1, s2, q, s_base, stride_st, stride_sc, c0, own, D, CB,
                                            SPLIT_BF16, False)  # fmt: skip
    if n_full < own:
        m, cnt, s1, s2 = _lean_merged_block(m, cnt, s1, s2, q, s_base, stride_st, stride_sc, n_full, own, D, CB,
                                            SPLIT_BF16, True)  # fmt: skip
    delta, _ = _lean_step(cnt, s1, s2, tl.full([R], float("inf"), tl.float32))
    top = m - 1.0 / tl.sqrt(tl.maximum(own, 1).to(tl.float32))
    return m, tl.minimum(tl.maximum(m - 1.0 + delta, m - 1.0), top)


@triton.jit
def _lean_sample_start(own, valid, q, s_base, stride_st, stride_sc, max_iter, D: tl.constexpr, CB: tl.constexpr,
                       SPLIT_BF16: tl.constexpr):  # fmt: skip
    """The solver's start from a sample (``ROUTE_SAMPLE_START``): the scores against ``CB``
    chunks spread evenly over the row's ``own`` (all of them below ``CB``), kept in registers,
    and the root of sum (x - tau)^2 = CB / own over them, found by the lean steps on those
    registers: where the sample's support is a fair share of the row's, its threshold is near
    the row's. Returns the sample's max (it sets ``three``) and the start, clamped to the
    root's bounds [max - 1, max - 1/sqrt(own)] about the sample's max: never above a score of
    the sample, so never an empty support."""
    j = tl.arange(0, CB)
    n_sample = tl.minimum(own, CB)
    ids = tl.where(own >= CB, (j * own) // CB, j)
    cm = j < n_sample
    offs = ids[:, None].to(tl.int64) * stride_sc + tl.arange(0, D)[None, :]
    x = _lean_term_scores(q, s_base, stride_st, offs, cm, SPLIT_BF16, True, False, False, False)
    x = tl.where(cm[None, :], x, float("-inf"))
    m = tl.max(x, axis=1)
    m = tl.where(own > 0, m, 0.0)
    share = n_sample.to(tl.float32) / tl.maximum(own, 1).to(tl.float32)
    tau = m - 1.0
    done = (~valid) | (own == 0)
    it = 0
    while (it < max_iter) & (tl.min(done.to(tl.int32), axis=0) == 0):
        cnt, s1, s2, nearest = _lean_sums(x, tau)
        delta, converged = _lean_step_to(cnt, s1, s2, nearest, share)
        tau = tl.where(done, tau, tau + delta)
        done = done | converged
        it += 1
    top = m - 1.0 / tl.sqrt(tl.maximum(own, 1).to(tl.float32))
    return m, tl.minimum(tl.maximum(tau, m - 1.0), top)


@triton.jit
def _lean_start(warm, tau_prev, own, n_full, q, s_base, stride_st, stride_sc, D: tl.constexpr, CB: tl.constexpr,
                R: tl.constexpr, SPLIT_BF16: tl.constexpr, ROUGH_SOLVE: tl.constexpr,
                MERGED_MAX: tl.constexpr):  # fmt: skip
    """The row max and the solver's start without a sample: the warm pass from ``tau_prev``
    (``warm``), the merged max pass (``MERGED_MAX`` with the rough solve), else the max pass."""
    if warm:
        m, tau = _lean_warm_pass(tau_prev, own, n_full, q, s_base, stride_st, stride_sc, D, CB, R, SPLIT_BF16)
    elif MERGED_MAX and ROUGH_SOLVE:  # (the start is on one-product scores: see ROUTE_MERGED_MAX)
        m, tau = _lean_merged_pass(own, n_full, q, s_base, stride_st, stride_sc, D, CB, R, SPLIT_BF16)
    else:
        # The solver converges from any start; the max only places it at the root's lower bound
        # (max - 1), so rough scores (within ~2^-9 |x| of the exact ones) do.
        m = _lean_max_pass(q, s_base, stride_st, stride_sc, own, n_full, D, CB, R, SPLIT_BF16)
        tau = m - 1.0
    return m, tau


@triton.jit
def _route_lean_tile(
    t, tau_prev, warm, Q, S, TAU, LOGG, COUNT, MASK, TILE_COUNT,
    stride_qb, stride_qh, stride_qn,
    stride_st, stride_sb, stride_sh, stride_sc,
    N, q_offset, n_tiles, n_words, max_iter,
    HKV: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, BM: tl.constexpr, C: tl.constexpr,
    D: tl.constexpr, CB: tl.constexpr, SPLIT_BF16: tl.constexpr, SUB: tl.constexpr,
    ROUGH_SOLVE: tl.constexpr, FINAL_TRANSPOSED: tl.constexpr, MERGED_MAX: tl.constexpr = False,
    SAMPLE_START: tl.constexpr = False, SAMPLE_CHUNKS: tl.constexpr = 64,
):  # fmt: skip
    """Router tile ``t``: thresholds, counts, log_g and tile unions. ``SAMPLE_START``: start the
    solver from a sample of ``SAMPLE_CHUNKS`` chunks (``_lean_sample_start``; ``warm`` is then
    ignored).
    Otherwise (``_lean_start``) ``warm``: start the solver from ``tau_prev``, the previous
    tile's thresholds (the same heads, BM tokens earlier), whose first pass also takes the max
    (``_lean_warm_pass``); else ``MERGED_MAX``: the max pass and the first step in one pass
    (``_lean_merged_pass``). Returns the tile's thresholds and the
    solver steps after the first pass."""
    R: tl.constexpr = GP * BM
    b, h, g, pos, valid, own, q = _router_tile(t, Q, stride_qb, stride_qh, stride_qn, N, q_offset, HKV, G, GP,
                                               BM, C, D, SPLIT_BF16)  # fmt: skip
    n_full = own // CB * CB
    s_base = S + b * stride_sb + h * stride_sh

    if SAMPLE_START:
        m, tau = _lean_sample_start(own, valid, q, s_base, stride_st, stride_sc, max_iter, D, SAMPLE_CHUNKS,
                                    SPLIT_BF16)  # fmt: skip
    else:
        m, tau = _lean_start(warm, tau_prev, own, n_full, q, s_base, stride_st, stride_sc, D, CB, R, SPLIT_BF16,
                             ROUGH_SOLVE, MERGED_MAX)  # fmt: skip
    # Scores past 256: 16 bits of S could move them by ~1% of the entmax window (see _scores).
    three = tl.max(tl.where(valid & (own > 0), tl.abs(m), 0.0), axis=0) > 256.0

    steps = 0
    if ROUGH_SOLVE:
        # The solver's steps on one-product scores first (half the products a step); their
        # root is within rounding of the exact one, so the exact steps below start at it and
        # take one step (two where an entry lies within that rounding of the threshold).
        tau, steps = _lean_solve(tau, valid, own, n_full, q, s_base, stride_st, stride_sc, max_iter, D, CB, R,
                                 SPLIT_BF16, three, True)  # fmt: skip
    tau, exact_steps = _lean_solve(tau, valid, own, n_full, q, s_base, stride_st, stride_sc, max_iter, D, CB, R,
                                   SPLIT_BF16, three, False)  # fmt: skip
    steps += exact_steps
    tau = tl.where(valid & (own > 0), tau, float("inf"))
    tl.store(TAU + b * (HKV * G * N) + (h * G + g).to(tl.int64) * N + pos, tau, mask=valid)

    tok_pos = t.to(tl.int64) * BM + tl.arange(0, BM)
    tok_valid = tok_pos < N
    sub_tile = t * SUB + tl.arange(0, SUB)
    sub_ok = sub_tile < n_tiles
    mask_base = MASK + ((b * HKV + h) * n_tiles + sub_tile) * n_words
    if FINAL_TRANSPOSED:
        q_t = tl.trans(q)
        log_acc = tl.zeros([CB, BM], tl.float32)
        routed_acc = tl.zeros([CB, BM], tl.int32)
        union_acc = tl.zeros([CB, SUB], tl.int32)
        for c0 in range(0, n_full, CB):
            log_acc, routed_acc, union_acc = _lean_final_block_t(
                log_acc, routed_acc, union_acc, tau, q_t, s_base, stride_st, stride_sc, c0, own, mask_base, sub_ok,
                tok_valid, n_words, D, CB, GP, G, BM, SUB, SPLIT_BF16, False, three)  # fmt: skip
        if n_full < own:
            log_acc, routed_acc, union_acc = _lean_final_block_t(
                log_acc, routed_acc, union_acc, tau, q_t, s_base, stride_st, stride_sc, n_full, own, mask_base,
                sub_ok, tok_valid, n_words, D, CB, GP, G, BM, SUB, SPLIT_BF16, True, three)  # fmt: skip
        log_sum = tl.sum(log_acc, axis=0)
        n_routed = tl.sum(routed_acc, axis=0)
        n_union = tl.sum(union_acc, axis=0)
    else:
        log_sum = tl.zeros([BM], tl.float32)
        n_routed = tl.zeros([BM], tl.int32)
        n_union = tl.zeros([SUB], tl.int32)
        for c0 in range(0, n_full, CB):
            log_sum, n_routed, n_union = _lean_final_block(
                log_sum, n_routed, n_union, tau, q, s_base, stride_st, stride_sc, c0, own, mask_base, sub_ok,
                tok_valid, n_words, D, CB, GP, G, BM, SUB, SPLIT_BF16, False, three)  # fmt: skip
        if n_full < own:
            log_sum, n_routed, n_union = _lean_final_block(
                log_sum, n_routed, n_union, tau, q, s_base, stride_st, stride_sc, n_full, own, mask_base,
                sub_ok, tok_valid, n_words, D, CB, GP, G, BM, SUB, SPLIT_BF16, True, three)  # fmt: skip
    tl.store(TILE_COUNT + (b * HKV + h) * n_tiles + sub_tile, n_union, mask=sub_ok)
    tok_out = (b * HKV + h) * N + tok_pos
    tl.store(LOGG + tok_out, log_sum / tl.maximum(n_routed, 1).to(tl.float32), mask=tok_valid)
    tl.store(COUNT + tok_out, n_routed + 1, mask=tok_valid)
    return tau, steps


@triton.jit
def _route_lean_kernel(
    Q, S, TAU, LOGG, COUNT, MASK, TILE_COUNT,
    stride_qb, stride_qh, stride_qn,
    stride_st, stride_sb, stride_sh, stride_sc,
    N, q_offset, n_tiles, n_words, max_iter, n_router_tiles,
    HKV: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, BM: tl.constexpr, C: tl.constexpr,
    D: tl.constexpr, CB: tl.constexpr, SPLIT_BF16: tl.constexpr, SUB: tl.constexpr,
    ROUGH_SOLVE: tl.constexpr = False, TILES: tl.constexpr = 1, FINAL_TRANSPOSED: tl.constexpr = False,
    MERGED_MAX: tl.constexpr = False, ADAPTIVE_WARM: tl.constexpr = False, LONGEST_FIRST: tl.constexpr = False,
    SAMPLE_START: tl.constexpr = False, SAMPLE_CHUNKS: tl.constexpr = 64,
):  # fmt: skip
    """``_route_kernel`` with fewer operations per score: the host pre-scales and pre-splits the
    summaries (no conversions in the loop), the threshold is kept absolute (no ``x - max``), the
    max pass (only the solver's start) takes one product, only the last block of a pass is
    masked, and a solver step checks its support with one statistic, the smallest
    ``|x - tau|``, instead of the lowest entry in and the highest out; ``FINAL_TRANSPOSED``: the
    final pass on transposed scores (``_lean_final_block_t``). A program routes
    ``TILES`` consecutive tiles, each after the first starting from its predecessor's
    thresholds (``ROUTE_WARM_TILES``); ``ADAPTIVE_WARM``: once a warm tile takes as many solver
    steps as the program's last cold one, the program's remaining tiles start cold
    (``ROUTE_ADAPTIVE_WARM``); ``LONGEST_FIRST``: programs take the tiles from the last
    (``ROUTE_LONGEST_FIRST``); ``SAMPLE_START``: every tile starts from a sample of its chunks
    (``ROUTE_SAMPLE_START``), none warm."""
    pid = tl.program_id(0)
    if LONGEST_FIRST:
        pid = tl.num_programs(0) - 1 - pid
    if TILES == 1:
        _route_lean_tile(pid, 0.0, False, Q, S, TAU, LOGG, COUNT, MASK, TILE_COUNT, stride_qb,
                         stride_qh, stride_qn, stride_st, stride_sb, stride_sh, stride_sc, N, q_offset, n_tiles,
                         n_words, max_iter, HKV, G, GP, BM, C, D, CB, SPLIT_BF16, SUB, ROUGH_SOLVE,
                         FINAL_TRANSPOSED, MERGED_MAX, SAMPLE_START, SAMPLE_CHUNKS)  # fmt: skip
    else:
        tau = tl.zeros([GP * BM], tl.float32)  # (the first tile starts cold and ignores it)
        t0 = pid * TILES
        use_warm = tl.full([], 1, tl.int32)
        cold_steps = tl.full([], 0, tl.int32)
        for i in range(0, tl.minimum(TILES, n_router_tiles - t0)):
            warm = (i > 0) & (use_warm == 1)
            tau, steps = _route_lean_tile(t0 + i, tau, warm, Q, S, TAU, LOGG, COUNT, MASK, TILE_COUNT, stride_qb,
                                          stride_qh, stride_qn, stride_st, stride_sb, stride_sh, stride_sc, N,
                                          q_offset, n_tiles, n_words, max_iter, HKV, G, GP, BM, C, D, CB, SPLIT_BF16,
                                          SUB, ROUGH_SOLVE, FINAL_TRANSPOSED, MERGED_MAX, SAMPLE_START,
                                          SAMPLE_CHUNKS)  # fmt: skip
            if ADAPTIVE_WARM:
                use_warm = tl.where(warm & (steps >= cold_steps), 0, use_warm)
                cold_steps = tl.where(warm, cold_steps, steps)


def summary_terms(summaries: torch.Tensor, xscale: float) -> torch.Tensor:
    """``summaries * xscale`` split into three bf16 terms that add up to the fp32 value (hi, lo,
    lo2): ``[B, Hkv, n_chunks, 3, D]``, contiguous; the lean router's operand for bf16 queries."""
    s = summaries * xscale
    hi = s.to(torch.bfloat16)
    rest = s - hi.float()
    lo = rest.to(torch.bfloat16)
    return torch.stack([hi, lo, (rest - lo.float()).to(torch.bfloat16)], dim=3)


def router_operand(summaries: torch.Tensor, scaling: float, dtype: torch.dtype) -> torch.Tensor:
    """The summaries as the lean router and the stored-bias kernel read them, for queries of
    ``dtype``: scaled by ``0.5 * scaling / sqrt(D)``, split into bf16 terms for bf16 queries
    (``summary_terms``), else ``[B, Hkv, n_chunks, 1, D]``. ``dash_attention`` forms it once
    and passes it to both: its five elementwise launches then precede the lists' size fetch,
    where the GPU would otherwise idle while the host launches them."""
    xscale = 0.5 * scaling / math.sqrt(summaries.shape[-1])
    if dtype == torch.bfloat16:
        return summary_terms(summaries, xscale)
    return (summaries * xscale).unsqueeze(3)


def padded_group(group: int) -> int:
    return triton.next_power_of_2(group)


def tile_rows(group: int, chunk_size: int, rows: int = 64) -> int:
    """Query tokens per tile: a power of two dividing the chunk size, so that the tile has
    ``GP * BM = rows`` rows (at least 16, the smallest tensor-core tile)."""
    gp = padded_group(group)
    return min(chunk_size, max(max(rows, 16) // gp, 1))


def route(q: torch.Tensor, summaries: torch.Tensor, chunk_size: int, scaling: float, bm: int,
          num_warps: int = 4, route_bm: int | None = None, q_offset: int = 0, cb: int | None = None,
          num_stages: int | None = None, lean: bool | None = None, rough_solve: bool | None = None,
          warm_tiles: int | None = None, max_iter: int = MAX_ITER, final_transposed: bool | None = None,
          merged_max: bool | None = None, operand: torch.Tensor | None = None,
          adaptive_warm: bool | None = None, longest_first: bool | None = None,
          sample_start: bool | None = None, sample_chunks: int | None = None):
    """Run stage 2; see the module docstring for the outputs. ``max_iter`` caps each solver's
    passes (lower only to time a pass: ``scripts/router_pass_cost.py``). Masks and counts are per tile of
    ``bm`` tokens (the attention's tiles); the router itself may take ``route_bm`` tokens (a
    multiple of ``bm``, at most the chunk size) per program. ``num_stages`` defaults to what ran
    best on the H100: 2 for the lean router (128k: 42.5 vs 42.9 ms at 3 stages, 54.7 at 4), 3 for
    the first. ``merged_max`` (lean router with ``rough_solve`` only; default
    ``ROUTE_MERGED_MAX``): the max pass merged into the first rough step. ``adaptive_warm``
    (default ``ROUTE_ADAPTIVE_WARM``): a program's warm tiles stop warm-starting once one saves
    no step; ``longest_first`` (default ``ROUTE_LONGEST_FIRST``): the last tiles first;
    ``sample_start`` (default ``ROUTE_SAMPLE_START``): each tile's solver starts from a sample
    of ``sample_chunks`` chunks (default ``ROUTE_SAMPLE_CHUNKS``, a power of two).
    ``operand``: the lean router's ``router_operand(summaries, scaling, q.dtype)`` where the
    caller has formed it."""
    B, Hq, N, D = q.shape
    Hkv, n_chunks = summaries.shape[1], summaries.shape[2]
    G = Hq // Hkv
    route_bm = route_bm or bm
    if route_bm % bm or route_bm > chunk_size:
        raise ValueError(f"route_bm {route_bm} must be a multiple of bm {bm} within a chunk")
    if N > 1 and q_offset % route_bm:
        raise ValueError(f"q_offset {q_offset} must be a multiple of {route_bm} (tiles stay in a chunk)")
    n_tiles = math.ceil(N / bm)
    n_words = max(1, math.ceil(n_chunks / CB))
    dev = q.device
    tau = torch.empty(B, Hq, N, device=dev, dtype=torch.float32)
    log_g = torch.empty(B, Hkv, N, device=dev, dtype=torch.float32)
    count = torch.empty(B, Hkv, N, device=dev, dtype=torch.int32)
    mask = torch.zeros(B, Hkv, n_tiles, n_words, device=dev, dtype=torch.int32)
    tile_count = torch.empty(B, Hkv, n_tiles, device=dev, dtype=torch.int32)
    xscale = 0.5 * scaling / math.sqrt(D)
    n_programs = math.ceil(N / route_bm)
    split = q.dtype == torch.bfloat16
    lean = ROUTE_LEAN if lean is None else lean
    num_stages = num_stages or (2 if lean else 3)
    cb = cb or (LEAN_CB_BF16 if lean and q.dtype == torch.bfloat16 else CB)
    if cb % 32 or cb & (cb - 1):
        raise ValueError(f"cb {cb} must be a power of two and a multiple of 32 (mask words)")
    sample_chunks = sample_chunks or ROUTE_SAMPLE_CHUNKS
    if sample_chunks < 16 or sample_chunks & (sample_chunks - 1):
        raise ValueError(f"sample_chunks {sample_chunks} must be a power of two, at least 16")
    sample_start = ROUTE_SAMPLE_START if sample_start is None else sample_start
    if sample_start == "auto":
        sample_start = n_chunks >= SAMPLE_START_MIN_CHUNKS
    rough_solve = ROUTE_ROUGH_SOLVE if rough_solve is None else rough_solve
    if rough_solve == "auto":
        rough_solve = n_chunks >= ROUGH_SOLVE_MIN_CHUNKS and not sample_start
    if lean:
        s = router_operand(summaries, scaling, q.dtype) if operand is None else operand
        warm_tiles = max(1, ROUTE_WARM_TILES if warm_tiles is None else warm_tiles)
        final_transposed = ROUTE_FINAL_TRANSPOSED if final_transposed is None else final_transposed
        if final_transposed == "auto":
            final_transposed = route_bm <= FINAL_TRANSPOSED_MAX_TOKENS
        _route_lean_kernel[(math.ceil(n_programs / warm_tiles), B * Hkv)](
            q, s, tau, log_g, count, mask, tile_count,
            q.stride(0), q.stride(1), q.stride(2),
            s.stride(3), s.stride(0), s.stride(1), s.stride(2),
            N, q_offset, n_tiles, n_words, max_iter, n_programs,
            HKV=Hkv, G=G, GP=padded_group(G), BM=route_bm, C=chunk_size, D=D, CB=cb,
            SPLIT_BF16=split, SUB=route_bm // bm,
            ROUGH_SOLVE=rough_solve, TILES=warm_tiles,
            FINAL_TRANSPOSED=final_transposed, MERGED_MAX=ROUTE_MERGED_MAX if merged_max is None else merged_max,
            ADAPTIVE_WARM=ROUTE_ADAPTIVE_WARM if adaptive_warm is None else adaptive_warm,
            LONGEST_FIRST=ROUTE_LONGEST_FIRST if longest_first is None else longest_first,
            SAMPLE_START=sample_start, SAMPLE_CHUNKS=sample_chunks,
            num_warps=num_warps, num_stages=num_stages,
        )  # fmt: skip
        return tau, log_g, count, mask, tile_count
    _route_kernel[(n_programs, B * Hkv)](
        q, summaries, tau, log_g, count, mask, tile_count,
        q.stride(0), q.stride(1), q.stride(2),
        summaries.stride(0), summaries.stride(1), summaries.stride(2),
        N, q_offset, n_tiles, n_words, xscale, max_iter,
        HKV=Hkv, G=G, GP=padded_group(G), BM=route_bm, C=chunk_size, D=D, CB=cb,
        SPLIT_BF16=split, SUB=route_bm // bm, num_warps=num_warps, num_stages=num_stages,
    )  # fmt: skip
    return tau, log_g, count, mask, tile_count


@triton.jit
def _expand_kernel(MASK, OFFSETS, LIST, n_words, WB: tl.constexpr):
    """``_expand_tile`` a program."""
    tile = tl.program_id(0).to(tl.int64)
    _expand_tile(MASK, LIST, tile, tl.load(OFFSETS + tile), n_words, WB)


@triton.jit
def _expand_tile(MASK, LIST, tile, base, n_words, WB: tl.constexpr):
    """Write the chunk ids of one tile's union bitmask, ascending, at ``base`` in LIST: ``WB``
    words (32 chunks each) a step, their set bits' slots one prefix sum (a word a step was a
    chain of dependent loads and sums: 0.77 ms at 128k)."""
    rows = tl.arange(0, WB)[:, None]
    lanes = tl.arange(0, 32)[None, :]
    k = 0
    for w0 in range(0, n_words, WB):
        words = tl.load(MASK + tile * n_words + w0 + rows, mask=w0 + rows < n_words, other=0)
        bits = tl.reshape((words >> lanes) & 1, [WB * 32])
        slot = tl.cumsum(bits, axis=0) - bits
        ids = tl.reshape((w0 + rows) * 32 + lanes, [WB * 32])
        tl.store(LIST + base + k + slot, ids, mask=bits == 1)
        k += tl.sum(bits, axis=0)


EXPAND_WORDS = 16  # mask words a step of _expand_kernel


def list_offsets(tile_count: torch.Tensor) -> torch.Tensor:
    """Where each tile's list starts in ``chunk_lists``' ids: ``[B, Hkv, n_tiles]`` int64."""
    counts = tile_count.flatten().long()
    return (torch.cumsum(counts, 0) - counts).view(tile_count.shape)


def chunk_lists(mask: torch.Tensor, tile_count: torch.Tensor, n_pairs: int | None = None,
                offsets: torch.Tensor | None = None, expand: bool = True):  # fmt: skip
    """CSR form of the per-tile unions: ``(offsets [B, Hkv, n_tiles] int64, ids int32)``; tile
    ``i`` attends ``ids[offsets[i] : offsets[i] + tile_count[i]]``. Its size is the number of
    (tile, chunk) pairs computed, not the ``n_tiles x n_chunks`` worst case. ``n_pairs``:
    ``tile_count``'s sum where the caller has fetched it (else fetched here: a synchronization),
    or a bound on it (``interface.causal_pair_capacity``: the lists then fill a prefix of ``ids``);
    ``offsets``: ``list_offsets(tile_count)`` where the caller has launched it before that fetch;
    ``expand=False``: ``ids`` allocated, not written (``prior.listed_bias(mask=...)`` writes it)."""
    offsets = list_offsets(tile_count) if offsets is None else offsets
    n_pairs = int(tile_count.sum(dtype=torch.int64)) if n_pairs is None else n_pairs
    ids = torch.empty(max(1, n_pairs), device=mask.device, dtype=torch.int32)
    if expand:
        _expand_kernel[(offsets.numel(),)](mask, offsets, ids, mask.shape[-1], WB=EXPAND_WORDS)
    return offsets, ids
