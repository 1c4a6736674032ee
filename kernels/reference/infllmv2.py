"""InfLLMv2 (MiniCPM4; arXiv 2509.24663) in plain PyTorch: the ground truth for its kernels.

Follows ``shared/specs/baselines.md`` with the configuration DashAttention was compared against
(kernel 32, stride 16, blocks of 64, 1 initial and 16 local blocks, top-64):

1. compressed keys: mean of each window of ``kernel_size`` keys, windows every ``kernel_stride``
   (complete windows only);
2. coarse scores: per query head, softmax of ``q . ck / sqrt(D)`` over the compressed keys whose
   window ends at or before the query, summed over the GQA group (one selection per KV head);
3. block scores: the maximum over the compressed keys whose windows overlap the block (indices
   ``4j - 1 ... 4j + 3`` with the defaults); initial blocks and the local ones
   ``b - local_blocks ... b`` (``b`` the query's block) score ``+inf``, later blocks are out;
4. each token keeps its ``topk`` best blocks (forced ones included; all visible ones if fewer);
5. exact softmax attention of every query head over its group's selected blocks, causal.

Selection is not differentiable (it runs under ``no_grad``); the attention is. Streams over
blocks of queries, so memory is ``O(block * N)``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch.utils.checkpoint import checkpoint

from dashbench.kernels.reference.attention import check_attention_inputs
from dashbench.sparsity import token_density_from_blocks

_SCORE_BUDGET = 32 * 1024 * 1024  # score elements held per query block


@dataclass(frozen=True)
class InfLLMv2Config:
    """InfLLMv2's knobs; the defaults are the DashAttention paper's comparison (window 1024,
    always sparse). MiniCPM4 itself uses a 2048 window (``local_blocks=32``)."""

    block_size: int = 64
    kernel_size: int = 32
    kernel_stride: int = 16
    init_blocks: int = 1
    local_blocks: int = 16
    topk: int = 64

    @property
    def forced_blocks(self) -> int:
        """Blocks every (late enough) token keeps whatever the scores: initial, local, own."""
        return self.init_blocks + self.local_blocks + 1

    def check(self) -> None:
        for name in ("block_size", "kernel_size", "kernel_stride", "topk"):
            if getattr(self, name) < 1:
                raise ValueError(f"InfLLMv2 {name} must be positive; got {getattr(self, name)}")
        if self.init_blocks < 0 or self.local_blocks < 0:
            raise ValueError("InfLLMv2 init_blocks and local_blocks must be >= 0")
        if self.topk < self.forced_blocks:
            raise ValueError(
                f"InfLLMv2 topk {self.topk} is below its {self.forced_blocks} forced blocks "
                f"({self.init_blocks} initial + {self.local_blocks} local + the query's own)"
            )


@dataclass
class BlockSelection:
    """Which blocks each query token attends (per KV head).

    blocks: ``[B, Hkv, Nq, topk]`` int32 block ids, ascending, ``-1`` for unused slots.
    token_density: ``[B, Hkv, Nq]`` causal keys attended over ``position + 1``.
    """

    blocks: torch.Tensor
    token_density: torch.Tensor
    positions: torch.Tensor
    block_size: int
    compute_density: float | None = None

    @property
    def mean_density(self) -> float:
        return float(self.token_density.float().mean())


def compress_keys(k: torch.Tensor, kernel_size: int, kernel_stride: int) -> torch.Tensor:
    """``[B, H, M, D]`` means of the complete windows ``k[s*m : s*m + l]``, in fp32 (fp64 for
    fp64 keys); ``M = 0`` when there are fewer than ``kernel_size`` keys. Windows are averaged
    in slices: all of them at once in fp32 is ``2 l / s`` times a bf16 cache (64 GB at 1M
    tokens, batch 8, 8 KV heads)."""
    B, H, N, D = k.shape
    dtype = torch.promote_types(k.dtype, torch.float32)
    if N < kernel_size:
        return k.new_zeros(B, H, 0, D, dtype=dtype)
    windows = k.unfold(2, kernel_size, kernel_stride)  # a view: [B, H, M, D, l]
    step = max(1, _SCORE_BUDGET // max(1, B * H * D * kernel_size))
    return torch.cat([windows[:, :, m0 : m0 + step].to(dtype).mean(-1)
                      for m0 in range(0, windows.shape[2], step)], dim=2)  # fmt: skip


@functools.lru_cache(maxsize=64)
def window_overlap(n_blocks: int, n_compressed: int, block_size: int, stride: int, size: int, device):
    """For each block, the compressed windows that overlap it: ids ``[n_blocks, W]`` and the
    overlap in strides, 0 where there is none (window ``m`` covers ``[stride*m, stride*m +
    size)``, block ``j`` covers ``[block_size*j, block_size*(j + 1))``). InfLLMv2 takes the max
    over the overlapping windows, NSA a sum weighted by the overlap. Cached per shape: a decode
    step would otherwise spend a dozen small kernels rebuilding it (callers must not modify
    the tensors)."""
    B, s, l = block_size, stride, size  # noqa: E741
    j = torch.arange(n_blocks, device=device)
    lo = torch.div(B * j - l + s, s, rounding_mode="floor")  # smallest m with s*m + l > B*j
    width = -(-(B + l) // s) + 1
    ids = lo[:, None] + torch.arange(width, device=device)[None, :]
    overlap = (torch.minimum(s * ids + l, B * j[:, None] + B) - torch.maximum(s * ids, B * j[:, None])).clamp(min=0)
    ok = (ids >= 0) & (ids < n_compressed) & (overlap > 0)
    return ids.clamp(0, max(n_compressed - 1, 0)), torch.where(ok, overlap / s, 0.0)


def _overlap_windows(n_blocks: int, n_compressed: int, cfg: InfLLMv2Config, device):
    """InfLLMv2's view of :func:`window_overlap`: ids and a validity mask."""
    ids, weight = window_overlap(n_blocks, n_compressed, cfg.block_size, cfg.kernel_stride, cfg.kernel_size, device)
    return ids, weight > 0


