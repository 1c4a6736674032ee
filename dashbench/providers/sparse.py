"""Hierarchical-sparse providers: DashAttention, InfLLMv2 and NSA (Triton kernels, fla-core's
NSA kernel, and the PyTorch references).

Kernel benchmarks use fixed parameters: ``head_cls = 0`` (every chunk summary is its chunk's
mean key, as for a dense checkpoint converted to DashAttention), chunk 64, ``sigma = 1``, and
the routing ``scaling`` of :data:`DEFAULT_SCALING` until the suites set a target sparsity.
"""

from __future__ import annotations

import os

import torch

from dashbench.kernels.reference.dash import dash_attention_reference
from dashbench.kernels.reference.infllmv2 import InfLLMv2Config, infllmv2_reference
from dashbench.providers.registry import Capabilities, Probe, Provider, register

DEFAULT_SCALING = 1.0
CHUNK = 64


def _head_cls(k: torch.Tensor) -> torch.Tensor:
    return torch.zeros(k.shape[1], k.shape[-1], device=k.device, dtype=k.dtype)


def _triton_probe(impl: str) -> Probe:
    if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
        return Probe(False, "no CUDA device visible to PyTorch (TRITON_INTERPRET=1 runs it on the CPU)")
    import triton

    return Probe(True, impl=f"{impl} (triton {triton.__version__})")


class _DashBase(Provider):
    family = "hierarchical-sparse"

    def reference(self, q_rows, k, v, positions, compute_dtype):
        return dash_attention_reference(q_rows, k, v, _head_cls(k), chunk_size=CHUNK,
                                        scaling=DEFAULT_SCALING, q_positions=positions,
                                        compute_dtype=compute_dtype)  # fmt: skip


@register
class Dash(_DashBase):
    name = "dash"
    backend = "Triton"
    summary = "DashAttention Triton kernels: prefill, backward, split-KV decode"
    capabilities = Capabilities(
        frozenset({"fwd", "fwd+bwd", "decode"}), frozenset({"cuda"}), frozenset({"bf16", "fp16"}),
        frozenset({64, 128}), max_gqa_ratio=16,
    )  # fmt: skip

    def _probe(self) -> Probe:
        return _triton_probe("dashbench.kernels.dash_attention")

    def prepare(self, mode, q, k, v):
        from dashbench.kernels import DashCache, dash_attention, dash_decode

        w = _head_cls(k)
        if mode == "decode":
            # The cache (keys, values, chunk summaries) is built outside the timed region; a
            # step routes and attends for the query at the last position.
            cache = DashCache.from_prefill(k, v, w, chunk_size=CHUNK)
            return lambda: dash_decode(q, cache, scaling=DEFAULT_SCALING)
        return lambda: dash_attention(q, k, v, w, chunk_size=CHUNK, scaling=DEFAULT_SCALING)


@register
class DashReference(_DashBase):
    name = "dash-ref"
    backend = "PyTorch (eager, fp32 math)"
    summary = "DashAttention in plain PyTorch (entmax package for the routing): the ground truth"
    capabilities = Capabilities(
        frozenset({"fwd", "fwd+bwd", "decode"}), frozenset({"cpu", "cuda"}),
        frozenset({"bf16", "fp16", "fp32"}),
    )  # fmt: skip

    def prepare(self, mode, q, k, v):
        w = _head_cls(k)
        return lambda: dash_attention_reference(q, k, v, w, chunk_size=CHUNK,
                                                scaling=DEFAULT_SCALING).to(q.dtype)  # fmt: skip


# InfLLMv2 as DashAttention's authors compared against it: kernel 32 / stride 16, blocks of 64,
# 1 initial + 16 local blocks (window 1024), top-64, always sparse.
INFLLMV2 = InfLLMv2Config()


class _InfLLMv2Base(Provider):
    family = "hierarchical-sparse"

    def reference(self, q_rows, k, v, positions, compute_dtype):
        return infllmv2_reference(q_rows, k, v, INFLLMV2, q_positions=positions, compute_dtype=compute_dtype)

    def notes(self, mode, q, k):
        return f"topk={INFLLMV2.topk} blocks of {INFLLMV2.block_size} (incl. {INFLLMV2.forced_blocks} forced)"


@register
class InfLLMv2(_InfLLMv2Base):
    name = "infllmv2"
    backend = "Triton"
    summary = "InfLLMv2: Triton stage-1 block scores, top-k, DashAttention's block-sparse kernels"
    capabilities = Capabilities(
        frozenset({"fwd", "fwd+bwd", "decode"}), frozenset({"cuda"}), frozenset({"bf16", "fp16"}),
        frozenset({64, 128}), max_gqa_ratio=16,
    )  # fmt: skip

    def _probe(self) -> Probe:
        return _triton_probe("dashbench.kernels.infllmv2_attention")

    def prepare(self, mode, q, k, v):
        from dashbench.kernels import infllmv2_attention, infllmv2_decode

        if mode == "decode":
            from dashbench.kernels.reference.infllmv2 import compress_keys

            # The compressed keys belong to the cache (built outside the timed region).
            ck = compress_keys(k, INFLLMV2.kernel_size, INFLLMV2.kernel_stride)
            return lambda: infllmv2_decode(q, k, v, INFLLMV2, compressed_keys=ck)
        return lambda: infllmv2_attention(q, k, v, INFLLMV2)


@register
class InfLLMv2Reference(_InfLLMv2Base):
    name = "infllmv2-ref"
    backend = "PyTorch (eager, fp32 math)"
    summary = "InfLLMv2 in plain PyTorch: the ground truth"
    capabilities = Capabilities(
        frozenset({"fwd", "fwd+bwd", "decode"}), frozenset({"cpu", "cuda"}),
        frozenset({"bf16", "fp16", "fp32"}),
    )  # fmt: skip

    def prepare(self, mode, q, k, v):
        return lambda: infllmv2_reference(q, k, v, INFLLMV2).to(q.dtype)


