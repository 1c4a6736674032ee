"""DashAttention Triton kernels: summarize (stage 1), route (stage 2), attend (stage 3), decode."""

from dashbench.kernels.dash.decode import DashCache, dash_decode
from dashbench.kernels.dash.interface import dash_attention

__all__ = ["DashCache", "dash_attention", "dash_decode"]
