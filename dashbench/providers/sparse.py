"""Hierarchical-sparse providers: DashAttention, InfLLMv2 and NSA (Triton kernels, fla-core's
NSA kernel, and the PyTorch references).

Kernel benchmarks use fixed parameters: ``head_cls = 0`` (every chunk summary is its chunk's
mean key, as for a dense checkpoint converted to DashAttention), chunk 64, ``sigma = 1``.
A case with a target sparsity gets its knob from :meth:`configure` on the case's own inputs
(DashAttention: ``scaling`` calibrated; InfLLMv2 and NSA: ``topk`` from ``dashbench.sparsity``,
for the prefill's mean density or, in decode, the step's own); without one, each method runs
its default configuration (``scaling`` :data:`DEFAULT_SCALING`, the papers' top-k).
"""

from __future__ import annotations

import os
from dataclasses import replace

import torch

from dashbench.kernels.reference.dash import dash_attention_reference
from dashbench.kernels.reference.infllmv2 import InfLLMv2Config, infllmv2_reference
from dashbench.providers.registry import Capabilities, Probe, Provider, register

DEFAULT_SCALING = 1.0
CHUNK = 64
# the Triton kernels (any mode, GPU, half precision, the kernels' head dims and GQA ratios) and
# the PyTorch references (anything, anywhere: slow)
KERNEL_CAPS = Capabilities(
    frozenset({"fwd", "fwd+bwd", "decode"}), frozenset({"cuda"}), frozenset({"bf16", "fp16"}),
    frozenset({64, 128}), max_gqa_ratio=16,
)  # fmt: skip
REFERENCE_CAPS = Capabilities(
    frozenset({"fwd", "fwd+bwd", "decode"}), frozenset({"cpu", "cuda"}), frozenset({"bf16", "fp16", "fp32"}),
)  # fmt: skip


def _head_cls(k: torch.Tensor) -> torch.Tensor:
    return torch.zeros(k.shape[1], k.shape[-1], device=k.device, dtype=k.dtype)


def _triton_probe(impl: str) -> Probe:
    if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
        return Probe(False, "no CUDA device visible to PyTorch (TRITON_INTERPRET=1 runs it on the CPU)")
    import triton

    return Probe(True, impl=f"{impl} (triton {triton.__version__})")


def _over(mode: str) -> str:
    """Which density a target sparsity sets: a decode step's own, or a prefill's mean."""
    return "last" if mode == "decode" else "prefill"


class _DashBase(Provider):
    family = "hierarchical-sparse"
    chunked = True

    def configure(self, mode, q, k, v, sparsity, chunk_size=CHUNK):
        from dashbench.kernels.reference.dash import calibrate_scaling

        rows = torch.tensor([k.shape[2] - 1]) if mode == "decode" else None
        with torch.no_grad():
            scaling = calibrate_scaling(q.detach(), k.detach(), _head_cls(k), 1 - sparsity, chunk_size=chunk_size,
                                        rows=rows)  # fmt: skip
        return {"scaling": scaling, "chunk_size": chunk_size}

    def reference(self, q_rows, k, v, positions, compute_dtype, scaling=DEFAULT_SCALING, chunk_size=CHUNK):
        return dash_attention_reference(q_rows, k, v, _head_cls(k), chunk_size=chunk_size,
                                        scaling=scaling, q_positions=positions,
                                        compute_dtype=compute_dtype)  # fmt: skip

    def density(self, mode, q, k, v, scaling=DEFAULT_SCALING, chunk_size=CHUNK):
        from dashbench.kernels.reference.dash import dash_routing_stats

        pos = torch.arange(k.shape[2] - q.shape[2], k.shape[2], device=q.device)
        with torch.no_grad():
            stats = dash_routing_stats(q.detach(), k.detach(), _head_cls(k), chunk_size=chunk_size, scaling=scaling,
                                       q_positions=pos)  # fmt: skip
        return {"token_density": stats.mean_density}


