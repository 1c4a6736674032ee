"""Stage 1: chunk summaries ``S[b, h, c] = sum_t softmax_t(head_cls[h] . k_t * scale) k_t``."""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl


@triton.jit
def _chunk_pooling(K, W, c, bh, stride_kb, stride_kh, stride_kn, N, scale, HKV: tl.constexpr, C: tl.constexpr,
                   D: tl.constexpr):  # fmt: skip
    """Chunk ``c``'s keys of (batch x KV head) ``bh`` in fp32 (zeros past N), the head's pooling
    vector and the chunk's pooling weights ``softmax_t(head_cls . k_t * scale)``; also the tokens
    and whether each is < N."""
    b = bh // HKV
    h = (bh % HKV).to(tl.int64)  # h * stride_kh passes 2^31 at long N with many KV heads
    tok = c.to(tl.int64) * C + tl.arange(0, C)
    valid = tok < N
    dims = tl.arange(0, D)
    k = tl.load(K + b.to(tl.int64) * stride_kb + h * stride_kh + tok[:, None] * stride_kn
                + dims[None, :], mask=valid[:, None], other=0.0).to(tl.float32)  # fmt: skip
    w = tl.load(W + h * D + dims).to(tl.float32)
    u = tl.where(valid, tl.sum(k * w[None, :], axis=1) * scale, float("-inf"))
    a = tl.exp(u - tl.max(u, axis=0))
    return k, w, a / tl.sum(a, axis=0), tok, valid


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
    k, _, a, _, _ = _chunk_pooling(K, W, c, bh, stride_kb, stride_kh, stride_kn, N, scale, HKV, C, D)
    b = bh // HKV
    h = (bh % HKV).to(tl.int64)
    s = tl.sum(a[:, None] * k, axis=0)
    tl.store(S + b.to(tl.int64) * stride_sb + h * stride_sh + c * stride_sc + tl.arange(0, D), s)


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


@triton.jit
def _summarize_backward_kernel(
    K, W, DS, DK_IN, DV_IN, DK, DV, DW,
    stride_kb, stride_kh, stride_kn,
    N, n_chunks, scale,
    HKV: tl.constexpr, C: tl.constexpr, D: tl.constexpr,
):  # fmt: skip
    """One program per (chunk, batch x KV head): stage 1's gradient for the chunk's keys added to
    the attention's fp32 dk and written in k's dtype, dv cast to v's dtype on the way, and the
    chunk's share of d head_cls (summed over chunks by the caller)."""
    c = tl.program_id(0)
    bh = tl.program_id(1)
    k, w, a, tok, valid = _chunk_pooling(K, W, c, bh, stride_kb, stride_kh, stride_kn, N, scale, HKV, C, D)
    dims = tl.arange(0, D)
    ds = tl.load(DS + (bh.to(tl.int64) * n_chunks + c) * D + dims)  # dL/dS of this chunk
    da = tl.sum(k * ds[None, :], axis=1)
    du = a * (da - tl.sum(a * da, axis=0)) * scale  # dL/du, the 1/sqrt(D) of u folded in
    rows = (bh.to(tl.int64) * N + tok)[:, None] * D + dims[None, :]  # DK_IN, DV_IN, DK, DV: contiguous
    m = valid[:, None]
    dk = tl.load(DK_IN + rows, mask=m, other=0.0) + a[:, None] * ds[None, :] + du[:, None] * w[None, :]
    tl.store(DK + rows, dk.to(DK.dtype.element_ty), mask=m)
    tl.store(DV + rows, tl.load(DV_IN + rows, mask=m, other=0.0).to(DV.dtype.element_ty), mask=m)
    tl.store(DW + (bh.to(tl.int64) * n_chunks + c) * D + dims, tl.sum(du[:, None] * k, axis=0))


def summarize_backward(k, head_cls, d_summaries, dk_attention, dv_attention, chunk_size, v_dtype=None):
    """Finish dk, dv and d head_cls from the attention's fp32 ``dk_attention``, ``dv_attention``
    (``[B, Hkv, N, D]``, contiguous) and the summaries' gradient ``d_summaries``
    (``[B, Hkv, n_chunks, D]`` fp32): ``(dk, dv, d_head_cls)``, dk in k's dtype, dv in
    ``v_dtype`` (default k's), d_head_cls fp32. One pass: the PyTorch form took a dozen
    elementwise kernels and fp32 copies of k: the training step at 32k, 25%, Hkv 8 went 28.1-28.2 ->
    27.1-27.4 ms on the H200 (results/reference/h200-dash/stop29/)."""
    B, H, N, D = k.shape
    n_chunks = d_summaries.shape[2]
    if not (dk_attention.is_contiguous() and dv_attention.is_contiguous()):
        raise ValueError("summarize_backward needs contiguous dk_attention and dv_attention")
    dk = torch.empty(B, H, N, D, device=k.device, dtype=k.dtype)
    dv = torch.empty(B, H, N, D, device=k.device, dtype=v_dtype or k.dtype)
    dw = torch.empty(B, H, n_chunks, D, device=k.device, dtype=torch.float32)
    _summarize_backward_kernel[(n_chunks, B * H)](
        k, head_cls, d_summaries.contiguous(), dk_attention, dv_attention, dk, dv, dw,
        k.stride(0), k.stride(1), k.stride(2),
        N, n_chunks, 1.0 / math.sqrt(D),
        HKV=H, C=chunk_size, D=D,
    )  # fmt: skip
    return dk, dv, dw.sum((0, 2))
