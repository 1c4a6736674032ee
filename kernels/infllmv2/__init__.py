"""InfLLMv2 through Triton: stage-1 block scores, top-k selection, and the block-sparse
attention shared with DashAttention."""

from dashbench.kernels.infllmv2.interface import infllmv2_attention, infllmv2_decode, infllmv2_select

__all__ = ["infllmv2_attention", "infllmv2_decode", "infllmv2_select"]
