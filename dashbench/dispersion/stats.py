"""Exact per-query statistics of a token-level attention distribution, streamed over key blocks.

Every method measured here gives each query row (per query head) a distribution over its causal
keys ``j <= i`` of one of two forms, over logits ``s_j = q . k_j * scale + b_j`` where the bias
``b_j`` is constant per unit of ``unit`` keys (a DashAttention chunk or a top-k block): ``-inf``
for keys the method does not attend, DashAttention's log-prior for routed chunks, 0 otherwise:

* ``softmax``: ``a_j = exp(s_j - lse)``;
* ``entmax15``: ``a_j = [s_j / 2 - tau]_+^2`` with ``tau`` such that the weights sum to 1.

Nothing of size ``N x N`` (nor rows x ``N``) is ever held: the keys are visited in blocks of
``block_k``, the logits of one block recomputed on every pass.

* softmax: one online pass (running max and rescaled sum) gives ``lse``; a second pass computes
  the weights exactly (``log a_j = s_j - lse``) and accumulates the statistics.
* 1.5-entmax: a pass for the max ``m`` of ``x = s / 2`` brackets ``tau`` in ``[m - 1, m]``;
  each further pass evaluates ``f(tau) = sum_j [x_j - tau]_+^2`` (and how many keys lie above
  ``tau``) at 31 points of every row's bracket at once (the bracket shrinks 31-fold per pass)
  until no key lies inside the bracket (the support is then known) or it is a few ulps wide;
  one more pass gathers ``count, sum y, sum y^2`` of ``y = x - m`` over the keys above the bracket's low
  end (the support), and ``tau`` is the exact root of ``sum (y - tau)^2 = 1`` on it; a last
  pass computes the weights and the statistics.

Statistics per query head and row (``[B, Hq, R]``):

* ``entropy`` ``H = -sum_j a_j log a_j`` (nats); ``normalized_entropy`` ``H / log(i + 1)``
  (1 for uniform attention over the causal prefix; undefined at position 0);
  ``effective_support`` ``exp(H)`` (the number of keys a uniform distribution of that entropy
  spreads over);
* ``max_weight``; ``support``: keys with non-zero weight (exact: every allowed key for softmax,
  ``x_j > tau`` for entmax); ``mass``: ``sum_j a_j`` (1 to rounding: a check);
* ``out = sum_j a_j v_j``; ``needle_weight``: ``a`` at a given key per row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SOFTMAX = "softmax"
ENTMAX15 = "entmax15"
NORMALIZERS = (SOFTMAX, ENTMAX15)

_ELEMENTS = 1 << 23  # logits held per key block (64 MiB in float64)
_POINTS = 31  # trial thresholds per bisection pass
_MAX_PASSES = 16


@dataclass
class TokenStats:
    """Statistics of one method's token-level distribution, per query head and row.

    ``entropy``, ``max_weight``, ``support``, ``mass``: ``[B, Hq, R]``; ``out``: ``[B, Hq, R, D]``;
    ``needle_weight``: ``[B, Hq, R]`` or ``None``; ``positions``: ``[R]``.
    """

    entropy: torch.Tensor
    max_weight: torch.Tensor
    support: torch.Tensor
    mass: torch.Tensor
    out: torch.Tensor
    positions: torch.Tensor
    needle_weight: torch.Tensor | None = None

    @property
    def normalized_entropy(self) -> torch.Tensor:
        """``H / log(i + 1)``: 1 for uniform attention over the causal prefix, NaN at ``i = 0``."""
        denom = torch.log(self.positions.to(self.entropy.dtype) + 1)
        return self.entropy / torch.where(denom > 0, denom, torch.nan)

    @property
    def effective_support(self) -> torch.Tensor:
        """``exp(H)``: how many keys a uniform distribution of the same entropy covers."""
        return torch.exp(self.entropy)

    def needle_cosine(self, v_needle: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of ``out`` to the needle's value, ``v_needle`` ``[B, Hq, R, D]``."""
        return torch.nn.functional.cosine_similarity(self.out, v_needle.to(self.out.dtype), dim=-1)


