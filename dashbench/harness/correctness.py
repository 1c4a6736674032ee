"""Check a provider against the plain-PyTorch reference on a slice, before it is timed.

Two slices are checked, batch 0 with the query heads of KV head 0 and the last batch with those
of the last KV head, each on a sample of query rows (the first, the last, and random ones
between), so the check costs little even at 128k. The reference
runs in float64. The tolerance scales with the rounding error of the same reference computed
in the case's own dtype (FlashAttention's rule): ``tol = 2 * err_lowp + ATOL[dtype]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dashbench.kernels.reference import attention_reference

ATOL = {"fp32": 1e-3, "bf16": 5e-3, "fp16": 1e-3}
_ROWS_EDGE = 64
_ROWS_RANDOM = 128


@dataclass(frozen=True)
class CheckResult:
    rel_err: float  # output, relative L2 error against the float64 reference
    tol: float
    rel_err_grad: float | None = None  # dq on the slice (fwd+bwd only)
    tol_grad: float | None = None

    @property
    def passed(self) -> bool:
        ok = _within(self.rel_err, self.tol)
        if self.rel_err_grad is not None:
            ok = ok and _within(self.rel_err_grad, self.tol_grad)
        return ok


def _within(err: float, tol: float) -> bool:
    return err == err and err <= tol  # NaN never passes


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    out, ref = out.double(), ref.double()
    if not torch.isfinite(out).all():
        return float("nan")
    denom = ref.norm().item()
    return (out - ref).norm().item() / (denom if denom > 0 else 1.0)


def sample_rows(n: int, seed: int = 0) -> torch.Tensor:
    """Sorted query rows to check: the first and last ``_ROWS_EDGE`` and random ones between."""
    if n <= 2 * _ROWS_EDGE + _ROWS_RANDOM:
        return torch.arange(n)
    g = torch.Generator().manual_seed(seed)
    middle = torch.randperm(n - 2 * _ROWS_EDGE, generator=g)[:_ROWS_RANDOM] + _ROWS_EDGE
    edges = torch.cat([torch.arange(_ROWS_EDGE), torch.arange(n - _ROWS_EDGE, n)])
    return torch.cat([edges, middle]).sort().values


def dense_reference(q_rows, k, v, positions, compute_dtype):
    return attention_reference(q_rows, k, v, q_positions=positions, compute_dtype=compute_dtype)


def _reference_on_rows(reference, q, k, v, rows, positions, do, compute_dtype):
    """Reference output (and dq if ``do`` is given) for the chosen rows of the slice."""
    q_rows = q[:, :, rows].detach().clone().requires_grad_(do is not None)
    with torch.enable_grad() if do is not None else torch.no_grad():
        out = reference(q_rows, k.detach(), v.detach(), positions, compute_dtype)
        dq = None
        if do is not None:
            (dq,) = torch.autograd.grad(out, q_rows, do.to(out.dtype))
    return out.detach(), dq


def check_against_reference(
    out: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    dtype_name: str,
    do: torch.Tensor | None = None,
    dq: torch.Tensor | None = None,
    reference=dense_reference,
) -> CheckResult:
    """Compare ``out`` (and ``dq`` for the upstream gradient ``do``) with the reference.

    ``q`` is ``[B, Hq, Nq, D]``; its rows are the last ``Nq`` positions of the ``Nk`` keys.
    ``reference(q_rows, k, v, positions, compute_dtype)`` computes the method's function on a
    subset of query rows (dense causal attention by default).
    """
    groups = q.shape[1] // k.shape[1]
    n_q, n_k = q.shape[2], k.shape[2]
    rows = sample_rows(n_q).to(q.device)
    positions = rows + (n_k - n_q)
    # Two slices: batch 0 / KV head 0 and the last batch / last KV head, so offsets that go
    # wrong only past the first head or batch are caught too. The worst slice is reported.
    slices = {(0, 0), (q.shape[0] - 1, k.shape[1] - 1)}
    results = []
    for b, h in sorted(slices):
        sl = (slice(b, b + 1), slice(h * groups, (h + 1) * groups))
        kv = (slice(b, b + 1), slice(h, h + 1))
        qs, ks, vs = q[sl], k[kv], v[kv]
        do_rows = None if do is None else do[sl][:, :, rows]
        ref, ref_dq = _reference_on_rows(reference, qs, ks, vs, rows, positions, do_rows, torch.float64)
        low, low_dq = _reference_on_rows(reference, qs, ks, vs, rows, positions, do_rows, None)
        atol = ATOL[dtype_name]
        err = relative_error(out[sl][:, :, rows], ref)
        tol = 2 * relative_error(low, ref) + atol
        if do is None:
            results.append(CheckResult(err, tol))
        else:
            err_dq = relative_error(dq[sl][:, :, rows], ref_dq)
            tol_dq = 2 * relative_error(low_dq, ref_dq) + atol
            results.append(CheckResult(err, tol, err_dq, tol_dq))
    failing = [r for r in results if not r.passed]
    return failing[0] if failing else max(results, key=lambda r: r.rel_err / r.tol)
