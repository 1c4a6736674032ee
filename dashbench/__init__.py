"""dashbench: fast, differentiable, adaptively sparse attention, and benchmarks that test it."""

__version__ = "0.1.0"
