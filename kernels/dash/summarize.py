"""Stage 1: chunk summaries ``S[b, h, c] = sum_t softmax_t(head_cls[h] . k_t * scale) k_t``."""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl


@triton.jit
def _summarize_kernel(
    K, W, S,
    stride_kb, stride_kh, stride_kn,
    stride_sb, stride_sh, stride_sc,
    N, scale,
    HKV: tl.constexpr, C: tl.constexpr, D: tl.constexpr,
):  # fmt: skip
    c = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // HKV
    h = (bh % HKV).to(tl.int64)  # h * stride_kh passes 2^31 at long N with many KV heads
    tok = c.to(tl.int64) * C + tl.arange(0, C)
    valid = tok < N
    dims = tl.arange(0, D)
    k = tl.load(K + b.to(tl.int64) * stride_kb + h * stride_kh + tok[:, None] * stride_kn
                + dims[None, :], mask=valid[:, None], other=0.0).to(tl.float32)  # fmt: skip
    w = tl.load(W + h * D + dims).to(tl.float32)
    u = tl.sum(k * w[None, :], axis=1) * scale
    u = tl.where(valid, u, float("-inf"))
    e = tl.exp(u - tl.max(u, axis=0))
    e = e / tl.sum(e, axis=0)
    s = tl.sum(e[:, None] * k, axis=0)
    tl.store(S + b.to(tl.int64) * stride_sb + h * stride_sh + c * stride_sc + dims, s)


def summarize(k: torch.Tensor, head_cls: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """``[B, Hkv, n_chunks, D]`` fp32 summaries of ``k`` ``[B, Hkv, N, D]`` (last chunk partial)."""
    B, H, N, D = k.shape
    n_chunks = math.ceil(N / chunk_size)
    s = torch.empty(B, H, n_chunks, D, device=k.device, dtype=torch.float32)
    _summarize_kernel[(n_chunks, B * H)](
        k, head_cls, s,
        k.stride(0), k.stride(1), k.stride(2),
        s.stride(0), s.stride(1), s.stride(2),
        N, 1.0 / math.sqrt(D),
        HKV=H, C=chunk_size, D=D,
    )  # fmt: skip
    return s
