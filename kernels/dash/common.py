"""Triton helpers shared by the attention forward and backward: the per-row routing quantities
of one chunk, recomputed from the stored threshold, and the log-prior bias built from them."""

import triton
import triton.language as tl


def io_bytes(q, k) -> int:
    """The bytes of q, k, v and out (v as k, out as q): what the memory allowances are shares of."""
    return (2 * q.numel() + 2 * k.numel()) * q.element_size()


@triton.jit
def _fp32_rows(q, D: tl.constexpr, MMA_LAYOUT: tl.constexpr):
    """q in fp32 for the per-row routing dot. ``MMA_LAYOUT``: as the product of q with the
    identity (exact: one nonzero term per output), which leaves it in the tensor cores'
    accumulator layout, where a thread holds whole stretches of two rows: the dot's row sum is
    then in-thread adds and two shuffles, and lands in the scores' row layout. A plain
    conversion keeps q's load layout, which spreads each row over all four warps (a row sum of
    five shuffle rounds and a trip through shared memory per chunk)."""
    if MMA_LAYOUT:
        dims = tl.arange(0, D)
        eye = (dims[:, None] == dims[None, :]).to(q.dtype)
        if q.dtype == tl.float32:
            return tl.dot(q, eye, input_precision="ieee")
        return tl.dot(q, eye)
    return q.to(tl.float32)


@triton.jit
def _routing(qf, summary, tau, valid, xscale, G: tl.constexpr, GP: tl.constexpr,
             BM: tl.constexpr, R: tl.constexpr):  # fmt: skip
    """Per row: sqrt of the entmax probability of this chunk, and the token's GQA mean p_bar
    (rows are GP heads x BM tokens, head-major)."""
    x = tl.sum(qf * summary[None, :], axis=1) * xscale
    return _routing_from_scores(x, tau, valid, G, GP, BM, R)


@triton.jit
def _routing_from_scores(x, tau, valid, G: tl.constexpr, GP: tl.constexpr, BM: tl.constexpr,
                         R: tl.constexpr):  # fmt: skip
    """``_routing`` from the rows' routing scores ``x`` (already scaled)."""
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
def _prior_dp(ds, beta_mean, p_bar, routed, valid, inv_sigma, G: tl.constexpr, GP: tl.constexpr,
              BM: tl.constexpr, R: tl.constexpr, ESTIMATE_DIAGONAL: tl.constexpr):  # fmt: skip
    """The backward through one chunk's log-prior bias: ``beta`` (the token's sum of ``dS`` over
    the chunk's keys and its G heads), centred on ``beta_mean`` when the prior is, to the
    gradient of each head's routing probability (0 where the token did not route)."""
    beta = _token_sum(tl.sum(ds, axis=1), GP, BM, R)
    if ESTIMATE_DIAGONAL:
        d_log = (beta - beta_mean) * inv_sigma
    else:
        d_log = beta
    return tl.where(routed & valid, d_log / tl.where(routed, p_bar, 1.0), 0.0) / G


@triton.jit
def _token_mask_bias(word_ptr, token_bit):
    """0 for the rows whose token selected this chunk (its bit in the tile's word), else -inf."""
    word = tl.load(word_ptr)
    return tl.where(((word >> token_bit) & 1) != 0, 0.0, float("-inf"))


@triton.jit
def _token_sum(r, GP: tl.constexpr, BM: tl.constexpr, R: tl.constexpr):
    """Sum a per-row value over the G heads of each token, broadcast back to the rows."""
    t = tl.sum(tl.reshape(r, (GP, BM)), axis=0)
    return tl.reshape(tl.broadcast_to(t[None, :], (GP, BM)), (R,))


@triton.jit
def _chunk_sources(k_base, v_base, n_keys, stride_kn, C: tl.constexpr, D: tl.constexpr,
                   TMA: tl.constexpr):  # fmt: skip
    """Where listed chunks' K and V come from: tensor descriptors over this (batch, KV head)'s
    ``[n_keys, D]`` rows when TMA (Triton 3.6 pipelines those loads; it does not pipeline the
    pointer loads, indirect through the chunk list), else the base pointers themselves."""
    if TMA:
        k_src = tl.make_tensor_descriptor(k_base, shape=[n_keys, D], strides=[stride_kn, 1], block_shape=[C, D])
        v_src = tl.make_tensor_descriptor(v_base, shape=[n_keys, D], strides=[stride_kn, 1], block_shape=[C, D])
        return k_src, v_src
    else:
        return k_base, v_base


@triton.jit
def _next_chunk(IDS, i, n, c_next, TMA: tl.constexpr):
    """Chunk ``i`` of a list (``IDS`` at its start) and, with TMA, the next one loaded an
    iteration ahead, so the descriptor loads depend on a loop-carried value."""
    if TMA:
        return c_next, tl.load(IDS + i + 1, mask=i + 1 < n, other=0)
    else:
        return tl.load(IDS + i), c_next


@triton.jit
def _chunk_kv(k_src, v_src, c, stride_kn, C: tl.constexpr, D: tl.constexpr, TMA: tl.constexpr):
    """K and V ``[C, D]`` of a whole (listed) chunk ``c``."""
    if TMA:
        return k_src.load([c * C, 0]), v_src.load([c * C, 0])
    else:
        kpos = (c * C + tl.arange(0, C)).to(tl.int64)
        dims = tl.arange(0, D)
        k = tl.load(k_src + kpos[:, None] * stride_kn + dims[None, :])
        v = tl.load(v_src + kpos[:, None] * stride_kn + dims[None, :])
        return k, v
