"""Dense (softmax) attention in plain PyTorch: the ground truth for every dense provider.

It streams over blocks of queries so that no ``N x N`` matrix is ever held: memory is
``O(block_q * N)`` per head. Under autograd each block is checkpointed, so the backward also
stays at that size instead of keeping every block's probabilities alive.
"""

from __future__ import annotations

import math

import torch
from torch.utils.checkpoint import checkpoint

# Scores held at once, per call: block_q * Hq * Nk elements (about 256 MiB in fp32).
_SCORE_BUDGET = 64 * 1024 * 1024


def check_attention_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """Raise ``ValueError`` naming the problem unless q, k, v form a valid ``[B, H, N, D]`` set."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.dim() != 4:
            raise ValueError(f"{name} must be [B, H, N, D]; got {t.dim()} dims {tuple(t.shape)}")
    if k.shape != v.shape:
        raise ValueError(f"k and v must have the same shape; got {tuple(k.shape)}, {tuple(v.shape)}")
    if q.shape[0] != k.shape[0]:
        raise ValueError(f"batch differs: q has {q.shape[0]}, k has {k.shape[0]}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"head dim differs: q has {q.shape[-1]}, k has {k.shape[-1]}")
    if q.shape[1] % k.shape[1]:
        raise ValueError(
            f"query heads ({q.shape[1]}) must be a multiple of KV heads ({k.shape[1]})"
        )
    if len({q.device, k.device, v.device}) != 1:
        raise ValueError(f"q, k, v are on different devices: {q.device}, {k.device}, {v.device}")
    if len({q.dtype, k.dtype, v.dtype}) != 1:
        raise ValueError(f"q, k, v have different dtypes: {q.dtype}, {k.dtype}, {v.dtype}")


def _attend_block(
    q: torch.Tensor,  # [B, Hkv, G, bq, D] in compute dtype
    k: torch.Tensor,  # [B, Hkv, Nk, D]
    v: torch.Tensor,
    q_pos: torch.Tensor | None,  # [bq] absolute positions, or None for no mask
    scale: float,
) -> torch.Tensor:
    B, Hkv, G, bq, D = q.shape
    # The G query heads sharing a KV head are stacked as rows, so K and V are read as they
    # are; broadcasting them over G would copy each G times.
    scores = torch.matmul(q.reshape(B, Hkv, G * bq, D), k.transpose(-1, -2)) * scale
    scores = scores.view(B, Hkv, G, bq, -1)
    if q_pos is not None:
        k_pos = torch.arange(k.shape[-2], device=q.device)
        scores = scores.masked_fill(k_pos[None, :] > q_pos[:, None], float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    # A query with no visible key (only possible with explicit positions) attends nothing.
    probs = torch.nan_to_num(probs, nan=0.0)
    return torch.matmul(probs.view(B, Hkv, G * bq, -1), v).view(B, Hkv, G, bq, D)


def attention_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    scale: float | None = None,
    q_positions: torch.Tensor | None = None,
    compute_dtype: torch.dtype | None = torch.float32,
    block_q: int | None = None,
) -> torch.Tensor:
    """Softmax attention with GQA and causal masking, in plain PyTorch.

    Args:
        q: ``[B, Hq, Nq, D]``.
        k, v: ``[B, Hkv, Nk, D]`` with ``Hq % Hkv == 0``; query head ``h`` reads KV head
            ``h // (Hq // Hkv)``.
        causal: mask keys after each query's position.
        scale: softmax scale; default ``1 / sqrt(D)``.
        q_positions: ``[Nq]`` absolute position of each query row in the key sequence. Default:
            the last ``Nq`` positions (bottom-right aligned, as FlashAttention does), so a single
            decode query sees the whole cache.
        compute_dtype: dtype of the arithmetic (fp32 by default, fp64 for tight checks, ``None``
            to compute in the inputs' dtype, as a low-precision kernel would).
        block_q: query rows per block; default keeps the score block near 256 MiB.

    Returns:
        ``[B, Hq, Nq, D]`` in ``compute_dtype`` (or the inputs' dtype when it is ``None``).
    """
    check_attention_inputs(q, k, v)
    B, Hq, Nq, D = q.shape
    Hkv, Nk = k.shape[1], k.shape[2]
    G = Hq // Hkv
    scale = 1.0 / math.sqrt(D) if scale is None else float(scale)
    dtype = compute_dtype or q.dtype

    if q_positions is None:
        q_positions = torch.arange(Nk - Nq, Nk, device=q.device)
    elif q_positions.shape != (Nq,):
        raise ValueError(f"q_positions must have shape ({Nq},); got {tuple(q_positions.shape)}")
    q_positions = q_positions.to(q.device)

    qg = q.to(dtype).view(B, Hkv, G, Nq, D)
    kg, vg = k.to(dtype), v.to(dtype)
    if block_q is None:
        block_q = max(1, min(Nq, _SCORE_BUDGET // max(1, B * Hq * Nk)))

    use_checkpoint = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    outs = []
    for start in range(0, Nq, block_q):
        rows = slice(start, min(start + block_q, Nq))
        pos = q_positions[rows] if causal else None
        # Keys after the block's last position are masked for every row: skip them (halves
        # the causal work without changing the result).
        n_keys = Nk if pos is None else max(1, min(Nk, int(pos.max()) + 1))
        args = (qg[:, :, :, rows].contiguous(), kg[..., :n_keys, :], vg[..., :n_keys, :], pos, scale)
        if use_checkpoint and Nq > block_q:
            outs.append(checkpoint(_attend_block, *args, use_reentrant=False))
        else:
            outs.append(_attend_block(*args))
    out = torch.cat(outs, dim=3) if len(outs) > 1 else outs[0]
    return out.reshape(B, Hq, Nq, D)
