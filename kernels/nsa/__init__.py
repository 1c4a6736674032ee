"""NSA through kernels: our compression, selection and block-sparse attention, or fla-core's
selected-attention kernel where its shape constraints allow."""

from dashbench.kernels.nsa.interface import (
    fla_refusal,
    nsa_attention,
    nsa_compressed_cache,
    nsa_decode,
    nsa_select,
)

__all__ = ["fla_refusal", "nsa_attention", "nsa_compressed_cache", "nsa_decode", "nsa_select"]