def block_scores(q: torch.Tensor, ck: torch.Tensor, positions: torch.Tensor, n_blocks: int,
                 cfg: InfLLMv2Config) -> torch.Tensor:  # fmt: skip
    """Stages 2-3 for a block of query rows: ``[B, Hkv, Nq, n_blocks]`` group-summed compressed
    probabilities max-pooled onto blocks, ``+inf`` for forced blocks, ``-inf`` for later ones."""
    B, Hq, Nq, D = q.shape
    Hkv, M = ck.shape[1], ck.shape[2]
    G = Hq // Hkv
    own = torch.div(positions, cfg.block_size, rounding_mode="floor")
    if M > 0:
        x = torch.matmul(q.reshape(B, Hkv, G * Nq, D), ck.transpose(-1, -2)) / math.sqrt(D)
        x = x.view(B, Hkv, G, Nq, M)
        ends = cfg.kernel_stride * torch.arange(M, device=q.device) + cfg.kernel_size - 1
        x = x.masked_fill(ends[None, :] > positions[:, None], float("-inf"))
        p = torch.softmax(x, dim=-1).nan_to_num(0.0).sum(2)  # no visible window: all zero
        ids, ok = _overlap_windows(n_blocks, M, cfg, q.device)
        scores = torch.where(ok, p[..., ids], 0.0).amax(-1)  # probabilities are >= 0
    else:
        scores = q.new_zeros(B, Hkv, Nq, n_blocks)
    j = torch.arange(n_blocks, device=q.device)[None, :]
    forced = (j < cfg.init_blocks) | ((j >= own[:, None] - cfg.local_blocks) & (j <= own[:, None]))
    scores = scores.masked_fill(forced, float("inf"))
    return scores.masked_fill(j > own[:, None], float("-inf"))


def select_blocks(scores: torch.Tensor, topk: int) -> torch.Tensor:
    """Top-``topk`` visible blocks per row, ascending, ``-1``-padded: ``[..., topk]`` int32.

    Ties are common (a compressed window that straddles two blocks gives both the same max), so
    they are broken deterministically: the earlier block wins (a stable sort, where
    ``torch.topk`` leaves the order unspecified)."""
    k = min(topk, scores.shape[-1])
    values, indices = torch.sort(scores, dim=-1, descending=True, stable=True)
    values, indices = values[..., :k], indices[..., :k]
    ids = torch.where(values > float("-inf"), indices, scores.shape[-1])
    ids = ids.sort(dim=-1).values
    ids = torch.where(ids == scores.shape[-1], -1, ids)
    if k < topk:
        ids = torch.nn.functional.pad(ids, (0, topk - k), value=-1)
    return ids.to(torch.int32)