@register
class Dash(_DashBase):
    name = "dash"
    backend = "Triton"
    summary = ("DashAttention Triton kernels: prefill (its attention in Triton's Gluon dialect on sm_90 where the "
               "prior's biases are stored in fp16), backward, split-KV decode")
    capabilities = KERNEL_CAPS

    def _probe(self) -> Probe:
        return _triton_probe("dashbench.kernels.dash_attention")

    def prepare(self, mode, q, k, v, scaling=DEFAULT_SCALING, chunk_size=CHUNK):
        from dashbench.kernels import DashCache, dash_attention, dash_decode

        w = _head_cls(k)
        if mode == "decode":
            # The cache (keys, values, chunk summaries) is built outside the timed region; a
            # step routes and attends for the query at the last position.
            cache = DashCache.from_prefill(k, v, w, chunk_size=chunk_size)
            return lambda: dash_decode(q, cache, scaling=scaling)
        return lambda: dash_attention(q, k, v, w, chunk_size=chunk_size, scaling=scaling)

    def density(self, mode, q, k, v, scaling=DEFAULT_SCALING, chunk_size=CHUNK):
        """The kernel's own statistics: token density and, for a prefill, compute density."""
        from dashbench.kernels import DashCache, dash_attention, dash_decode

        w = _head_cls(k)
        with torch.no_grad():
            if mode == "decode":
                _, stats = dash_decode(q, DashCache.from_prefill(k, v, w, chunk_size=chunk_size), scaling=scaling,
                                       return_stats=True)  # fmt: skip
            else:
                _, stats = dash_attention(q.detach(), k.detach(), v.detach(), w, chunk_size=chunk_size, scaling=scaling,
                                          return_stats=True)  # fmt: skip
        row = {"token_density": stats.mean_density, "compute_density": stats.compute_density}
        if stats.attention_kernel == "gluon-sm90":  # the row names the kernel that ran its attention
            row["backend"] = "Triton (attention: Gluon, sm_90)"
        return row


@register
class DashReference(_DashBase):
    name = "dash-ref"
    backend = "PyTorch (eager, fp32 math)"
    summary = "DashAttention in plain PyTorch (entmax package for the routing): the ground truth"
    capabilities = REFERENCE_CAPS

    def prepare(self, mode, q, k, v, scaling=DEFAULT_SCALING, chunk_size=CHUNK):
        w = _head_cls(k)
        return lambda: dash_attention_reference(q, k, v, w, chunk_size=chunk_size,
                                                scaling=scaling).to(q.dtype)  # fmt: skip


# InfLLMv2 as DashAttention's authors compared against it: kernel 32 / stride 16, blocks of 64,
# 1 initial + 16 local blocks (window 1024), top-64, always sparse.
INFLLMV2 = InfLLMv2Config()


def _infllmv2(topk: int | None = None) -> InfLLMv2Config:
    return INFLLMV2 if topk is None else replace(INFLLMV2, topk=topk)


class _InfLLMv2Base(Provider):
    family = "hierarchical-sparse"

    def configure(self, mode, q, k, v, sparsity):
        from dashbench.sparsity import infllmv2_config_for

        return {"topk": infllmv2_config_for(sparsity, k.shape[2], INFLLMV2, over=_over(mode)).topk}

    def reference(self, q_rows, k, v, positions, compute_dtype, topk=None):
        return infllmv2_reference(q_rows, k, v, _infllmv2(topk), q_positions=positions, compute_dtype=compute_dtype)

    def density(self, mode, q, k, v, topk=None):
        from dashbench.kernels.reference.infllmv2 import infllmv2_selection

        with torch.no_grad():
            return {"token_density": infllmv2_selection(q.detach(), k.detach(), _infllmv2(topk)).mean_density}

    def notes(self, mode, q, k):
        return f"blocks of {INFLLMV2.block_size} ({INFLLMV2.forced_blocks} forced; default topk {INFLLMV2.topk})"


@register
class InfLLMv2(_InfLLMv2Base):
    name = "infllmv2"
    backend = "Triton"
    summary = "InfLLMv2: Triton stage-1 block scores, top-k, DashAttention's block-sparse kernels"
    capabilities = KERNEL_CAPS

    def _probe(self) -> Probe:
        return _triton_probe("dashbench.kernels.infllmv2_attention")

    def prepare(self, mode, q, k, v, topk=None):
        from dashbench.kernels import infllmv2_attention, infllmv2_decode

        cfg = _infllmv2(topk)
        if mode == "decode":
            from dashbench.kernels.reference.infllmv2 import compress_keys

            # The compressed keys belong to the cache (built outside the timed region).
            ck = compress_keys(k, cfg.kernel_size, cfg.kernel_stride)
            return lambda: infllmv2_decode(q, k, v, cfg, compressed_keys=ck)
        return lambda: infllmv2_attention(q, k, v, cfg)

    def density(self, mode, q, k, v, topk=None):
        """The kernels' selection: token density and, for a prefill, compute density."""
        from dashbench.kernels import infllmv2_attention
        from dashbench.kernels.infllmv2 import infllmv2_select

        cfg = _infllmv2(topk)
        with torch.no_grad():
            if mode == "decode":
                return {"token_density": infllmv2_select(q, k, cfg, q_start=k.shape[2] - 1).mean_density}
            _, sel = infllmv2_attention(q.detach(), k.detach(), v.detach(), cfg, return_selection=True)
        return {"token_density": sel.mean_density, "compute_density": sel.compute_density}


