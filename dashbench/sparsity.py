"""Sparsity, defined once for every method (``shared/specs/baselines.md``).

*Token density* of query token ``i`` on KV head ``h``: the number of distinct key tokens
``j <= i`` that get non-zero weight in the token-level attention, over ``i + 1``. Selections are
shared across a GQA group, so density is per KV head. Sparsity is ``1 - mean density`` (mean
over tokens, KV heads and batch). NSA counts the union of its selected-block and window tokens;
its compressed branch is overhead, reported separately.

Knobs: the top-k methods (InfLLMv2, NSA) set ``topk``, whose density is known in advance from
the length (:func:`topk_for_sparsity`, :func:`topk_token_density`); DashAttention sets
``scaling``, calibrated on the actual inputs (``dashbench.kernels.calibrate_scaling``).
"""

from __future__ import annotations

import math
import warnings

import torch

_ELEMENTS = 1 << 24  # selection entries handled at once


def token_density_from_blocks(blocks: torch.Tensor, positions: torch.Tensor, block_size: int,
                              window: int = 0) -> torch.Tensor:  # fmt: skip
    """Token density from selected block ids (and a sliding window, for NSA).

    Args:
        blocks: ``[..., Nq, K]`` integer block ids per query token, ``-1`` for unused slots;
            ids must be distinct per token.
        positions: ``[Nq]`` position of each query token among the keys.
        block_size: tokens per block.
        window: keys ``position - window + 1 ... position`` are attended too (0: none); the
            union with the blocks is counted.

    Returns ``[..., Nq]`` float64: causal keys attended over ``position + 1``.
    """
    positions = positions.to(blocks.device)
    lead, n = blocks.shape[:-2], blocks.shape[-2]
    out = torch.empty(*lead, n, device=blocks.device, dtype=torch.float64)
    step = max(1, _ELEMENTS // max(1, blocks[..., :1, :].numel()))
    for r0 in range(0, n, step):  # slices of tokens: a 128k selection would need GBs at once
        sel = blocks[..., r0 : r0 + step, :].to(torch.int32)  # int32: positions stay < 2^31
        pos = positions[r0 : r0 + step, None].to(torch.int32)
        start = sel * block_size
        keys = (pos - start + 1).clamp(0, block_size)  # causal keys of a block at or before the own
        window_keys = 0
        if window:
            lo = (pos - window + 1).clamp(min=0)  # window keys [lo, pos], minus those in the block
            keys = keys - (torch.minimum(pos + 1, start + block_size) - torch.maximum(lo, start)).clamp(min=0)
            window_keys = (pos[:, 0] - lo[:, 0] + 1).double()
        keys = torch.where(sel >= 0, keys, 0)
        out[..., r0 : r0 + step] = (keys.sum(-1, dtype=torch.float64) + window_keys) / (pos[:, 0].double() + 1)
    return out


def topk_token_density(topk: int, seqlen: int, block_size: int = 64) -> float:
    """Mean token density of a prefill of ``seqlen`` tokens when every token attends ``topk``
    blocks (its own included, all visible blocks when fewer): the number the top-k methods'
    density is, up to blocks left out by causality."""
    pos = torch.arange(seqlen, dtype=torch.float64)
    own = torch.div(pos, block_size, rounding_mode="floor")
    earlier = torch.clamp(own + 1, max=topk) - 1  # full blocks before the own one
    keys = earlier * block_size + (pos - own * block_size + 1)
    return float((keys / (pos + 1)).mean())


def topk_for_sparsity(sparsity: float, seqlen: int, block_size: int = 64, min_topk: int = 1,
                      over: str = "prefill") -> int:  # fmt: skip
    """The ``topk`` that sets a top-k method to ``sparsity`` at ``seqlen`` tokens.

    ``over="prefill"`` (default): the mean token density over a whole prefill is ``1 -
    sparsity``, the definition DashAttention's calibration meets, so methods compare at equal
    mean density. Early tokens see fewer blocks than ``topk`` and attend densely, so this
    ``topk`` is smaller than the spec's closed form. ``over="last"``: the spec's
    ``round((1 - sparsity) * seqlen / block_size)``, the density of the last token only (its
    prefill mean is higher: 0.60 instead of 0.25 at 128k for 75%).

    Never below ``min_topk`` (the forced blocks): then it warns with the sparsity reached, and
    callers report the measured density as always."""
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1); got {sparsity}")
    if over not in ("prefill", "last"):
        raise ValueError(f"over must be 'prefill' or 'last'; got {over!r}")
    target = 1 - sparsity
    n_blocks = -(-seqlen // block_size)
    if over == "last":
        topk = round(target * seqlen / block_size)
    else:  # density grows with topk: bisect for the crossing, keep the nearer side
        lo, hi = 1, n_blocks
        while lo < hi:
            mid = (lo + hi) // 2
            if topk_token_density(mid, seqlen, block_size) < target:
                lo = mid + 1
            else:
                hi = mid
        below = max(lo - 1, 1)
        near = abs(topk_token_density(below, seqlen, block_size) - target)
        topk = below if near < abs(topk_token_density(lo, seqlen, block_size) - target) else lo
    if topk < min_topk:
        reached = 1 - topk_token_density(min_topk, seqlen, block_size)
        warnings.warn(
            f"sparsity {sparsity:g} at {seqlen} tokens needs topk {topk}, below the {min_topk} "
            f"forced blocks; using {min_topk} (sparsity about {reached:.3f})",
            stacklevel=2,
        )
        return min_topk
    return max(topk, 1)


def sparsity(density: float) -> float:
    """``1 - density``; the paper quotes sparsity, the kernels report density."""
    if not 0 <= density <= 1 or math.isnan(density):
        raise ValueError(f"density must be in [0, 1]; got {density}")
    return 1.0 - density


def topk_window_token_density(topk: int, seqlen: int, block_size: int, window: int, local_blocks: int,
                              over: str = "prefill") -> float:  # fmt: skip
    """Mean token density of a top-k method with a sliding window (NSA): the union of the window
    and the selected blocks, assuming the selected blocks beyond the forced local ones lie outside
    the window. That makes it an upper bound: blocks chosen inside the window add nothing.
    ``over="last"``: the last token's density instead of the prefill's mean (a decode step)."""
    if over not in ("prefill", "last"):
        raise ValueError(f"over must be 'prefill' or 'last'; got {over!r}")
    if window <= 0 and over == "prefill":
        return topk_token_density(topk, seqlen, block_size)
    first = 0 if over == "prefill" else seqlen - 1
    pos = torch.arange(first, seqlen, dtype=torch.float64)
    own = torch.div(pos, block_size, rounding_mode="floor")
    n_local = torch.clamp(own, max=local_blocks)  # forced blocks before the own one
    local_start = (own - n_local) * block_size  # first key of the forced local span
    win_start = torch.clamp(pos - window + 1, min=0)
    span_start = torch.minimum(local_start, win_start)  # window and local blocks: one span
    span = pos - span_start + 1
    others = torch.clamp(torch.clamp(own + 1, max=topk) - 1 - n_local, min=0)  # further blocks
    room = span_start  # keys before the span
    keys = span + torch.minimum(others * block_size, room)
    return float((keys / (pos + 1)).mean())


def infllmv2_config_for(sparsity: float, seqlen: int, base=None, over: str = "prefill"):
    """InfLLMv2's configuration at ``sparsity`` (mean token density ``1 - sparsity`` over a
    prefill of ``seqlen``, or the last token's with ``over="last"``: a decode step at the end of
    a ``seqlen`` cache): ``base`` with ``topk`` set, never below the forced blocks."""
    from dataclasses import replace

    from dashbench.kernels.reference.infllmv2 import InfLLMv2Config

    base = base or InfLLMv2Config()
    topk = topk_for_sparsity(sparsity, seqlen, base.block_size, min_topk=base.forced_blocks, over=over)
    return replace(base, topk=topk)


def nsa_config_for(sparsity: float, seqlen: int, base=None, over: str = "prefill"):
    """NSA's configuration at ``sparsity``: ``topk`` for the mean density of the selected blocks
    and window together (the compression branch is overhead, not density); by the upper bound of
    :func:`topk_window_token_density`, so the measured sparsity is at least the target. Warns
    when the forced blocks and the window alone pass the target density. ``over="last"``: the
    last token's density (a decode step at the end of a ``seqlen`` cache)."""
    from dataclasses import replace

    from dashbench.kernels.reference.nsa import NSAConfig

    base = base or NSAConfig.dash_paper()
    target = 1 - sparsity
    n_blocks = -(-seqlen // base.block_size)

    def density(k: int) -> float:
        return topk_window_token_density(k, seqlen, base.block_size, base.window, base.local_blocks, over)

    lo, hi = base.forced_blocks, max(base.forced_blocks, n_blocks)
    if density(lo) > target:
        warnings.warn(
            f"NSA sparsity {sparsity:g} at {seqlen} tokens is out of reach: the {lo} forced blocks and "
            f"the {base.window}-token window alone give density {density(lo):.3f}; using topk {lo}",
            stacklevel=2,
        )
        return replace(base, topk=lo)
    while lo < hi:  # largest topk whose (upper-bound) density stays at or below the target
        mid = (lo + hi + 1) // 2
        if density(mid) <= target:
            lo = mid
        else:
            hi = mid - 1
    return replace(base, topk=lo)
