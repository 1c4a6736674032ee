"""Plain-PyTorch references: readable, differentiable by autograd, CPU and GPU."""

from dashbench.kernels.reference.attention import attention_reference, check_attention_inputs

__all__ = ["attention_reference", "check_attention_inputs"]
