"""One registry of attention providers, each with a declared capability record.

A provider is a small class: what it is (name, family, backend), what it can run
(:class:`Capabilities`), whether it is installed here (:meth:`Provider.probe`, which says *why
not* when it is not), and how to build the callable that computes attention
(:meth:`Provider.prepare`). The harness does the rest: checking, timing, writing.

No provider stands in for another: a missing library makes its provider unavailable, with the
reason, and nothing else runs under its name.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

MODES = ("fwd", "fwd+bwd", "decode")
FAMILIES = ("dense", "hierarchical-sparse")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


@dataclass(frozen=True)
class Capabilities:
    """What a provider can run. ``head_dims=None`` means any head dim."""

    modes: frozenset[str]
    devices: frozenset[str]
    dtypes: frozenset[str]
    head_dims: frozenset[int] | None = None
    max_gqa_ratio: int | None = None

    def refusal(self, mode: str, device: str, dtype: str, head_dim: int, gqa_ratio: int = 1):
        """Why this capability record refuses the case, or ``None`` if it accepts it."""
        if mode not in self.modes:
            return f"mode {mode} not supported (supports {', '.join(sorted(self.modes))})"
        if device not in self.devices:
            return f"device {device} not supported (runs on {', '.join(sorted(self.devices))})"
        if dtype not in self.dtypes:
            return f"dtype {dtype} not supported (supports {', '.join(sorted(self.dtypes))})"
        if self.head_dims is not None and head_dim not in self.head_dims:
            dims = ", ".join(map(str, sorted(self.head_dims)))
            return f"head dim {head_dim} not supported (supports {dims})"
        if self.max_gqa_ratio is not None and gqa_ratio > self.max_gqa_ratio:
            return f"GQA ratio {gqa_ratio} above {self.max_gqa_ratio}"
        return None


@dataclass(frozen=True)
class Probe:
    """Result of looking for a provider's library on this machine."""

    available: bool
    reason: str = ""  # why not, when unavailable
    impl: str = ""  # what actually runs, e.g. "fa3_fwd_interface (fa3-fwd 0.0.3)"
    capabilities: Capabilities | None = None  # overrides the class record when the impl decides


class Provider:
    """Base class of providers. Subclasses set the class attributes and implement
    :meth:`_probe` (when they need a library) and :meth:`prepare`."""

    name: str = ""
    family: str = "dense"
    backend: str = ""  # language/library of the kernel: "CUDA (FA3)", "Triton", "PyTorch"
    summary: str = ""
    chunked: bool = False  # takes a ``chunk_size`` knob (the sweep's --chunk-size)
    capabilities: Capabilities = Capabilities(frozenset(), frozenset(), frozenset())

    @functools.cached_property
    def _probe_result(self) -> Probe:
        try:
            return self._probe()
        except Exception as exc:  # a broken install must not take the CLI down
            return Probe(False, f"{type(exc).__name__} while probing: {exc}")

    def probe(self) -> Probe:
        """Is it installed and usable here? Cached: probing may import heavy modules."""
        return self._probe_result

    def caps(self) -> Capabilities:
        probed = self.probe().capabilities
        return probed if probed is not None else self.capabilities

    def refusal(self, mode: str, device: str, dtype: str, head_dim: int, gqa_ratio: int = 1):
        """Why this provider cannot run the case here, or ``None``."""
        probe = self.probe()
        if not probe.available:
            return probe.reason
        return self.caps().refusal(mode, device, dtype, head_dim, gqa_ratio)

    def _probe(self) -> Probe:
        return Probe(True, impl=self.name)

    def prepare(
        self, mode: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> Callable[[], torch.Tensor]:
        """Return a zero-argument callable computing causal attention ``[B, Hq, Nq, D]``.

        Everything that is not the attention itself (layout views, masks, compilation) is done
        here, outside the timed region. ``mode == "decode"``: ``q`` is ``[B, Hq, 1, D]``, the
        query at the last position, attending the whole ``k``/``v`` cache. For ``"fwd+bwd"``
        the harness calls ``.backward`` on the returned output.
        """
        raise NotImplementedError

    def reference(self, q_rows, k, v, positions, compute_dtype):
        """The function this provider computes, in plain PyTorch, for the query rows at
        ``positions``: the harness checks against it. Dense causal attention by default."""
        from dashbench.kernels.reference import attention_reference

        return attention_reference(q_rows, k, v, q_positions=positions, compute_dtype=compute_dtype)

    def notes(self, mode: str, q: torch.Tensor, k: torch.Tensor) -> str:
        """Anything a reader must know about how a case ran (e.g. K/V expanded for GQA)."""
        return ""

    def configure(self, mode: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sparsity: float) -> dict:
        """The knob values (JSON-able) that set this method to ``sparsity`` on these inputs, through
        ``dashbench.sparsity``'s maps; the harness passes them to :meth:`prepare`,
        :meth:`reference` and :meth:`density`. Dense providers have no knob."""
        raise ValueError(f"{self.name} is dense: it has no sparsity knob")

    def density(self, mode: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **setting) -> dict:
        """Measured ``token_density`` (and ``compute_density`` where the method has one) of one
        untimed call; sparse providers only."""
        return {}


REGISTRY: dict[str, Provider] = {}


def register(cls: type[Provider]) -> type[Provider]:
    """Class decorator: instantiate the provider and add it to :data:`REGISTRY`."""
    provider = cls()
    if not provider.name:
        raise ValueError(f"{cls.__name__} has no name")
    if provider.family not in FAMILIES:
        raise ValueError(f"{provider.name}: family {provider.family!r} not in {FAMILIES}")
    if provider.name in REGISTRY:
        raise ValueError(f"provider {provider.name!r} is registered twice")
    REGISTRY[provider.name] = provider
    return cls


def load_plugins() -> None:
    """Import the modules named in ``DASHBENCH_PLUGINS`` (comma list) so their providers register."""
    for module in filter(None, (m.strip() for m in os.environ.get("DASHBENCH_PLUGINS", "").split(","))):
        importlib.import_module(module)


def get_provider(name: str) -> Provider:
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown provider {name!r}; known providers: {known}")
    return REGISTRY[name]


def all_providers() -> list[Provider]:
    return list(REGISTRY.values())
