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


DEFAULT_COHERENCE = 0.9
INPUT_KINDS = ("random", "structured", "structured:<coherence>", "captured:<file>")


def parse_inputs(text: str) -> str:
    """One ``--inputs`` entry, checked: ``random``, ``structured`` (coherence 0.9),
    ``structured:<coherence in [0, 1]>`` or ``captured:<file>`` (q, k, v saved by ``torch.save``
    as a dict of ``[B, H, N, D]`` tensors)."""
    kind, _, arg = text.strip().partition(":")
    if kind == "random" and not arg:
        return "random"
    if kind == "structured":
        if not arg:
            return "structured"
        try:
            coherence = float(arg)
        except ValueError:
            coherence = math.nan
        if not 0.0 <= coherence <= 1.0:
            raise ValueError(f"{text!r}: the coherence after 'structured:' must be a number in [0, 1]")
        return f"structured:{coherence:g}"
    if kind == "captured" and arg:
        return f"captured:{arg}"
    raise ValueError(f"{text!r}: expected one of {', '.join(INPUT_KINDS)}")


def make_qkv(kind: str, B, hq, hkv, n, d, *, dtype, device, seed=0):
    """q, k, v of the generator ``kind`` (see :func:`parse_inputs`) for a prefill of ``n`` tokens."""
    kind = parse_inputs(kind)
    if kind == "random":
        return random_qkv(B, hq, hkv, n, d, dtype=dtype, device=device, seed=seed)
    if kind.startswith("structured"):
        _, _, arg = kind.partition(":")
        coherence = float(arg) if arg else DEFAULT_COHERENCE
        return structured_qkv(B, hq, hkv, n, d, coherence=coherence, dtype=dtype, device=device, seed=seed)
    return captured_qkv(kind.partition(":")[2], B, hq, hkv, n, d, dtype=dtype, device=device)


def captured_qkv(path, B, hq, hkv, n, d, *, dtype, device):
    """The first ``n`` tokens of q, k, v saved from a model layer; the file's batch, heads and
    head dim must be the case's (a sweep over captured inputs takes its shape from the file)."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    try:
        q, k, v = saved["q"], saved["k"], saved["v"]
    except (TypeError, KeyError):
        raise ValueError(f"{path}: expected a dict with 'q', 'k', 'v' tensors") from None
    Bf, hqf, nf, df = q.shape
    if (Bf, hqf, k.shape[1], df) != (B, hq, hkv, d) or n > nf:
        raise ValueError(f"{path} holds B={Bf}, heads {hqf}/{k.shape[1]}, {nf} tokens, head dim {df}; the case "
                         f"asks for B={B}, heads {hq}/{hkv}, {n} tokens, head dim {d}")  # fmt: skip
    return tuple(t[:, :, :n].to(device=device, dtype=dtype) for t in (q, k, v))


def neighbour_agreement(q: torch.Tensor, k: torch.Tensor, chunk_size: int = 64) -> float:
    """How coherent routing is: the fraction of adjacent query tokens (first query head of each
    KV head's group) whose best earlier chunk, scored against the chunk's mean key, is the same.
    ``random`` inputs give about 1 / (number of chunks); trained models' layers are far higher."""
    B, hq, n, d = q.shape
    hkv = k.shape[1]
    n_chunks = n // chunk_size
    if n_chunks < 2:
        raise ValueError(f"need at least two chunks of {chunk_size} tokens; got {n} tokens")
    means = k[:, :, : n_chunks * chunk_size].float().reshape(B, hkv, n_chunks, chunk_size, d).mean(3)
    rows = q[:, :: hq // hkv, chunk_size : n_chunks * chunk_size].float()  # queries with an earlier chunk
    scores = rows @ means.transpose(-1, -2)  # [B, Hkv, rows, chunks]
    pos = torch.arange(chunk_size, n_chunks * chunk_size, device=q.device)
    later = torch.arange(n_chunks, device=q.device)[None, :] >= (pos // chunk_size)[:, None]
    best = scores.masked_fill(later, float("-inf")).argmax(-1)
    return float((best[..., 1:] == best[..., :-1]).float().mean())
