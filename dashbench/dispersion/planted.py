"""Planted-needle inputs: one key per query row matches that query by a fixed logit margin.

The generator (seeded, drawn on the CPU in float64 so a seed gives the same tensors on every
device, then moved to the requested device and dtype):

* ``R`` query rows sit at the last ``R`` positions of an ``N``-token sequence:
  row ``r`` at position ``i_r = N - R + r``.
* Each (batch, KV head) draws ``R`` orthonormal directions ``u_0 ... u_{R-1}`` in ``R^D`` (QR of
  a Gaussian matrix; hence ``R <= D``). Every query head of the group gets the same query
  ``q_r = sqrt(D) * u_r``, so with the usual ``scale = 1 / sqrt(D)`` the logit of row ``r`` on
  key ``j`` is exactly ``u_r . k_j``.
* The needle of row ``r`` is the key at position ``n_r = floor(depth * (N - R)) + r`` (``R``
  consecutive keys at relative depth ``depth`` of the prefix; always before the query rows):
  ``k[n_r] = margin * u_r``. Its logit for row ``r`` is ``margin``; for the other rows it is 0
  (the directions are orthogonal), so other rows' needles are ordinary distractors.
* Every other key is a distractor: ``k_j = 0`` when ``distractor_std == 0`` (every distractor
  logit is exactly 0, the case with a closed form below), else ``k_j ~ N(0, std^2 I)``, so each
  distractor logit is an independent ``N(0, std^2)``: ``margin`` is then the needle's lead over
  the distractors' mean, not over their maximum (which grows like ``std * sqrt(2 ln N)``).
* Values are i.i.d. ``N(0, I)``; the needle's value is what a concentrated attention returns.

Closed forms for equal distractors (``n`` causal keys, one of them the needle):
softmax puts ``e^m / (e^m + n - 1)`` on the needle (:func:`softmax_needle_weight`), which falls
to zero as ``n`` grows: softmax is dispersive. 1.5-entmax puts weight 1 on it once ``m >= 2``
(the distractors fall below the threshold) and otherwise a weight that decreases towards
``m^2 / 4``, never to zero (:func:`entmax15_needle_weight`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class PlantedInputs:
    """Query rows, keys and values of one planted sequence.

    q: ``[B, Hq, R, D]`` (only the sampled rows); k, v: ``[B, Hkv, N, D]``;
    positions: ``[R]`` query positions; needle: ``[R]`` needle key position of each row (the
    same for every batch entry and head).
    """

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    positions: torch.Tensor
    needle: torch.Tensor
    margin: float
    distractor_std: float


def needle_positions(n: int, rows: int, depth: float) -> torch.Tensor:
    """``[rows]`` needle positions ``floor(depth * (n - rows)) + r`` (see the module docstring)."""
    start = math.floor(depth * (n - rows))
    return torch.arange(rows) + start


def check_planted(n: int, rows: int, head_dim: int, depth: float, margin: float, distractor_std: float) -> None:
    """Raise ``ValueError`` naming the problem unless these make a valid planted sequence."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1; got {rows}")
    if n <= rows:
        raise ValueError(f"length {n} must exceed the {rows} query rows (needles go before them)")
    if rows > head_dim:
        raise ValueError(f"{rows} query rows need {rows} orthogonal directions; head dim {head_dim} has fewer")
    if not 0.0 <= depth < 1.0:
        raise ValueError(f"depth must be in [0, 1); got {depth}")
    if not (margin >= 0.0 and math.isfinite(margin)):
        raise ValueError(f"margin must be a finite number >= 0 (the needle leads); got {margin}")
    if not (distractor_std >= 0.0 and math.isfinite(distractor_std)):
        raise ValueError(f"distractor_std must be >= 0; got {distractor_std}")


def planted_needle(
    n: int,
    rows: int,
    *,
    batch: int = 1,
    heads: tuple[int, int] = (1, 1),
    head_dim: int = 64,
    margin: float = 8.0,
    distractor_std: float = 0.0,
    depth: float = 0.5,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
) -> PlantedInputs:
    """The planted-needle sequence of the module docstring, ``n`` tokens, ``rows`` query rows."""
    hq, hkv = heads
    if hq < 1 or hkv < 1 or hq % hkv:
        raise ValueError(f"heads must be Hq/Hkv with Hq a multiple of Hkv; got {hq}/{hkv}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1; got {batch}")
    check_planted(n, rows, head_dim, depth, margin, distractor_std)
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    dirs = torch.linalg.qr(torch.randn(batch, hkv, head_dim, rows, generator=g, dtype=f64)).Q  # [B, Hkv, D, R]
    dirs = dirs.transpose(-1, -2)  # [B, Hkv, R, D], orthonormal rows
    q = (math.sqrt(head_dim) * dirs).repeat_interleave(hq // hkv, dim=1)
    if distractor_std > 0:
        k = distractor_std * torch.randn(batch, hkv, n, head_dim, generator=g, dtype=f64)
    else:
        k = torch.zeros(batch, hkv, n, head_dim, dtype=f64)
    needle = needle_positions(n, rows, depth)
    k[:, :, needle] = margin * dirs
    v = torch.randn(batch, hkv, n, head_dim, generator=g, dtype=f64)
    positions = torch.arange(n - rows, n)
    move = dict(device=device, dtype=dtype)
    return PlantedInputs(q.to(**move), k.to(**move), v.to(**move), positions.to(device), needle.to(device),
                         float(margin), float(distractor_std))  # fmt: skip


def softmax_needle_weight(margin: float, n: int | torch.Tensor) -> torch.Tensor:
    """Softmax weight on a needle ``margin`` above ``n - 1`` equal distractors:
    ``e^m / (e^m + n - 1)``, written as ``1 / (1 + (n - 1) e^-m)`` so large margins don't overflow."""
    n = torch.as_tensor(n, dtype=torch.float64)
    return 1.0 / (1.0 + (n - 1) * math.exp(-margin))


def entmax15_needle_weight(margin: float, n: int | torch.Tensor) -> torch.Tensor:
    """1.5-entmax weight on a needle ``margin`` above ``n - 1`` equal distractors.

    With ``x = z / 2`` (needle ``m / 2``, distractors 0) the threshold ``tau`` solves
    ``sum_j [x_j - tau]_+^2 = 1``. If ``m >= 2`` the needle alone reaches it (``tau = m/2 - 1 >=
    0``): weight 1. Otherwise every key is in the support and ``n tau^2 - m tau + m^2/4 - 1 = 0``,
    whose smaller root gives the weight ``(m/2 - tau)^2`` (``> m^2 / 4`` because ``tau < 0``)."""
    n = torch.as_tensor(n, dtype=torch.float64)
    if margin >= 2:
        return torch.ones_like(n)
    tau = (margin - torch.sqrt(4 * n - margin**2 * (n - 1))) / (2 * n)
    return (margin / 2 - tau) ** 2
