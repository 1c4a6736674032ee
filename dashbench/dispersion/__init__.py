"""Attention dispersion: how much weight a query can keep on the one relevant key as the context
grows, for dense softmax, 1.5-entmax, NSA, InfLLMv2 and DashAttention.

Modules: :mod:`.planted` (the needle generator and its closed forms), :mod:`.stats` (exact
per-query statistics streamed over key blocks), :mod:`.methods` (each method's distribution,
from the reference selections), :mod:`.runner` (the sweep and its run folder), :mod:`.fit`
(slopes against ln N and the dispersion criterion), :mod:`.report` (report.md / report.html),
:mod:`.cli` (``dashbench dispersion run|report``).
"""
