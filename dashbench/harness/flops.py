"""Exact work counts for causal attention, so TFLOP/s and GB/s mean what they say."""

from __future__ import annotations

from dashbench.harness.cases import Case
from dashbench.providers.registry import DTYPES

# Matrix products per attended (query, key) pair, each 2*D flops: QK^T and PV forward;
# backward recomputes QK^T and adds dV, dP, dQ, dK (FlashAttention's 2.5x forward).
_MATMULS = {"fwd": 2, "fwd+bwd": 2 + 5, "decode": 2}


def causal_pairs(n_q: int, n_k: int) -> int:
    """Attended (query, key) pairs with queries bottom-right aligned to the keys: query ``i`` of
    ``n_q`` sits at position ``n_k - n_q + i`` and sees keys ``0..that position``."""
    if n_q > n_k:
        raise ValueError(f"more queries ({n_q}) than keys ({n_k})")
    first = n_k - n_q + 1  # keys seen by the first query
    return n_q * first + n_q * (n_q - 1) // 2


def attention_flops(case: Case) -> int:
    s = case.shape
    n_q = 1 if case.mode == "decode" else s.seqlen
    pairs = causal_pairs(n_q, s.seqlen)
    return _MATMULS[case.mode] * 2 * s.head_dim * pairs * s.batch * s.heads_q


def min_bytes(case: Case) -> int:
    """Fewest bytes a kernel must move: each input read once, each output written once."""
    s = case.shape
    elem = DTYPES[case.dtype].itemsize
    n_q = 1 if case.mode == "decode" else s.seqlen
    q_or_o = s.batch * s.heads_q * n_q * s.head_dim
    k_or_v = s.batch * s.heads_kv * s.seqlen * s.head_dim
    tensors = 2 * q_or_o + 2 * k_or_v  # q, o, k, v
    if case.mode == "fwd+bwd":
        tensors *= 2  # + do, dq, dk, dv (saved o and q,k,v re-read are not counted)
    return tensors * elem
