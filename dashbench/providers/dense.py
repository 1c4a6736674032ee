"""Dense (full causal softmax) attention providers: the baselines sparse methods are measured
against. Each takes ``[B, H, N, D]`` tensors with GQA (``Hq % Hkv == 0``) and causal masking."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

import torch
import torch.nn.functional as F

from dashbench.kernels.reference import attention_reference
from dashbench.providers.registry import Capabilities, Probe, Provider, register

ALL_MODES = frozenset({"fwd", "fwd+bwd", "decode"})
HALF = frozenset({"bf16", "fp16"})


def _cuda_refusal(min_capability: tuple[int, int] | None = None) -> str | None:
    if not torch.cuda.is_available():
        return "no CUDA device visible to PyTorch"
    if min_capability is not None:
        cap = torch.cuda.get_device_capability()
        if cap < min_capability:
            name = torch.cuda.get_device_name()
            want = "sm%d%d" % min_capability
            return f"needs {want} or newer; {name} is sm{cap[0]}{cap[1]}"
    return None


def _bnhd(t: torch.Tensor) -> torch.Tensor:
    """[B, H, N, D] -> [B, N, H, D] as a view (FlashAttention reads any stride but the last)."""
    return t.transpose(1, 2)


def _import_error(module: str, exc: Exception) -> str:
    if isinstance(exc, ModuleNotFoundError) and exc.name == module:
        return f"{module} not importable"
    # Installed but broken (e.g. built against another torch): say how.
    return f"{module} not importable ({type(exc).__name__}: {exc})"


@register
class FlashAttention3(Provider):
    name = "fa3"
    family = "dense"
    backend = "CUDA (FlashAttention-3)"
    summary = "FlashAttention-3 (Hopper): flash_attn_interface, or the forward-only fa3-fwd wheel"
    capabilities = Capabilities(ALL_MODES, frozenset({"cuda"}), HALF, frozenset({64, 96, 128, 192, 256}))

    def _probe(self) -> Probe:
        errors = []
        # The official Hopper build has forward and backward; fa3-fwd (PyPI) is forward only
        # and built without fp16 kernels.
        for module, caps in (
            ("flash_attn_interface", self.capabilities),
            (
                "fa3_fwd_interface",
                Capabilities(
                    frozenset({"fwd", "decode"}),
                    frozenset({"cuda"}),
                    frozenset({"bf16"}),
                    self.capabilities.head_dims,
                ),
            ),
        ):
            try:
                mod = importlib.import_module(module)
            except Exception as exc:  # ImportError, or an ABI mismatch raising OSError/RuntimeError
                errors.append(_import_error(module, exc))
                continue
            refusal = _cuda_refusal((9, 0))
            if refusal:
                return Probe(False, f"{module} found but {refusal}")
            self._mod = mod
            version = _dist_version("fa3-fwd" if module == "fa3_fwd_interface" else "flash-attn-3")
            return Probe(True, impl=f"{module}{f' ({version})' if version else ''}", capabilities=caps)
        return Probe(
            False,
            "; ".join(errors) + ": FlashAttention-3 is not installed (official Hopper build, "
            "or `pip install fa3-fwd` for the forward-only wheel)",
        )

    def prepare(self, mode, q, k, v) -> Callable[[], torch.Tensor]:
        mod = self._mod
        qt, kt, vt = _bnhd(q), _bnhd(k), _bnhd(v)
        if mode == "decode":
            # The KV-cache entry point picks split-KV itself (num_splits=0); flash_attn_func
            # would run one split and leave most SMs idle at batch 1.
            def run():
                return _first(mod.flash_attn_with_kvcache(qt, kt, vt, causal=True, num_splits=0))

        else:

            def run():
                return _first(mod.flash_attn_func(qt, kt, vt, causal=True))

        return lambda: _bnhd(run())


@register
class FlashAttention2(Provider):
    name = "fa2"
    family = "dense"
    backend = "CUDA (FlashAttention-2)"
    summary = "FlashAttention-2 (flash_attn package)"
    capabilities = Capabilities(ALL_MODES, frozenset({"cuda"}), HALF, frozenset(range(8, 257, 8)))

    def _probe(self) -> Probe:
        try:
            mod = importlib.import_module("flash_attn")
        except Exception as exc:
            return Probe(False, _import_error("flash_attn", exc) + ": FlashAttention-2 is not installed")
        refusal = _cuda_refusal((8, 0))
        if refusal:
            return Probe(False, f"flash_attn found but {refusal}")
        self._mod = mod
        return Probe(True, impl=f"flash_attn {getattr(mod, '__version__', '?')}")

    def prepare(self, mode, q, k, v):
        mod = self._mod
        qt, kt, vt = _bnhd(q), _bnhd(k), _bnhd(v)
        if mode == "decode":
            return lambda: _bnhd(mod.flash_attn_with_kvcache(qt, kt, vt, causal=True))
        return lambda: _bnhd(mod.flash_attn_func(qt, kt, vt, causal=True))


class _SDPAPinned(Provider):
    """PyTorch SDPA pinned to one backend: if that backend refuses the case, the case is
    unsupported; SDPA never silently falls back to another kernel."""

    family = "dense"
    sdpa_backend: str = ""

    def _probe(self) -> Probe:
        refusal = _cuda_refusal()
        if refusal:
            return Probe(False, refusal)
        backend = getattr(torch.nn.attention.SDPBackend, self.sdpa_backend)
        return Probe(True, impl=f"torch {torch.__version__} SDPA {backend.name}")

    def _call(self, q, k, v, causal: bool, gqa: bool):
        backend = getattr(torch.nn.attention.SDPBackend, self.sdpa_backend)
        with torch.nn.attention.sdpa_kernel([backend]):
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=gqa)

    @functools.lru_cache(maxsize=64)  # noqa: B019 - providers live for the whole process
    def _native_gqa(self, mode: str, hq: int, hkv: int, d: int, dtype: torch.dtype) -> bool:
        """Does the pinned backend take GQA directly for this shape? Tried on a tiny input."""
        if hq == hkv:
            return True
        dev = torch.device("cuda")
        q = torch.randn(1, hq, 1 if mode == "decode" else 16, d, device=dev, dtype=dtype)
        k = torch.randn(1, hkv, 16, d, device=dev, dtype=dtype)
        try:
            q.requires_grad_(mode == "fwd+bwd")
            out = self._call(q, k, k, causal=mode != "decode", gqa=True)
            if mode == "fwd+bwd":
                out.sum().backward()
            return True
        except RuntimeError:
            return False

    def notes(self, mode, q, k):
        if not self._native_gqa(mode, q.shape[1], k.shape[1], q.shape[-1], q.dtype):
            return "backend lacks GQA here: K/V expanded to Hq heads before timing"
        return ""

    def prepare(self, mode, q, k, v):
        gqa = q.shape[1] != k.shape[1]
        if gqa and not self._native_gqa(mode, q.shape[1], k.shape[1], q.shape[-1], q.dtype):
            rep = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
            gqa = False
        # A single decode query is the last position: it sees the whole cache, so no mask
        # (SDPA's is_causal aligns top-left and would let it see one key only).
        causal = mode != "decode"
        return lambda: self._call(q, k, v, causal=causal, gqa=gqa)


@register
class SDPAFlash(_SDPAPinned):
    name = "sdpa-flash"
    backend = "CUDA (PyTorch SDPA, flash backend)"
    summary = "torch.nn.functional.scaled_dot_product_attention pinned to FLASH_ATTENTION"
    sdpa_backend = "FLASH_ATTENTION"
    capabilities = Capabilities(ALL_MODES, frozenset({"cuda"}), HALF, frozenset(range(8, 257, 8)))


@register
class CuDNN(_SDPAPinned):
    name = "cudnn"
    backend = "CUDA (cuDNN via PyTorch SDPA)"
    summary = "torch.nn.functional.scaled_dot_product_attention pinned to CUDNN_ATTENTION"
    sdpa_backend = "CUDNN_ATTENTION"
    capabilities = Capabilities(ALL_MODES, frozenset({"cuda"}), HALF, frozenset(range(8, 257, 8)))


@functools.cache
def _compiled_flex():
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)


@functools.cache
def _compiled_block_mask():
    from torch.nn.attention.flex_attention import create_block_mask

    return torch.compile(create_block_mask)


def _causal(b, h, q_idx, kv_idx):
    return q_idx >= kv_idx


@register
class Flex(Provider):
    name = "flex"
    family = "dense"
    backend = "Triton (FlexAttention, torch.compile)"
    summary = "torch FlexAttention, compiled, with a causal block mask"
    capabilities = Capabilities(ALL_MODES, frozenset({"cuda"}), frozenset({"bf16", "fp16", "fp32"}))

    def _probe(self) -> Probe:
        refusal = _cuda_refusal()
        if refusal:
            return Probe(False, refusal)
        importlib.import_module("torch.nn.attention.flex_attention")
        return Probe(True, impl=f"torch {torch.__version__} flex_attention (compiled)")

    def prepare(self, mode, q, k, v):
        flex = _compiled_flex()
        gqa = q.shape[1] != k.shape[1]
        if mode == "decode":
            return lambda: flex(q, k, v, enable_gqa=gqa)
        n = q.shape[2]
        # Compiled, create_block_mask works block by block; eager, it first materializes all
        # N*N mask entries (16 GiB and minutes at 128k).
        mask = _compiled_block_mask()(_causal, None, None, n, n, device=q.device)
        return lambda: flex(q, k, v, block_mask=mask, enable_gqa=gqa)


@register
class Reference(Provider):
    name = "reference"
    family = "dense"
    backend = "PyTorch (eager, fp32 math)"
    summary = "plain PyTorch attention streamed over query blocks (the ground truth)"
    capabilities = Capabilities(
        ALL_MODES, frozenset({"cpu", "cuda"}), frozenset({"bf16", "fp16", "fp32"})
    )

    def prepare(self, mode, q, k, v):
        return lambda: attention_reference(q, k, v, causal=True).to(q.dtype)


def _first(result):
    return result[0] if isinstance(result, tuple) else result


def _dist_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{dist} {version(dist)}"
    except PackageNotFoundError:
        return ""
