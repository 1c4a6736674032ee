"""Triton kernels of dashbench, imported as ``dashbench.kernels``.

Each kernel has a plain-PyTorch reference in :mod:`dashbench.kernels.reference`; tests compare
the two on random inputs.
"""

from dashbench.kernels.dash import DashCache, dash_attention, dash_decode
from dashbench.kernels.reference.dash import DashStats, calibrate_scaling

__all__ = ["DashCache", "DashStats", "calibrate_scaling", "dash_attention", "dash_decode"]
