"""Triton kernels of dashbench, imported as ``dashbench.kernels``.

Each kernel has a plain-PyTorch reference in :mod:`dashbench.kernels.reference`; tests compare
the two on random inputs.
"""
