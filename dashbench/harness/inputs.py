"""Input generators for attention benchmarks.

``random``: i.i.d. Gaussian q, k, v. Routing on such inputs is incoherent: neighbouring queries
pick unrelated chunks, the worst case for kernels that share work across a query tile.

``structured``: a seeded model of the locality trained models show (queries near each other
attend mostly the same far chunks). There are ``topics`` random unit directions. Every key chunk
(of ``chunk_size`` tokens) is about one topic: its keys are ``strength * u[topic] + noise``.
Queries come in spans of ``span`` tokens; a span is about one topic, and each query in it keeps
the span's topic with probability ``coherence`` (else it draws its own): ``q = strength *
u[topic] + noise``. With ``coherence = 1`` neighbouring queries route alike; with 0 they route
independently, like ``random``. Values are i.i.d. Gaussian. Topic assignments are drawn per KV
head (its query heads share them, as GQA heads of one group do in trained models).
"""

from __future__ import annotations

import math

import torch


def random_qkv(B, hq, hkv, n, d, *, dtype=torch.bfloat16, device="cpu", seed=0):
    """I.i.d. Gaussian ``[B, H, N, D]`` q, k, v. Drawn on the CPU, so a seed gives the same
    tensors on every device."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, h, n, d, generator=g) for h in (hq, hkv, hkv))
    return tuple(t.to(device=device, dtype=dtype) for t in (q, k, v))


def structured_qkv(
    B, hq, hkv, n, d, *, chunk_size=64, topics=16, span=256, coherence=0.9, strength=1.0,
    dtype=torch.bfloat16, device="cpu", seed=0,
):  # fmt: skip
    """Locally coherent q, k, v (see the module docstring); ``[B, H, N, D]`` tensors, drawn on
    the CPU so that a seed gives the same tensors on every device."""
    if not 0.0 <= coherence <= 1.0:
        raise ValueError(f"coherence must be in [0, 1]; got {coherence}")
    out_device, device = device, "cpu"
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(topics, d, generator=g, device=device)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True) * strength * math.sqrt(d)
    n_chunks = math.ceil(n / chunk_size)
    key_topic = torch.randint(topics, (B, hkv, n_chunks), generator=g, device=device)
    key_topic = key_topic.repeat_interleave(chunk_size, dim=-1)[..., :n]
    n_spans = math.ceil(n / span)
    span_topic = torch.randint(topics, (B, hkv, n_spans), generator=g, device=device)
    span_topic = span_topic.repeat_interleave(span, dim=-1)[..., :n]
    own = torch.randint(topics, (B, hkv, n), generator=g, device=device)
    keep = torch.rand(B, hkv, n, generator=g, device=device) < coherence
    query_topic = torch.where(keep, span_topic, own)
    group = hq // hkv
    k = dirs[key_topic] + torch.randn(B, hkv, n, d, generator=g, device=device)
    q = dirs[query_topic].repeat_interleave(group, dim=1)
    q = q + torch.randn(B, hq, n, d, generator=g, device=device)
    v = torch.randn(B, hkv, n, d, generator=g, device=device)
    return tuple(t.to(device=out_device, dtype=dtype) for t in (q, k, v))
