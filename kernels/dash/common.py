"""Triton helpers shared by the attention forward and backward: the per-row routing quantities
of one chunk, recomputed from the stored threshold, and the log-prior bias built from them."""

import triton
import triton.language as tl


@triton.jit
def _routing(qf, summary, tau, valid, xscale, G: tl.constexpr, GP: tl.constexpr,
             BM: tl.constexpr, R: tl.constexpr):  # fmt: skip
    """Per row: sqrt of the entmax probability of this chunk, and the token's GQA mean p_bar
    (rows are GP heads x BM tokens, head-major)."""
    x = tl.sum(qf * summary[None, :], axis=1) * xscale
    sr = tl.where(valid, tl.maximum(x - tau, 0.0), 0.0)
    p_bar = tl.sum(tl.reshape(sr * sr, (GP, BM)), axis=0) / G
    return sr, tl.reshape(tl.broadcast_to(p_bar[None, :], (GP, BM)), (R,))


@triton.jit
def _bias(p_bar, log_g, inv_sigma, ESTIMATE_DIAGONAL: tl.constexpr):
    """The log-prior bias (natural log) and whether the chunk is routed (p_bar > 1e-20)."""
    routed = p_bar > 1e-20
    log_p = tl.log(tl.where(routed, p_bar, 1.0))
    if ESTIMATE_DIAGONAL:
        bias = (log_p - log_g) * inv_sigma
    else:
        bias = log_p
    return tl.where(routed, bias, float("-inf")), routed


@triton.jit
def _token_sum(r, GP: tl.constexpr, BM: tl.constexpr, R: tl.constexpr):
    """Sum a per-row value over the G heads of each token, broadcast back to the rows."""
    t = tl.sum(tl.reshape(r, (GP, BM)), axis=0)
    return tl.reshape(tl.broadcast_to(t[None, :], (GP, BM)), (R,))
