"""DashAttention, NSA and InfLLMv2 (and FlashAttention-3) as Hugging Face attention implementations.

``register()`` adds them to transformers' ``AttentionInterface`` under the names ``dash``,
``nsa``, ``infllmv2`` and ``fa3``, so a Llama-architecture model runs with
``attn_implementation="dash"`` (or ``model.set_attn_implementation("dash")``). Each receives
the layer's q ``[B, Hq, N, D]`` (after RoPE) and the unrepeated k, v ``[B, Hkv, Nk, D]`` and
reads its knobs from the model config (``dashbench.models.config``) and its parameters from the
attention module (``dashbench.models.parameters``).

Where it runs:
- on a GPU in bf16/fp16 with head dim 64 or 128: the Triton kernels (prefill; a one-token step
  with a cache runs the decode kernels);
- anywhere else (CPU, fp32, other head dims): the PyTorch references, which are exact but slow.

Padding masks are refused (the kernels are causal over whole sequences); so are attention
dropout and a softmax scale other than ``1/sqrt(D)``.

Decoding keeps per-layer state on the attention module (DashAttention's chunk summaries, the
compressed keys of InfLLMv2 and NSA), reset by every prefill and extended as the cache grows:
one sequence batch decoded greedily, as ``dashbench e2e`` does. Beam search (which reorders the
cache) and cache cropping (assisted decoding) are not supported.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import torch

from dashbench.models.config import settings_of
from dashbench.models.parameters import head_cls, nsa_params

SPARSE = ("dash", "nsa", "infllmv2")


@dataclass
class DensityLog:
    """Token densities of the attention calls made while recording (one per layer call)."""

    densities: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        if not self.densities:
            raise ValueError("no sparse attention call was recorded")
        return sum(self.densities) / len(self.densities)


_recording: list[DensityLog] = []


@contextlib.contextmanager
def record_density():
    """Within the block, each sparse attention call appends its mean token density (dense
    implementations append nothing: callers count them as 1.0). A top-k decode step appends an
    upper bound (its blocks and window over its keys). Used by ``dashbench pareto``; it costs a
    little (the selection is returned)."""
    log = DensityLog()
    _recording.append(log)
    try:
        yield log
    finally:
        _recording.remove(log)


def _log(density: float) -> None:
    for log in _recording:
        log.densities.append(float(density))


def _check_call(module, query, key, attention_mask, scaling, dropout) -> None:
    if attention_mask is not None:
        raise ValueError("dashbench attention takes whole causal sequences: padding masks are not supported "
                         "(batch sequences of equal length, without attention_mask)")  # fmt: skip
    if dropout:
        raise ValueError(f"dashbench attention has no attention dropout; got {dropout}")
    d = query.shape[-1]
    if scaling is not None and not math.isclose(scaling, d**-0.5, rel_tol=1e-6):
        raise ValueError(f"dashbench attention uses the softmax scale 1/sqrt(head_dim) = {d**-0.5:.6g}; "
                         f"this model asks for {scaling:.6g}")  # fmt: skip
    if query.shape[2] > key.shape[2]:
        raise ValueError(f"more queries ({query.shape[2]}) than keys ({key.shape[2]})")


def _kernels(query: torch.Tensor) -> bool:
    return query.is_cuda and query.dtype in (torch.bfloat16, torch.float16) and query.shape[-1] in (64, 128)


def _autocast_inputs(query, key, value):
    """q, k, v in autocast's dtype when autocast is on and they arrive in fp32, as autocast does
    for PyTorch's own attention. Llama's rotary embedding multiplies bf16 projections by fp32
    cos/sin, so under autocast q and k reach the attention in fp32, and the kernels (bf16/fp16)
    were skipped for the references: the sparse fine-tunes at d1c9acb trained that way. (Decoding
    an fp32 model under autocast casts the whole cache every step; run inference in bf16.)"""
    device = query.device.type
    if query.dtype == torch.float32 and torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        return query.to(dtype), key.to(dtype), value.to(dtype)
    return query, key, value


def _positions(query, key) -> torch.Tensor:
    n_q, n_k = query.shape[2], key.shape[2]
    return torch.arange(n_k - n_q, n_k, device=query.device)


def _out(o: torch.Tensor, query: torch.Tensor):
    return o.to(query.dtype).transpose(1, 2).contiguous(), None


def dash_forward(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    _check_call(module, query, key, attention_mask, scaling, dropout)
    query, key, value = _autocast_inputs(query, key, value)
    s = settings_of(module.config)
    w = head_cls(module).to(query.dtype)
    want = bool(_recording)
    if query.shape[2] == key.shape[2]:
        module._dash_summaries = None  # a new sequence: the decode summaries start again
    knobs = dict(chunk_size=s.chunk_size, scaling=s.scaling, sigma=s.sigma)
    if _kernels(query) and query.shape[2] == key.shape[2]:
        from dashbench.kernels import dash_attention

        result = dash_attention(query, key, value, w, return_stats=want, **knobs)
    elif _kernels(query) and query.shape[2] == 1 and not torch.is_grad_enabled():
        result = _dash_decode(module, query, key, value, w, want, knobs)
    else:
        from dashbench.kernels.reference.dash import dash_attention_reference

        result = dash_attention_reference(query, key, value, w, q_positions=_positions(query, key),
                                          return_stats=want, **knobs)  # fmt: skip
    if want:
        result, stats = result
        _log(stats if isinstance(stats, float) else stats.mean_density)
    return _out(result, query)


def _dash_decode(module, query, key, value, w, want, knobs):
    """One step against HF's cache: the chunk summaries are kept on the module and extended
    when a chunk completes, instead of pooling the whole cache again every token."""
    from dashbench.kernels.dash.decode_kernels import decode_step
    from dashbench.kernels.dash.summarize import summarize

    C, L = knobs["chunk_size"], key.shape[2]
    cache = getattr(module, "_dash_summaries", None)
    if cache is None or cache.shape[:2] != key.shape[:2] or cache.shape[2] > L // C:
        cache = key.new_zeros(*key.shape[:2], 0, key.shape[-1], dtype=torch.float32)
    done = cache.shape[2]
    if L // C > done:
        new = summarize(key[:, :, done * C : (L // C) * C].contiguous(), w, C)
        cache = torch.cat([cache, new], dim=2)
    module._dash_summaries = cache
    summaries = cache if L % C == 0 else torch.cat([cache, cache.new_zeros(*cache.shape[:2], 1, cache.shape[-1])], 2)
    out, count = decode_step(query.contiguous(), key, value, summaries[:, :, : max(1, math.ceil(L / C))],
                             chunk_size=C, scaling=knobs["scaling"], sigma=knobs["sigma"],
                             estimate_diagonal=True)  # fmt: skip
    if want:  # the routed chunks' keys (the own chunk partial) over the L keys, as dash_decode counts
        keys = (count.long() - 1) * C + ((L - 1) % C + 1)
        return out, float((keys.double() / L).mean())
    return out


def infllmv2_forward(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    _check_call(module, query, key, attention_mask, scaling, dropout)
    query, key, value = _autocast_inputs(query, key, value)
    cfg = settings_of(module.config).infllmv2()
    want = bool(_recording)
    if query.shape[2] == key.shape[2]:
        module._infllmv2_compressed = None  # a new sequence
    if _kernels(query) and query.shape[2] == key.shape[2]:
        from dashbench.kernels.infllmv2.interface import infllmv2_attention

        result = infllmv2_attention(query, key, value, cfg, return_selection=want)
    elif _kernels(query) and query.shape[2] == 1 and not torch.is_grad_enabled():
        from dashbench.kernels.infllmv2.interface import infllmv2_decode
        from dashbench.kernels.reference.infllmv2 import compress_keys

        (ck,) = _window_cache(module, "_infllmv2_compressed", key, value, cfg.kernel_size, cfg.kernel_stride,
                              lambda k, v: (compress_keys(k, cfg.kernel_size, cfg.kernel_stride),))  # fmt: skip
        result = infllmv2_decode(query, key, value, cfg, compressed_keys=ck)
        if want:
            result = (result, _topk_last_density(cfg.topk, cfg.block_size, key.shape[2], 0))
    else:
        from dashbench.kernels.reference.infllmv2 import infllmv2_reference

        result = infllmv2_reference(query, key, value, cfg, q_positions=_positions(query, key),
                                    return_selection=want)  # fmt: skip
    if want:
        result, sel = result
        _log(sel if isinstance(sel, float) else sel.mean_density)
    return _out(result, query)


def nsa_forward(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    _check_call(module, query, key, attention_mask, scaling, dropout)
    query, key, value = _autocast_inputs(query, key, value)
    s = settings_of(module.config)
    cfg, params = s.nsa(), nsa_params(module, s)
    want = bool(_recording)
    if query.shape[2] == key.shape[2]:
        module._nsa_compressed = None  # a new sequence
    if _kernels(query) and query.shape[2] == key.shape[2]:
        from dashbench.kernels.nsa.interface import nsa_attention

        result = nsa_attention(query, key, value, params, cfg, return_selection=want)
    elif _kernels(query) and query.shape[2] == 1 and not torch.is_grad_enabled():
        from dashbench.kernels.nsa.interface import nsa_compressed_cache, nsa_decode

        compressed = _window_cache(module, "_nsa_compressed", key, value, cfg.cmp_size, cfg.cmp_stride,
                                   lambda k, v: nsa_compressed_cache(k, v, params, cfg))  # fmt: skip
        result = nsa_decode(query, key, value, params, cfg, compressed=compressed)
        if want:
            result = (result, _topk_last_density(cfg.topk, cfg.block_size, key.shape[2], cfg.window))
    else:
        from dashbench.kernels.reference.nsa import nsa_reference

        result = nsa_reference(query, key, value, params, cfg, q_positions=_positions(query, key),
                               return_selection=want)  # fmt: skip
    if want:
        result, sel = result
        _log(sel if isinstance(sel, float) else sel.mean_density)
    return _out(result, query)


def _window_cache(module, attr: str, key, value, size: int, stride: int, compress) -> tuple:
    """Per-window compressions of the cache (windows ``[stride*m, stride*m + size)``), kept on
    the module and extended as windows complete during decoding, instead of compressing the
    whole cache again every token. A shorter or other-shaped cache (a new sequence) starts
    over."""
    L = key.shape[2]
    m_new = 0 if L < size else (L - size) // stride + 1
    cache = getattr(module, attr, None)
    if cache is None or cache[0].shape[2] > m_new or cache[0].shape[:2] != key.shape[:2]:
        cache, m_old = None, 0
    else:
        m_old = cache[0].shape[2]
    if m_new > m_old or cache is None:
        lo, hi = stride * m_old, stride * (m_new - 1) + size if m_new else 0
        new = compress(key[:, :, lo:hi], value[:, :, lo:hi])
        cache = new if cache is None else tuple(torch.cat([a, b], dim=2) for a, b in zip(cache, new))
    setattr(module, attr, cache)
    return cache


def _topk_last_density(topk: int, block_size: int, n_keys: int, window: int) -> float:
    """A decode step's density: its top-k blocks (and window) over its ``n_keys`` keys, an upper
    bound where blocks and window overlap."""
    return min(1.0, (topk * block_size + window) / n_keys)


def fa3_forward(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """FlashAttention-3 (the forward-only ``fa3-fwd`` wheel): inference only, never a stand-in."""
    _check_call(module, query, key, attention_mask, scaling, dropout)
    query, key, value = _autocast_inputs(query, key, value)
    try:
        from fa3_fwd_interface import flash_attn_func
    except ImportError:
        raise ValueError("attn_implementation 'fa3' needs FlashAttention-3: `pip install fa3-fwd` (Hopper GPU); "
                         "use 'sdpa' for PyTorch's attention and say so") from None  # fmt: skip
    if torch.is_grad_enabled() and query.requires_grad:
        raise ValueError("the fa3-fwd wheel has no backward: train with 'sdpa' or a sparse method")
    # the wheel's own checks fail with a RuntimeError deep in C++: say what is wrong first
    if query.device.type != "cuda":
        raise ValueError(f"FlashAttention-3 runs on a Hopper GPU; q is on {query.device.type}: use 'sdpa' and say so")
    if query.dtype not in (torch.float16, torch.bfloat16):
        raise ValueError(f"FlashAttention-3 takes fp16 or bf16, not {str(query.dtype).removeprefix('torch.')}")
    out = flash_attn_func(query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), causal=True)
    out = out[0] if isinstance(out, tuple) else out
    return out, None


_FORWARDS = {"dash": dash_forward, "nsa": nsa_forward, "infllmv2": infllmv2_forward, "fa3": fa3_forward}


def register() -> tuple[str, ...]:
    """Register the implementations with transformers (idempotent); returns their names."""
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, flash_attention_mask
    except ImportError:
        raise ValueError("models need transformers: `pip install transformers` (or dashbench's `.[models]`)") from None
    for name, fn in _FORWARDS.items():
        AttentionInterface.register(name, fn)
        # the mask FlashAttention gets: None for whole causal sequences (never an N x N tensor)
        ALL_MASK_ATTENTION_FUNCTIONS.register(name, flash_attention_mask)
    return tuple(_FORWARDS)