def _attend_selected(q, k, v, blocks, positions, block_size):
    """Softmax attention of each query row over its group's selected blocks, causal."""
    B, Hq, Nq, D = q.shape
    Hkv, Nk = k.shape[1], k.shape[2]
    G = Hq // Hkv
    n_blocks = -(-Nk // block_size)
    chosen = torch.zeros(B, Hkv, Nq, n_blocks + 1, dtype=torch.bool, device=q.device)
    chosen.scatter_(-1, torch.where(blocks >= 0, blocks, n_blocks).long(), True)
    key_block = torch.arange(Nk, device=q.device) // block_size
    allowed = chosen[..., key_block] & (torch.arange(Nk, device=q.device)[None, :] <= positions[:, None])
    scores = torch.matmul(q.reshape(B, Hkv, G * Nq, D), k.transpose(-1, -2)) / math.sqrt(D)
    scores = scores.view(B, Hkv, G, Nq, Nk).masked_fill(~allowed[:, :, None], float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return torch.matmul(probs.view(B, Hkv, G * Nq, Nk), v).view(B, Hq, Nq, D)


def infllmv2_selection(q, k, config: InfLLMv2Config = InfLLMv2Config(), *, q_positions=None,
                       block_q: int | None = None) -> BlockSelection:  # fmt: skip
    """Stages 1-4 only: the blocks each query token attends."""
    check_attention_inputs(q, k, k)
    config.check()
    B, Hq, Nq, D = q.shape
    Nk = k.shape[2]
    positions = _positions(q_positions, Nq, Nk, q.device)
    n_blocks = -(-Nk // config.block_size)
    with torch.no_grad():
        qc, kc = q.float(), k.float()
        ck = compress_keys(kc, config.kernel_size, config.kernel_stride)
        block_q = block_q or max(1, min(Nq, _SCORE_BUDGET // max(1, B * Hq * (ck.shape[2] + n_blocks))))
        parts = []
        for start in range(0, Nq, block_q):
            rows = slice(start, min(start + block_q, Nq))
            scores = block_scores(qc[:, :, rows], ck, positions[rows], n_blocks, config)
            parts.append(select_blocks(scores, config.topk))
        blocks = torch.cat(parts, dim=2)
    density = token_density_from_blocks(blocks, positions, config.block_size)
    return BlockSelection(blocks, density, positions, config.block_size)


def infllmv2_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    config: InfLLMv2Config = InfLLMv2Config(),
    *,
    return_selection: bool = False,
    q_positions: torch.Tensor | None = None,
    compute_dtype: torch.dtype | None = torch.float32,
    block_q: int | None = None,
):
    """Causal InfLLMv2 attention in plain PyTorch, differentiable in q, k, v (not through the
    selection, which InfLLMv2 does not differentiate either).

    Args:
        q: ``[B, Hq, Nq, D]``; k, v: ``[B, Hkv, Nk, D]``.
        config: block size, compression kernel and stride, forced blocks, ``topk``.
        return_selection: also return the :class:`BlockSelection`.
        q_positions: ``[Nq]`` position of each query row among the keys (default: the last Nq).
        compute_dtype: dtype of the attention arithmetic (fp64 for gradient checks).

    Returns ``out`` ``[B, Hq, Nq, D]`` in ``compute_dtype``, or ``(out, selection)``.
    """
    check_attention_inputs(q, k, v)
    selection = infllmv2_selection(q, k, config, q_positions=q_positions, block_q=block_q)
    B, Hq, Nq, D = q.shape
    Nk = k.shape[2]
    dtype = compute_dtype or q.dtype
    qc, kc, vc = q.to(dtype), k.to(dtype), v.to(dtype)
    positions = selection.positions
    block_q = block_q or max(1, min(Nq, _SCORE_BUDGET // (B * Hq * Nk)))
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    outs = []
    for start in range(0, Nq, block_q):
        rows = slice(start, min(start + block_q, Nq))
        args = (qc[:, :, rows], kc, vc, selection.blocks[:, :, rows], positions[rows], config.block_size)
        outs.append(checkpoint(_attend_selected, *args, use_reentrant=False)
                    if grad and Nq > block_q else _attend_selected(*args))  # fmt: skip
    out = torch.cat(outs, dim=2)
    return (out, selection) if return_selection else out


def _positions(q_positions, Nq: int, Nk: int, device) -> torch.Tensor:
    if q_positions is None:
        return torch.arange(Nk - Nq, Nk, device=device)
    if q_positions.shape != (Nq,):
        raise ValueError(f"q_positions must have shape ({Nq},); got {tuple(q_positions.shape)}")
    return q_positions.to(device)
