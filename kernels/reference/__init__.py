"""Plain-PyTorch references: readable, differentiable by autograd, CPU and GPU."""

from dashbench.kernels.reference.attention import attention_reference, check_attention_inputs
from dashbench.kernels.reference.dash import (
    DashStats,
    calibrate_scaling,
    dash_attention_reference,
    dash_routing_stats,
)
from dashbench.kernels.reference.infllmv2 import InfLLMv2Config, infllmv2_reference, infllmv2_selection
from dashbench.kernels.reference.nsa import NSAConfig, NSAParams, nsa_reference

__all__ = [
    "DashStats",
    "attention_reference",
    "calibrate_scaling",
    "check_attention_inputs",
    "dash_attention_reference",
    "dash_routing_stats",
    "infllmv2_reference",
    "infllmv2_selection",
    "InfLLMv2Config",
    "NSAConfig",
    "NSAParams",
    "nsa_reference",
]