def _check(q, k, v, positions, normalizer, bias, unit, needle) -> None:
    if normalizer not in NORMALIZERS:
        raise ValueError(f"normalizer must be one of {NORMALIZERS}; got {normalizer!r}")
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.dim() != 4:
            raise ValueError(f"{name} must be [B, H, N, D]; got shape {tuple(t.shape)}")
    if k.shape != v.shape:
        raise ValueError(f"k and v must have the same shape; got {tuple(k.shape)} and {tuple(v.shape)}")
    B, Hq, R, D = q.shape
    if k.shape[0] != B or k.shape[-1] != D or Hq % k.shape[1]:
        raise ValueError(f"q {tuple(q.shape)} does not fit k {tuple(k.shape)} (batch, head dim, GQA)")
    if positions.shape != (R,):
        raise ValueError(f"positions must have shape ({R},); got {tuple(positions.shape)}")
    if R and (int(positions.min()) < 0 or int(positions.max()) >= k.shape[2]):
        raise ValueError(f"positions must lie in [0, {k.shape[2]}); got {positions.min()}..{positions.max()}")
    if bias is not None:
        if unit is None or unit < 1:
            raise ValueError("a bias needs its unit (keys per bias entry), a positive integer")
        n_units = -(-k.shape[2] // unit)
        if bias.shape != (B, k.shape[1], R, n_units):
            raise ValueError(f"bias must be [B, Hkv, R, ceil(N / unit)] = {(B, k.shape[1], R, n_units)}; "
                             f"got {tuple(bias.shape)}")  # fmt: skip
    if needle is not None:
        if needle.shape != (R,):
            raise ValueError(f"needle must have shape ({R},); got {tuple(needle.shape)}")
        if bool((needle > positions).any()) or bool((needle < 0).any()):
            raise ValueError("each needle must be a causal key of its row (0 <= needle <= position)")


class _Logits:
    """Logits of every query row on one block of keys: ``[B, Hkv, G, R, bk]``, ``-inf`` where
    masked (causal or biased out)."""

    def __init__(self, q, k, positions, bias, unit, scale):
        B, Hq, R, D = q.shape
        self.Hkv = k.shape[1]
        self.G = Hq // self.Hkv
        self.q = q.reshape(B, self.Hkv, self.G * R, D)
        self.k, self.positions, self.bias, self.unit, self.scale = k, positions, bias, unit, scale
        self.shape = (B, self.Hkv, self.G, R)

    def __call__(self, j0: int, j1: int) -> torch.Tensor:
        s = torch.matmul(self.q, self.k[:, :, j0:j1].transpose(-1, -2)) * self.scale
        s = s.view(*self.shape, j1 - j0)
        keys = torch.arange(j0, j1, device=s.device)
        if self.bias is not None:
            s = s + self.bias[..., keys // self.unit][:, :, None]
        return s.masked_fill(keys[None, :] > self.positions[:, None], float("-inf"))


def _blocks(n_keys: int, size: int):
    for j0 in range(0, n_keys, size):
        yield j0, min(j0 + size, n_keys)


def _softmax_lse(logits: _Logits, n_keys: int, block: int) -> torch.Tensor:
    """Online log-sum-exp over the key blocks (one pass)."""
    m = torch.full(logits.shape, float("-inf"), dtype=logits.q.dtype, device=logits.q.device)
    total = torch.zeros_like(m)
    for j0, j1 in _blocks(n_keys, block):
        s = logits(j0, j1)
        new = torch.maximum(m, s.amax(-1))
        safe = torch.where(torch.isfinite(new), new, torch.zeros_like(new))
        total = total * torch.exp(m - safe) + torch.exp(s - safe[..., None]).sum(-1)
        m = new
    return m + torch.log(total)


def _entmax15_tau(logits: _Logits, n_keys: int, block: int) -> torch.Tensor:
    """The exact 1.5-entmax threshold of ``x = s / 2`` per row (see the module docstring)."""
    m = torch.full(logits.shape, float("-inf"), dtype=logits.q.dtype, device=logits.q.device)
    for j0, j1 in _blocks(n_keys, block):
        m = torch.maximum(m, logits(j0, j1).amax(-1) / 2)
    tol = 4 * torch.finfo(m.dtype).eps * torch.clamp(m.abs(), min=1.0)
    lo, hi = m - 1 - tol, m.clone()  # f(lo) >= 1 (the max alone gives 1), f(hi) = 0 < 1
    n_lo = torch.full_like(m, -1.0)  # keys above lo (unknown until a pass) and above hi (none)
    n_hi = torch.zeros_like(m)
    # The points include lo itself, so the first pass counts the keys above it.
    frac = torch.arange(0, _POINTS, dtype=m.dtype, device=m.device) / _POINTS
    small = max(1, block // _POINTS)
    for _ in range(_MAX_PASSES):
        # Done when no key lies in (lo, hi]: the support {x > tau} is then {x > lo}, known exactly.
        if bool(((n_lo == n_hi) | ((hi - lo) <= tol)).all()):
            break
        taus = lo[..., None] + (hi - lo)[..., None] * frac  # [..., T]
        f = torch.zeros_like(taus)
        above_t = torch.zeros_like(taus)
        for j0, j1 in _blocks(n_keys, small):
            gap = logits(j0, j1)[..., :, None] / 2 - taus[..., None, :]
            f += torch.clamp(gap, min=0).square().sum(-2)
            above_t += (gap > 0).sum(-2)
        ok = (f >= 1).sum(-1, keepdim=True)  # f falls with tau: the first `ok` points keep f >= 1
        i_lo, i_hi = (ok - 1).clamp(min=0), ok.clamp(max=_POINTS - 1)
        lo = torch.where(ok > 0, taus.gather(-1, i_lo), lo[..., None])[..., 0]
        n_lo = torch.where(ok > 0, above_t.gather(-1, i_lo), n_lo[..., None])[..., 0]
        hi = torch.where(ok < _POINTS, taus.gather(-1, i_hi), hi[..., None])[..., 0]
        n_hi = torch.where(ok < _POINTS, above_t.gather(-1, i_hi), n_hi[..., None])[..., 0]
    # Exact finish on the support {x > lo}: n tau'^2 - 2 S1 tau' + S2 - 1 = 0 in y = x - m, tau' = tau - m.
    count, s1, s2 = (torch.zeros_like(m) for _ in range(3))
    for j0, j1 in _blocks(n_keys, block):
        x = logits(j0, j1) / 2
        inside = x > lo[..., None]
        y = torch.where(inside, x - m[..., None], torch.zeros_like(x))
        count += inside.sum(-1)
        s1 += y.sum(-1)
        s2 += y.square().sum(-1)
    disc = torch.clamp(s1.square() - count * (s2 - 1), min=0)
    tau = m + (s1 - torch.sqrt(disc)) / count.clamp(min=1)
    return torch.minimum(torch.maximum(tau, lo), hi)  # the root lies in the bracket; rounding aside


def streamed_token_stats(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    positions: torch.Tensor,
    *,
    normalizer: str = SOFTMAX,
    bias: torch.Tensor | None = None,
    unit: int | None = None,
    needle: torch.Tensor | None = None,
    scale: float | None = None,
    block_k: int | None = None,
) -> TokenStats:
    """Exact statistics of the token-level distribution of each query row, streamed over keys.

    Args:
        q: ``[B, Hq, R, D]`` query rows; k, v: ``[B, Hkv, N, D]`` (GQA: ``Hq % Hkv == 0``). The
            arithmetic is in q's dtype (float64 for checks, float32 for speed).
        positions: ``[R]`` position of each row among the keys; keys after it are masked.
        normalizer: ``"softmax"`` or ``"entmax15"``.
        bias: ``[B, Hkv, R, ceil(N / unit)]`` added to the logits of each unit of ``unit`` keys;
            ``-inf`` removes the unit. Every row must keep at least one causal key.
        needle: ``[R]`` a key per row whose weight is reported.
        scale: logit scale, default ``1 / sqrt(D)``.
        block_k: keys per block; default keeps a block's logits near 8M elements.
    """
    _check(q, k, v, positions, normalizer, bias, unit, needle)
    B, Hq, R, D = q.shape
    Hkv = k.shape[1]
    G = Hq // Hkv
    positions = positions.to(q.device)
    needle = None if needle is None else needle.to(q.device)
    scale = 1.0 / math.sqrt(D) if scale is None else float(scale)
    n_keys = int(positions.max()) + 1
    block = block_k or max(1, _ELEMENTS // max(1, B * Hq * R))
    logits = _Logits(q, k, positions, bias, unit, scale)
    if normalizer == SOFTMAX:
        lse = _softmax_lse(logits, n_keys, block)
    else:
        tau = _entmax15_tau(logits, n_keys, block)

    shape = (B, Hkv, G, R)
    entropy = q.new_zeros(shape)
    max_w = q.new_zeros(shape)
    support = q.new_zeros(shape)
    mass = q.new_zeros(shape)
    needle_w = q.new_zeros(shape)
    out = q.new_zeros(B, Hkv, G * R, D)
    for j0, j1 in _blocks(n_keys, block):
        s = logits(j0, j1)
        if normalizer == SOFTMAX:
            log_w = s - lse[..., None]
            keep = torch.isfinite(s)
            w = torch.exp(log_w)
        else:
            gap = s / 2 - tau[..., None]
            keep = gap > 0
            gap = torch.where(keep, gap, torch.ones_like(gap))  # no log of 0 (masked below)
            w = torch.where(keep, gap.square(), torch.zeros_like(gap))
            log_w = 2 * torch.log(gap)
        entropy -= torch.where(keep, w * log_w, torch.zeros_like(w)).sum(-1)
        max_w = torch.maximum(max_w, w.amax(-1))
        support += keep.sum(-1)
        mass += w.sum(-1)
        out += torch.matmul(w.view(B, Hkv, G * R, j1 - j0), v[:, :, j0:j1])
        if needle is not None:
            here = (needle >= j0) & (needle < j1)  # [R]
            idx = (needle - j0).clamp(0, j1 - j0 - 1).view(1, 1, 1, R, 1).expand(*shape, 1)
            needle_w += torch.where(here, w.gather(-1, idx)[..., 0], torch.zeros_like(needle_w))

    def flat(t):
        return t.reshape(B, Hq, R)

    return TokenStats(
        entropy=flat(entropy), max_weight=flat(max_w), support=flat(support), mass=flat(mass),
        out=out.view(B, Hq, R, D), positions=positions,
        needle_weight=None if needle is None else flat(needle_w),
    )  # fmt: skip


def stats_from_weights(weights: torch.Tensor, v: torch.Tensor, positions: torch.Tensor,
                       needle: torch.Tensor | None = None) -> TokenStats:  # fmt: skip
    """The same statistics from an explicit ``[B, Hq, R, N]`` weight matrix (rows sum to 1, zero
    off the support): the oracle the streamed version is tested against on tiny inputs."""
    B, Hq, R, N = weights.shape
    Hkv = v.shape[1]
    keep = weights > 0
    logw = torch.log(torch.where(keep, weights, torch.ones_like(weights)))
    vq = v.to(weights.dtype).repeat_interleave(Hq // Hkv, dim=1)
    return TokenStats(
        entropy=-(weights * logw).sum(-1), max_weight=weights.amax(-1), support=keep.sum(-1).to(weights.dtype),
        mass=weights.sum(-1), out=torch.matmul(weights, vq), positions=positions,
        needle_weight=None if needle is None else weights[..., torch.arange(R), needle],
    )  # fmt: skip
