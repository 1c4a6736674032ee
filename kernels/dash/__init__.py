"""DashAttention Triton kernels: summarize (stage 1), route (stage 2), attend (stage 3)."""

from dashbench.kernels.dash.interface import dash_attention

__all__ = ["dash_attention"]