# NSA: the paper's configuration by default (the suites pick dash-paper for comparisons);
# fixed seeded random parameters of the right shapes for kernel benchmarks.
NSA_CONFIG = None  # an NSAConfig to use instead of the paper's


def _nsa_config():
    from dashbench.kernels.reference.nsa import NSAConfig

    return NSA_CONFIG or NSAConfig.paper()


def _nsa_params(q, k):
    """Seeded random parameters, the same for every head: the harness checks a slice of the heads
    (one KV head and its group) against the reference, which must then see the same weights."""
    from dashbench.kernels.reference.nsa import NSAParams

    one = NSAParams.random(_nsa_config(), 1, 1, q.shape[-1], seed=0, device=q.device)
    per_kv_head = {"wk", "wv"}
    weights = {name: t.expand(k.shape[1], *t.shape[1:]) if name in per_kv_head else t
               for name, t in one.weights.items()}  # fmt: skip
    return NSAParams(one.gate.expand(q.shape[1], *one.gate.shape[1:]), weights)


class _NSABase(Provider):
    family = "hierarchical-sparse"

    def reference(self, q_rows, k, v, positions, compute_dtype):
        from dashbench.kernels.reference.nsa import nsa_reference

        return nsa_reference(q_rows, k, v, _nsa_params(q_rows, k), _nsa_config(), q_positions=positions,
                             compute_dtype=compute_dtype)  # fmt: skip

    def notes(self, mode, q, k):
        cfg = _nsa_config()
        return (f"NSA topk={cfg.topk} blocks of {cfg.block_size}, window {cfg.window}, compression "
                f"{cfg.cmp_size}/{cfg.cmp_stride} ({cfg.compression}); random parameters")  # fmt: skip


class _NSAKernels(_NSABase):
    backend = "Triton"
    selected_attention = "dash"
    capabilities = Capabilities(
        frozenset({"fwd", "fwd+bwd"}), frozenset({"cuda"}), frozenset({"bf16", "fp16"}), frozenset({64, 128}),
        max_gqa_ratio=16,
    )  # fmt: skip

    def prepare(self, mode, q, k, v):
        from dashbench.kernels.nsa import nsa_attention, nsa_compressed_cache, nsa_decode

        params = _nsa_params(q, k)
        cfg = _nsa_config()
        if mode == "decode":
            cache = nsa_compressed_cache(k, v, params, cfg)  # the cache's, outside the timed region
            return lambda: nsa_decode(q, k, v, params, cfg, compressed=cache)
        return lambda: nsa_attention(q, k, v, params, cfg, selected_attention=self.selected_attention)


@register
class NSA(_NSAKernels):
    name = "nsa"
    backend = "Triton (fla-core selected attention) + FlexAttention + dashbench selection"
    summary = "NSA: fla-core's selected-attention kernel fed dashbench's selection; GQA power of two >= 16"
    selected_attention = "fla"

    def _probe(self) -> Probe:
        # the missing package first: it is what a user can fix on any machine
        try:
            import fla  # noqa: F401
        except Exception as exc:  # noqa: BLE001
            return Probe(False, f"fla-core not importable ({type(exc).__name__}); `pip install fla-core` "
                                "(or `.[nsa]`); nsa-dash-kernels runs NSA without it")  # fmt: skip
        if not torch.cuda.is_available():
            return Probe(False, "no CUDA device visible to PyTorch (fla's NSA kernels are GPU-only)")
        from importlib.metadata import version

        return Probe(True, impl=f"fla-core {version('fla-core')} parallel NSA + dashbench selection")

    def refusal(self, mode, device, dtype, head_dim, gqa_ratio=1):
        if mode == "decode" and self.probe().available:
            return "fla-core has no NSA decode kernel; nsa-dash-kernels runs NSA decode"
        why = super().refusal(mode, device, dtype, head_dim, gqa_ratio)
        if why is None and (gqa_ratio < 16 or gqa_ratio & (gqa_ratio - 1)):
            why = (f"fla's NSA kernel needs a GQA ratio that is a power of two >= 16 (got {gqa_ratio}); "
                   "nsa-dash-kernels runs these shapes")  # fmt: skip
        return why


@register
class NSADashKernels(_NSAKernels):
    name = "nsa-dash-kernels"
    summary = "NSA with every stage on dashbench's kernels (block-sparse selected attention): any GQA ratio, decode"
    capabilities = Capabilities(
        frozenset({"fwd", "fwd+bwd", "decode"}), frozenset({"cuda"}), frozenset({"bf16", "fp16"}),
        frozenset({64, 128}), max_gqa_ratio=16,
    )  # fmt: skip

    def _probe(self) -> Probe:
        return _triton_probe("dashbench.kernels.nsa.nsa_attention")


@register
class NSAReference(_NSABase):
    name = "nsa-ref"
    backend = "PyTorch (eager, fp32 math)"
    summary = "NSA in plain PyTorch: the ground truth"
    capabilities = Capabilities(
        frozenset({"fwd", "fwd+bwd", "decode"}), frozenset({"cpu", "cuda"}), frozenset({"bf16", "fp16", "fp32"}),
    )  # fmt: skip

    def prepare(self, mode, q, k, v):
        from dashbench.kernels.reference.nsa import nsa_reference

        params = _nsa_params(q, k)
        return lambda: nsa_reference(q, k, v, params, _nsa_config()).to(q.dtype)
