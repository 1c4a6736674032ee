"""Triton kernels of dashbench, imported as ``dashbench.kernels``.

Each kernel has a plain-PyTorch reference in :mod:`dashbench.kernels.reference`; tests compare
the two on random inputs.
"""

from dashbench.kernels.dash import DashCache, dash_attention, dash_decode
from dashbench.kernels.infllmv2 import infllmv2_attention, infllmv2_decode
from dashbench.kernels.reference.dash import DashStats, calibrate_scaling
from dashbench.kernels.reference.infllmv2 import InfLLMv2Config

__all__ = [
    "DashCache",
    "DashStats",
    "InfLLMv2Config",
    "calibrate_scaling",
    "dash_attention",
    "dash_decode",
    "infllmv2_attention",
    "infllmv2_decode",
]
