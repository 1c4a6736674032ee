"""DashAttention in plain PyTorch: the ground truth for the Triton kernels.

Follows ``shared/specs/dashattention.md`` stage by stage:

1. chunk summaries ``S[h, c] = sum_t softmax_t(head_cls[h] . k_t * scale) k_t``;
2. routing ``p = entmax_1.5((scaling * q) . S * scale)`` over the chunks strictly before the
   query's own, averaged over the GQA group (``p_bar``); chunks with ``p_bar > 1e-20`` are active,
   and the query's own (diagonal) chunk always is;
3. token softmax over the keys of the active chunks, causal, with the log-prior bias.

It streams over blocks of queries (every stage is per query row once the summaries exist), so
memory stays ``O(block * N)`` and it can score any subset of rows through ``q_positions``: the
harness checks a slice of a 128k prefill, and decode is the last row of a prefill.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from entmax import entmax15
from torch.utils.checkpoint import checkpoint

from dashbench.kernels.reference.attention import check_attention_inputs

P_FLOOR = 1e-20  # p_bar at or below this is not active (keeps logs away from subnormals)
_SCORE_BUDGET = 32 * 1024 * 1024  # score elements held per query block


@dataclass
class DashStats:
    """Routing statistics of one call.

    active_chunks: ``[B, Hkv, Nq]`` chunks attended per token, the diagonal chunk included.
    token_density: ``[B, Hkv, Nq]`` keys attended over causal keys (``pos + 1``).
    compute_density: fraction of causal (query tile, KV chunk) pairs a kernel computes; ``None``
        for the reference, which computes exactly the per-token sets. Compare it with
        :attr:`pair_density`, the same fraction for (token, chunk) pairs: tiles that take the
        union of their tokens' chunks compute at least that much.
    attention_kernel: which kernel computed the attention stage (``"gluon-sm90"``, ``"triton"``;
        ``None`` for the reference).
    """

    active_chunks: torch.Tensor
    token_density: torch.Tensor
    compute_density: float | None = None
    positions: torch.Tensor | None = None
    chunk_size: int = 0
    attention_kernel: str | None = None

    @property
    def pair_density(self) -> float:
        """Routed (token, chunk) pairs over causal (token, chunk) pairs (chunks up to the own)."""
        own = torch.div(self.positions, self.chunk_size, rounding_mode="floor")
        causal = (own + 1).double().sum() * self.active_chunks.shape[0] * self.active_chunks.shape[1]
        return float(self.active_chunks.double().sum() / causal)

    @property
    def mean_density(self) -> float:
        """Mean token density over tokens and heads (the paper's sparsity is 1 minus this)."""
        return float(self.token_density.float().mean())


def check_dash_inputs(q, k, v, head_cls, chunk_size: int, check_values: bool = True) -> None:
    """Raise ``ValueError`` naming the problem unless the inputs are a valid DashAttention call."""
    check_attention_inputs(q, k, v)
    hkv, d = k.shape[1], k.shape[-1]
    if head_cls.shape != (hkv, d):
        raise ValueError(f"head_cls must be [Hkv, D] = [{hkv}, {d}]; got {tuple(head_cls.shape)}")
    if head_cls.device != k.device:
        raise ValueError(f"head_cls is on {head_cls.device}, k on {k.device}")
    # A value check syncs with the device: skip it while a CUDA graph is being captured.
    capturing = head_cls.is_cuda and torch.cuda.is_current_stream_capturing()
    if check_values and not capturing and not torch.isfinite(head_cls).all():
        raise ValueError("head_cls has non-finite entries")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive; got {chunk_size}")


def chunk_summaries(k: torch.Tensor, head_cls: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """Stage 1: ``[B, Hkv, n_chunks, D]`` softmax-pooled keys (the last chunk may be partial)."""
    B, H, N, D = k.shape
    n_chunks = math.ceil(N / chunk_size)
    pad = n_chunks * chunk_size - N
    scores = torch.einsum("bhnd,hd->bhn", k, head_cls.to(k.dtype)) / math.sqrt(D)
    scores = torch.nn.functional.pad(scores, (0, pad), value=float("-inf"))
    weights = torch.softmax(scores.view(B, H, n_chunks, chunk_size), dim=-1)
    keys = torch.nn.functional.pad(k, (0, 0, 0, pad)).view(B, H, n_chunks, chunk_size, D)
    return torch.einsum("bhct,bhctd->bhcd", weights, keys)


def route(
    q: torch.Tensor,  # [B, Hq, Nq, D], compute dtype
    summaries: torch.Tensor,  # [B, Hkv, n_chunks, D]
    positions: torch.Tensor,  # [Nq]
    chunk_size: int,
    scaling: float,
) -> torch.Tensor:
    """Stage 2: the GQA-mean 1.5-entmax routing probabilities ``p_bar`` ``[B, Hkv, Nq, n_chunks]``,
    zero on the diagonal chunk and after it."""
    B, Hq, Nq, D = q.shape
    Hkv, n_chunks = summaries.shape[1], summaries.shape[2]
    G = Hq // Hkv
    z = torch.matmul((scaling * q).reshape(B, Hkv, G * Nq, D), summaries.transpose(-1, -2))
    z = z.view(B, Hkv, G, Nq, n_chunks) / math.sqrt(D)
    own = torch.div(positions, chunk_size, rounding_mode="floor")
    candidate = torch.arange(n_chunks, device=q.device)[None, :] < own[:, None]  # [Nq, n_c]
    has_candidates = own > 0
    # Rows with no earlier chunk (tokens of chunk 0) get a dummy finite row, zeroed below.
    z = torch.where(candidate | ~has_candidates[:, None], z, float("-inf"))
    p = entmax15(z, dim=-1)
    p = torch.where(candidate, p, torch.zeros((), dtype=p.dtype, device=p.device))
    return p.mean(dim=2)


def routing_bias(
    p_bar: torch.Tensor,  # [B, Hkv, Nq, n_chunks]
    positions: torch.Tensor,
    chunk_size: int,
    sigma: float,
    estimate_diagonal: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-(token, chunk) log-prior bias and the active mask, both ``[B, Hkv, Nq, n_chunks]``.
    Inactive chunks get ``-inf``; the diagonal chunk gets 0."""
    n_chunks = p_bar.shape[-1]
    own = torch.div(positions, chunk_size, rounding_mode="floor")
    diagonal = torch.arange(n_chunks, device=p_bar.device)[None, :] == own[:, None]
    routed = p_bar > P_FLOOR
    log_p = torch.log(torch.where(routed, p_bar, torch.ones_like(p_bar)))  # 0 where not routed
    if estimate_diagonal:
        count = routed.sum(-1, keepdim=True)
        log_g = log_p.sum(-1, keepdim=True) / count.clamp(min=1)
        bias = (log_p - log_g) / sigma
    else:
        bias = log_p
    neg_inf = torch.full((), float("-inf"), dtype=bias.dtype, device=bias.device)
    bias = torch.where(routed, bias, neg_inf)
    bias = torch.where(diagonal, torch.zeros_like(bias), bias)
    return bias, routed | diagonal


def _block(q, k, v, summaries, positions, chunk_size, scaling, sigma, estimate_diagonal):
    """All three stages for one block of query rows. Returns (out, active mask)."""
    B, Hq, bq, D = q.shape
    Hkv, Nk = k.shape[1], k.shape[2]
    G = Hq // Hkv
    p_bar = route(q, summaries, positions, chunk_size, scaling)
    bias, active = routing_bias(p_bar, positions, chunk_size, sigma, estimate_diagonal)
    key_chunk = torch.arange(Nk, device=q.device) // chunk_size
    token_bias = bias[..., key_chunk]  # [B, Hkv, bq, Nk]
    causal = torch.arange(Nk, device=q.device)[None, :] > positions[:, None]
    token_bias = token_bias.masked_fill(causal, float("-inf"))
    scores = torch.matmul(q.reshape(B, Hkv, G * bq, D), k.transpose(-1, -2)) / math.sqrt(D)
    scores = scores.view(B, Hkv, G, bq, Nk) + token_bias[:, :, None]
    probs = torch.softmax(scores, dim=-1)
    out = torch.matmul(probs.view(B, Hkv, G * bq, Nk), v).view(B, Hq, bq, D)
    return out, active


def dash_attention_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    head_cls: torch.Tensor,
    *,
    chunk_size: int = 64,
    scaling: float = 1.0,
    sigma: float = 1.0,
    estimate_diagonal: bool = True,
    return_stats: bool = False,
    q_positions: torch.Tensor | None = None,
    compute_dtype: torch.dtype | None = torch.float32,
    block_q: int | None = None,
):
    """Causal DashAttention in plain PyTorch, differentiable in q, k, v and head_cls.

    Args:
        q: ``[B, Hq, Nq, D]``; k, v: ``[B, Hkv, Nk, D]``; head_cls: ``[Hkv, D]``.
        chunk_size: tokens per chunk ``C``.
        scaling: multiplies the routing scores only (the sparsity knob: larger, sparser).
        sigma: temperature of the prior; 1 keeps the full entmax prior, large flattens it.
        estimate_diagonal: re-centre the prior on the geometric mean of the routed chunks
            (see the spec); otherwise the bias is ``log p_bar``.
        return_stats: also return :class:`DashStats`.
        q_positions: ``[Nq]`` position of each query row among the keys; default the last
            ``Nq`` positions (``Nq == Nk``: a prefill; ``Nq == 1``: a decode step).
        compute_dtype: dtype of the arithmetic (fp32 default; fp64 for gradient checks).

    Returns:
        ``out`` ``[B, Hq, Nq, D]`` in ``compute_dtype``, or ``(out, stats)``.
    """
    check_dash_inputs(q, k, v, head_cls, chunk_size)
    B, Hq, Nq, D = q.shape
    Nk = k.shape[2]
    dtype = compute_dtype or q.dtype
    if q_positions is None:
        q_positions = torch.arange(Nk - Nq, Nk, device=q.device)
    elif q_positions.shape != (Nq,):
        raise ValueError(f"q_positions must have shape ({Nq},); got {tuple(q_positions.shape)}")
    q_positions = q_positions.to(q.device)
    qc, kc, vc = q.to(dtype), k.to(dtype), v.to(dtype)
    summaries = chunk_summaries(kc, head_cls.to(dtype), chunk_size)
    if block_q is None:
        per_row = B * Hq * (Nk + summaries.shape[2])
        block_q = max(1, min(Nq, _SCORE_BUDGET // per_row))
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v, head_cls))
    outs, actives = [], []
    for start in range(0, Nq, block_q):
        rows = slice(start, min(start + block_q, Nq))
        args = (qc[:, :, rows], kc, vc, summaries, q_positions[rows], chunk_size, scaling,
                sigma, estimate_diagonal)  # fmt: skip
        if grad and Nq > block_q:
            out, active = checkpoint(_block, *args, use_reentrant=False)
        else:
            out, active = _block(*args)
        outs.append(out)
        actives.append(active)
    out = torch.cat(outs, dim=2)
    if not return_stats:
        return out
    return out, _stats(torch.cat(actives, dim=2), q_positions, chunk_size, Nk)


def _stats(active: torch.Tensor, positions: torch.Tensor, chunk_size: int, n_keys: int) -> DashStats:
    """Active chunk counts and token density from the ``[B, Hkv, Nq, n_chunks]`` active mask."""
    own = torch.div(positions, chunk_size, rounding_mode="floor")
    earlier = active.clone()
    earlier[..., torch.arange(len(positions), device=active.device), own] = False
    diag_keys = positions - own * chunk_size + 1  # causal keys of the query's own chunk
    keys = earlier.sum(-1) * chunk_size + diag_keys
    return DashStats(
        active_chunks=active.sum(-1).to(torch.int32),
        token_density=keys.double() / (positions.double() + 1),
        positions=positions,
        chunk_size=chunk_size,
    )


def dash_routing_stats(
    q: torch.Tensor,
    k: torch.Tensor,
    head_cls: torch.Tensor,
    *,
    chunk_size: int = 64,
    scaling: float = 1.0,
    q_positions: torch.Tensor | None = None,
) -> DashStats:
    """Stages 1 and 2 only: which chunks each query row routes to, without attending.

    ``q_positions`` picks rows of a prefill (``q`` holds just those rows)."""
    check_dash_inputs(q, k, k, head_cls, chunk_size)
    Nq, Nk = q.shape[2], k.shape[2]
    positions = torch.arange(Nk - Nq, Nk, device=q.device) if q_positions is None else q_positions
    with torch.no_grad():
        qc, kc = q.float(), k.float()
        summaries = chunk_summaries(kc, head_cls.float(), chunk_size)
        per_row = q.shape[0] * q.shape[1] * summaries.shape[2]
        block = max(1, _SCORE_BUDGET // per_row)
        actives = []
        for start in range(0, Nq, block):
            rows = slice(start, min(start + block, Nq))
            p_bar = route(qc[:, :, rows], summaries, positions[rows], chunk_size, scaling)
            own = torch.div(positions[rows], chunk_size, rounding_mode="floor")
            diagonal = torch.arange(p_bar.shape[-1], device=q.device)[None, :] == own[:, None]
            actives.append((p_bar > P_FLOOR) | diagonal)
    return _stats(torch.cat(actives, dim=2), positions, chunk_size, Nk)


def calibrate_scaling(
    q: torch.Tensor,
    k: torch.Tensor,
    head_cls: torch.Tensor,
    target_density: float,
    *,
    chunk_size: int = 64,
    sample_rows: int = 512,
    iterations: int = 30,
    bounds: tuple[float, float] = (1e-3, 1e4),
    seed: int = 0,
    rows: torch.Tensor | None = None,
) -> float:
    """The ``scaling`` whose mean token density on these inputs is ``target_density``.

    Bisection on ``log(scaling)`` (density falls as scaling grows) over a seeded sample of query
    rows from the second chunk on (tokens of chunk 0 have density 1 whatever the scaling).
    When the target is out of reach (e.g. the union over many GQA heads keeps the density up)
    it warns, naming the reachable range, and returns the bound. ``rows`` (query positions)
    replaces the sample: ``rows=[N - 1]`` calibrates a decode step at the end of an ``N``-token
    cache, whose density is its own, not the prefill's mean. ``q`` is either the prefill's
    queries or just the queries of ``rows`` (a decode step's one query).
    """
    if not 0 < target_density <= 1:
        raise ValueError(f"target_density must be in (0, 1]; got {target_density}")
    N = k.shape[2]
    only_rows = rows is not None and q.shape[2] == torch.as_tensor(rows).numel() and q.shape[2] != N
    if q.shape[2] != N and not only_rows:
        raise ValueError("calibrate on a prefill (q and k of the same length), or pass the rows q holds")
    if rows is None:
        g = torch.Generator().manual_seed(seed)
        candidates = torch.arange(min(chunk_size, N - 1), N)
        pick = candidates[torch.randperm(len(candidates), generator=g)[:sample_rows]].sort().values
    else:
        pick = torch.as_tensor(rows).flatten().sort().values
        if pick.numel() == 0 or pick[0] < 0 or pick[-1] >= N:
            raise ValueError(f"rows must be non-empty query positions in [0, {N}); got {rows}")
    pick = pick.to(q.device)
    q_rows = q if only_rows else q[:, :, pick]

    def density(scaling: float) -> float:
        stats = dash_routing_stats(q_rows, k, head_cls, chunk_size=chunk_size, scaling=scaling,
                                   q_positions=pick)  # fmt: skip
        return stats.mean_density

    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    densest, sparsest = density(math.exp(lo)), density(math.exp(hi))
    if not sparsest <= target_density <= densest:
        warnings.warn(
            f"target density {target_density:.3g} is out of reach on these inputs: scaling in "
            f"[{bounds[0]:g}, {bounds[1]:g}] gives densities from {densest:.3g} down to "
            f"{sparsest:.3g}; returning the nearest bound",
            stacklevel=2,
        )
        return math.exp(lo) if target_density > densest else math.exp(hi)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if density(math.exp(mid)) > target_density:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)
