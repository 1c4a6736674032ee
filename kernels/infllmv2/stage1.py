"""InfLLMv2 stages 1-3 in Triton: block scores of a range of query tokens, without storing the
``N x N/stride`` compressed-score matrix.

One program per (tile of ``BM`` tokens x the ``G`` query heads of one KV head, batch x KV head),
the rows laid out as in the DashAttention kernels. Pass 1 takes each row's log-sum-exp over the
compressed keys it sees (windows ending at or before the token). Pass 2 walks the blocks ``JB``
at a time: the ``r * JB`` compressed keys starting at the first block's (``r = block /
stride``) give probabilities summed over the G heads, max-pooled ``r`` at a time, and one more
product gives the compressed key ``r * j - 1`` that overlaps block ``j`` from the left
(windows of ``2 * stride``: compressed keys ``r*j - 1 ... r*j + r - 1`` overlap block ``j``).
Forced blocks score ``+inf`` and later ones ``-inf``, as in the reference.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from dashbench.kernels.dash.route import padded_group, tile_rows

JB = 16  # blocks per step of pass 2
# Rows (G heads x tokens) per program, 4 warps, 2 stages. H100, 128k, the last 16k rows
# (results/reference/h100-infllmv2/): at 32/2 heads 16.5 ms at 128 rows, 17.6 at 256, 26.1 at 64
# (35.6 at 64 rows / 3 stages, the first default); at 32/8 heads 12.4 ms at 256 rows, 20.7 at 128.
def default_rows(group: int) -> int:
    return 256 if group <= 4 else 128


@triton.jit
def _compressed_scores(q, ck_base, lo_base, ids, ok, stride_cm, sm_scale, D: tl.constexpr, SPLIT: tl.constexpr):
    """Scores of the rows of ``q`` against the compressed keys ``ids``, close to fp32: the
    selection is discrete, so a rounding error near the k-th score swaps blocks. Half-precision
    queries are exact in their dtype, so the fp32 keys come split into a high and a low term of
    that dtype (two products, ~16 significant bits); fp32 queries use tf32x3."""
    dims = tl.arange(0, D)
    offs = ids[:, None].to(tl.int64) * stride_cm + dims[None, :]
    ck = tl.load(ck_base + offs, mask=ok[:, None], other=0.0)
    if SPLIT:
        lo = tl.load(lo_base + offs, mask=ok[:, None], other=0.0)
        s = tl.dot(q, tl.trans(ck)) + tl.dot(q, tl.trans(lo))
    else:
        s = tl.dot(q, tl.trans(ck), input_precision="tf32x3")
    return s * sm_scale


@triton.jit
def _block_scores_kernel(
    Q, CK, CK_LO, OUT,
    stride_qb, stride_qh, stride_qn,
    stride_cb, stride_ch, stride_cm,
    stride_ob, stride_oh, stride_on,
    n_rows, q_start, n_compressed, n_blocks, sm_scale,
    HKV: tl.constexpr, G: tl.constexpr, GP: tl.constexpr, BM: tl.constexpr, D: tl.constexpr,
    BLOCK: tl.constexpr, KSTRIDE: tl.constexpr, KSIZE: tl.constexpr, RATIO: tl.constexpr,
    JB: tl.constexpr, INIT: tl.constexpr, LOCAL: tl.constexpr, SPLIT: tl.constexpr, SUM: tl.constexpr,
):  # fmt: skip
    R: tl.constexpr = GP * BM
    CM: tl.constexpr = JB * RATIO
    t = tl.program_id(0)
    bh = tl.program_id(1)
    b = (bh // HKV).to(tl.int64)
    h = (bh % HKV).to(tl.int64)
    rows = tl.arange(0, R)
    g = rows // BM
    qi = t.to(tl.int64) * BM + rows % BM  # row of this range
    pos = q_start + qi  # its key position
    valid = (qi < n_rows) & (g < G)
    dims = tl.arange(0, D)
    q = tl.load(Q + b * stride_qb + (h * G + g)[:, None].to(tl.int64) * stride_qh + qi[:, None] * stride_qn
                + dims[None, :], mask=valid[:, None], other=0.0)  # fmt: skip
    ck_base = CK + b * stride_cb + h * stride_ch
    lo_base = CK_LO + b * stride_cb + h * stride_ch
    # compressed keys seen by a row: windows [s*m, s*m + l) with s*m + l - 1 <= pos
    seen = tl.where(pos >= KSIZE - 1, (pos - (KSIZE - 1)) // KSTRIDE + 1, 0)
    seen = tl.minimum(seen, n_compressed)
    last = tl.max(tl.where(valid, seen, 0), axis=0)

    # Pass 1: log-sum-exp (base 2) per row.
    m_i = tl.full([R], float("-inf"), tl.float32)
    l_i = tl.zeros([R], tl.float32)
    lanes = tl.arange(0, CM)
    for m0 in range(0, last, CM):
        ids = m0 + lanes
        s = _compressed_scores(q, ck_base, lo_base, ids, ids < n_compressed, stride_cm, sm_scale, D, SPLIT)
        s = tl.where(ids[None, :] < seen[:, None], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        l_i = l_i * tl.exp2(m_i - m_safe) + tl.sum(tl.exp2(s - m_safe[:, None]), axis=1)
        m_i = m_new
    lse = tl.where(l_i > 0, m_i + tl.log2(l_i), float("inf"))  # no window seen: all p = 0

    # Pass 2: group-summed probabilities, max-pooled onto blocks.
    tok = tl.arange(0, BM)
    tok_pos = q_start + t.to(tl.int64) * BM + tok
    tok_ok = t * BM + tok < n_rows
    own = tok_pos // BLOCK
    own_last = tl.max(tl.where(tok_ok, own, 0), axis=0)
    jl = tl.arange(0, JB)
    out_base = OUT + b * stride_ob + h * stride_oh + (t.to(tl.int64) * BM + tok)[:, None] * stride_on
    for j0 in range(0, own_last + 1, JB):
        ids = j0 * RATIO + lanes
        s = _compressed_scores(q, ck_base, lo_base, ids, ids < n_compressed, stride_cm, sm_scale, D, SPLIT)
        p = tl.where((ids[None, :] < seen[:, None]) & valid[:, None], tl.exp2(s - lse[:, None]), 0.0)
        p = tl.sum(tl.reshape(p, (GP, BM, CM)), axis=0)  # summed over the group's heads
        p3 = tl.reshape(p, (BM, JB, RATIO))
        if SUM:  # NSA: windows weighted by their overlap in strides (2, ..., 2, 1; left one: 1)
            lane = tl.arange(0, RATIO)
            score = 2.0 * tl.sum(p3, axis=2) - tl.sum(tl.where(lane[None, None, :] == RATIO - 1, p3, 0.0), axis=2)
        else:  # InfLLMv2: the max over the overlapping windows
            score = tl.max(p3, axis=2)
        # the window that starts half a window before the block and overlaps it
        left = (j0 + jl) * RATIO - 1
        left_ok = (left >= 0) & (left < n_compressed)
        s = _compressed_scores(q, ck_base, lo_base, left, left_ok, stride_cm, sm_scale, D, SPLIT)
        p = tl.where((left[None, :] < seen[:, None]) & left_ok[None, :] & valid[:, None],
                     tl.exp2(s - lse[:, None]), 0.0)  # fmt: skip
        left_p = tl.sum(tl.reshape(p, (GP, BM, JB)), axis=0)
        if SUM:
            score = score + left_p
        else:
            score = tl.maximum(score, left_p)
        j = j0 + jl
        forced = (j[None, :] < INIT) | ((j[None, :] >= own[:, None] - LOCAL) & (j[None, :] <= own[:, None]))
        score = tl.where(forced, float("inf"), score)
        score = tl.where(j[None, :] > own[:, None], float("-inf"), score)
        tl.store(out_base + j[None, :], score, mask=tok_ok[:, None] & (j < n_blocks)[None, :])
    # blocks past the tile's last own block: later than every token here
    for j0 in range((own_last // JB + 1) * JB, n_blocks, JB):
        j = j0 + jl
        tl.store(out_base + j[None, :], tl.full([BM, JB], float("-inf"), tl.float32),
                 mask=tok_ok[:, None] & (j < n_blocks)[None, :])  # fmt: skip


def kernel_supports(config) -> str | None:
    """Why the Triton stage 1 cannot run this configuration, or ``None``."""
    ratio = config.block_size // config.kernel_stride
    if config.kernel_size != 2 * config.kernel_stride:
        return f"kernel_size {config.kernel_size} must be 2 x kernel_stride ({2 * config.kernel_stride})"
    if config.block_size % config.kernel_stride or ratio < 2 or ratio & (ratio - 1):
        return (f"block_size {config.block_size} must be a power-of-two multiple (>= 2) of "
                f"kernel_stride {config.kernel_stride}")  # fmt: skip
    return None


def tokens_per_program(G: int, block_size: int, dtype: torch.dtype, rows: int | None = None) -> int:
    """Query tokens one program scores (its tile holds their ``G`` heads' rows)."""
    rows = rows or default_rows(G)
    if dtype == torch.float32:
        rows = min(rows, 64)  # fp32 tiles at 128 rows and D = 128 overflow the shared memory (sm_90)
    return max(tile_rows(G, block_size, rows), 1)


def split_keys(ck: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The compressed keys as the kernel reads them: for half-precision queries a high and a low
    term in that dtype (``hi + lo`` is ``ck`` to ~16 bits), for fp32 queries ``(ck, ck)``.
    Callers that score several ranges of rows split once and pass the pair."""
    ck = ck.float().contiguous()
    if dtype == torch.float32:
        return ck, ck
    hi = ck.to(dtype)
    return hi, (ck - hi.float()).to(dtype)


def block_scores(q: torch.Tensor, ck, q_start: int, n_keys: int, config, *, rows: int | None = None,
                 jb: int = JB, num_warps: int = 4, num_stages: int = 2, score: str = "max") -> torch.Tensor:  # fmt: skip
    """``[B, Hkv, Nq, n_blocks]`` fp32 block scores of the query rows ``q`` (``[B, Hq, Nq, D]``,
    at key positions ``q_start ...``) against compressed keys ``ck`` (``[B, Hkv, M, D]`` fp32, or
    :func:`split_keys`'s pair),
    forced blocks ``+inf``, later ones ``-inf``. ``score="sum"``: NSA's overlap-weighted sum over
    the windows (weights 1, 2, ..., 2, 1) instead of InfLLMv2's max."""
    B, Hq, Nq, D = q.shape
    ck, lo = ck if isinstance(ck, tuple) else split_keys(ck, q.dtype)
    Hkv, M = ck.shape[1], ck.shape[2]
    G = Hq // Hkv
    n_blocks = -(-n_keys // config.block_size)
    gp = padded_group(G)
    bm = tokens_per_program(G, config.block_size, q.dtype, rows)
    out = torch.empty(B, Hkv, Nq, n_blocks, device=q.device, dtype=torch.float32)
    split = q.dtype != torch.float32
    if M == 0:  # a valid pointer for the kernel, which reads no key
        ck = lo = q.new_zeros(B, Hkv, 1, D)
    grid = (triton.cdiv(Nq, bm), B * Hkv)
    _block_scores_kernel[grid](
        q, ck, lo, out,
        q.stride(0), q.stride(1), q.stride(2),
        ck.stride(0), ck.stride(1), ck.stride(2),
        out.stride(0), out.stride(1), out.stride(2),
        Nq, q_start, M, n_blocks, 1.4426950408889634 / math.sqrt(D),
        HKV=Hkv, G=G, GP=gp, BM=bm, D=D, BLOCK=config.block_size, KSTRIDE=config.kernel_stride,
        KSIZE=config.kernel_size, RATIO=config.block_size // config.kernel_stride, JB=jb,
        INIT=config.init_blocks, LOCAL=config.local_blocks, SPLIT=split, SUM=score == "sum",
        num_warps=num_warps, num_stages=num_stages,
    )  # fmt: skip
    return out