@register
class InfLLMv2Reference(_InfLLMv2Base):
    name = "infllmv2-ref"
    backend = "PyTorch (eager, fp32 math)"
    summary = "InfLLMv2 in plain PyTorch: the ground truth"
    capabilities = REFERENCE_CAPS

    def prepare(self, mode, q, k, v, topk=None):
        return lambda: infllmv2_reference(q, k, v, _infllmv2(topk)).to(q.dtype)


# NSA: the paper's configuration by default (the suites pick dash-paper for comparisons);
# fixed seeded random parameters of the right shapes for kernel benchmarks.
NSA_CONFIG = None  # an NSAConfig to use instead of the paper's


def _nsa_config(topk: int | None = None):
    from dashbench.kernels.reference.nsa import NSAConfig

    cfg = NSA_CONFIG or NSAConfig.paper()
    return cfg if topk is None else replace(cfg, topk=topk)


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

    def configure(self, mode, q, k, v, sparsity):
        from dashbench.sparsity import nsa_config_for

        return {"topk": nsa_config_for(sparsity, k.shape[2], _nsa_config(), over=_over(mode)).topk}

    def reference(self, q_rows, k, v, positions, compute_dtype, topk=None):
        from dashbench.kernels.reference.nsa import nsa_reference

        return nsa_reference(q_rows, k, v, _nsa_params(q_rows, k), _nsa_config(topk), q_positions=positions,
                             compute_dtype=compute_dtype)  # fmt: skip

    def density(self, mode, q, k, v, topk=None):
        """Selected blocks and window together (the compression branch is overhead)."""
        from dashbench.kernels.reference.nsa import nsa_reference

        pos = torch.arange(k.shape[2] - q.shape[2], k.shape[2], device=q.device)
        with torch.no_grad():
            _, sel = nsa_reference(q.detach(), k.detach(), v.detach(), _nsa_params(q, k), _nsa_config(topk),
                                   q_positions=pos, return_selection=True)  # fmt: skip
        return {"token_density": sel.mean_density}

    def notes(self, mode, q, k):
        cfg = _nsa_config()
        return (f"NSA blocks of {cfg.block_size}, window {cfg.window}, compression {cfg.cmp_size}/"
                f"{cfg.cmp_stride} ({cfg.compression}; default topk {cfg.topk}); random parameters")  # fmt: skip


class _NSAKernels(_NSABase):
    backend = "Triton"
    selected_attention = "dash"
    capabilities = Capabilities(
        frozenset({"fwd", "fwd+bwd"}), frozenset({"cuda"}), frozenset({"bf16", "fp16"}), frozenset({64, 128}),
        max_gqa_ratio=16,
    )  # fmt: skip

    def prepare(self, mode, q, k, v, topk=None):
        from dashbench.kernels.nsa import nsa_attention, nsa_compressed_cache, nsa_decode

        params = _nsa_params(q, k)
        cfg = _nsa_config(topk)
        if mode == "decode":
            cache = nsa_compressed_cache(k, v, params, cfg)  # the cache's, outside the timed region
            return lambda: nsa_decode(q, k, v, params, cfg, compressed=cache)
        return lambda: nsa_attention(q, k, v, params, cfg, selected_attention=self.selected_attention)

    def density(self, mode, q, k, v, topk=None):
        from dashbench.kernels.nsa import nsa_attention

        if mode == "decode":  # one row: the reference's selection
            return super().density(mode, q, k, v, topk=topk)
        with torch.no_grad():
            _, sel = nsa_attention(q.detach(), k.detach(), v.detach(), _nsa_params(q, k), _nsa_config(topk),
                                   return_selection=True)  # fmt: skip
        return {"token_density": sel.mean_density}


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
    capabilities = KERNEL_CAPS

    def _probe(self) -> Probe:
        return _triton_probe("dashbench.kernels.nsa.nsa_attention")


@register
class NSAReference(_NSABase):
    name = "nsa-ref"
    backend = "PyTorch (eager, fp32 math)"
    summary = "NSA in plain PyTorch: the ground truth"
    capabilities = REFERENCE_CAPS

    def prepare(self, mode, q, k, v, topk=None):
        from dashbench.kernels.reference.nsa import nsa_reference

        params = _nsa_params(q, k)
        return lambda: nsa_reference(q, k, v, params, _nsa_config(topk)).to(q.dtype)
