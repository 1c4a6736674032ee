"""Plain-PyTorch references: readable, differentiable by autograd, CPU and GPU."""

from dashbench.kernels.reference.attention import attention_reference, check_attention_inputs
from dashbench.kernels.reference.dash import (
    DashStats,
    calibrate_scaling,
    dash_attention_reference,
    dash_routing_stats,
)

__all__ = [
    "DashStats",
    "attention_reference",
    "calibrate_scaling",
    "check_attention_inputs",
    "dash_attention_reference",
    "dash_routing_stats",
]
