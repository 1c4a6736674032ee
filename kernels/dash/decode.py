"""DashAttention decoding: a KV cache plus a chunk-summary cache that grows as chunks complete.

A decode step serves one query row at position ``L - 1`` of ``L`` cached keys (the new token's
key and value are appended first): route against the summaries of the complete chunks before
the query's own chunk, then attend the routed chunks plus the own, partial chunk, split over
the routed chunks (``decode_kernels.py``).
"""

from __future__ import annotations

import math

import torch

from dashbench.kernels.dash.decode_kernels import decode_step
from dashbench.kernels.dash.interface import check_kernel_inputs
from dashbench.kernels.dash.summarize import summarize
from dashbench.kernels.reference.dash import DashStats


class DashCache:
    """K, V ``[B, Hkv, capacity, D]`` and fp32 summaries ``[B, Hkv, capacity / C, D]`` of the
    complete chunks; every sequence of the batch has the same length ``self.length``."""

    def __init__(self, k: torch.Tensor, v: torch.Tensor, head_cls: torch.Tensor, *,
                 chunk_size: int = 64, capacity: int | None = None):  # fmt: skip
        check_kernel_inputs(k, k, v, head_cls, chunk_size)  # (q := k: the same contract)
        B, H, n, D = k.shape
        capacity = max(capacity or 0, n, 1)
        capacity = math.ceil(capacity / chunk_size) * chunk_size
        self.chunk_size = chunk_size
        self.head_cls = head_cls.contiguous()
        self.k = torch.empty(B, H, capacity, D, device=k.device, dtype=k.dtype)
        self.v = torch.empty_like(self.k)
        self.k[:, :, :n] = k
        self.v[:, :, :n] = v
        self.summaries = torch.empty(B, H, capacity // chunk_size, D, device=k.device, dtype=torch.float32)
        self.length = n
        complete = n // chunk_size
        if complete:
            self.summaries[:, :, :complete] = summarize(k[:, :, : complete * chunk_size].contiguous(),
                                                        head_cls, chunk_size)  # fmt: skip

    @classmethod
    def from_prefill(cls, k, v, head_cls, *, chunk_size=64, capacity=None) -> "DashCache":
        """A cache holding a prefill's keys and values (``[B, Hkv, N, D]``)."""
        return cls(k, v, head_cls, chunk_size=chunk_size, capacity=capacity)

    @property
    def capacity(self) -> int:
        return self.k.shape[2]

    def append(self, k_new: torch.Tensor, v_new: torch.Tensor) -> None:
        """Add one token (``[B, Hkv, 1, D]``); summarize its chunk when that completes it."""
        if k_new.shape != (*self.k.shape[:2], 1, self.k.shape[3]) or v_new.shape != k_new.shape:
            raise ValueError(f"append takes [B, Hkv, 1, D] = {[*self.k.shape[:2], 1, self.k.shape[3]]}; "
                             f"got {tuple(k_new.shape)} and {tuple(v_new.shape)}")  # fmt: skip
        if self.length >= self.capacity:
            raise ValueError(f"the cache is full ({self.capacity} tokens); give a larger capacity")
        self.k[:, :, self.length] = k_new[:, :, 0]
        self.v[:, :, self.length] = v_new[:, :, 0]
        self.length += 1
        C = self.chunk_size
        if self.length % C == 0:
            c = self.length // C - 1
            self.summaries[:, :, c : c + 1] = summarize(
                self.k[:, :, c * C : (c + 1) * C].contiguous(), self.head_cls, C
            )


def dash_decode(
    q: torch.Tensor,
    cache: DashCache,
    *,
    scaling: float = 1.0,
    sigma: float = 1.0,
    estimate_diagonal: bool = True,
    return_stats: bool = False,
):
    """One decode step: ``q`` ``[B, Hq, 1, D]`` is the token at position ``cache.length - 1``
    (append its key and value first). Returns ``[B, Hq, 1, D]`` (and :class:`DashStats`)."""
    L = cache.length
    k, v = cache.k[:, :, :L], cache.v[:, :, :L]
    if L == 0:
        raise ValueError("the cache is empty: append the new token's key and value first")
    if q.dim() != 4 or q.shape[2] != 1:
        raise ValueError(f"q must be [B, Hq, 1, D]; got {tuple(q.shape)}")
    # head_cls was checked when the cache was built; no device sync on the decode path
    check_kernel_inputs(q, k[:, :, :1], v[:, :, :1], cache.head_cls, cache.chunk_size, check_values=False)
    q = q if q.stride(-1) == 1 else q.contiguous()
    C = cache.chunk_size
    summaries = cache.summaries[:, :, : max(1, math.ceil(L / C))]
    out, count = decode_step(q, k, v, summaries, chunk_size=C, scaling=scaling, sigma=sigma,
                             estimate_diagonal=estimate_diagonal)  # fmt: skip
    if not return_stats:
        return out
    pos = torch.tensor([L - 1], device=q.device)
    keys = (count.long() - 1) * C + (pos - (pos // C) * C + 1)
    stats = DashStats(active_chunks=count, token_density=keys.double() / L, positions=pos, chunk_size=C)
    return out, stats
