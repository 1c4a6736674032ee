"""NSA through kernels: ``nsa_attention(q, k, v, params, config, selected_attention=...)``.

* compression (the learned map) in PyTorch, O(N D);
* the compression branch: FlexAttention on the GPU (forward and backward, a mask for "window
  ends at or before the query"); the reference's PyTorch on the CPU, where Flex has no
  backward;
* selection: the InfLLMv2 stage-1 kernel on the compressed keys (NSA's overlap-weighted sum,
  or the max for the DashAttention authors' variant), then the Triton top-k;
* the selection branch: ``"dash"``, DashAttention's block-sparse kernels (any GQA ratio, decode);
  ``"fla"``, fla-core's ``ParallelNSAFunction`` fed our block indices (G a power of two >= 16);
* the window branch: FlexAttention or the reference, as the compression branch;
* gates ``sigmoid(q . W_g)`` and the mix.
"""

from __future__ import annotations

import functools

import torch

from dashbench.kernels.dash.block_sparse import block_sparse_attention, check_block_kernel_inputs
from dashbench.kernels.infllmv2.interface import select_in_ranges
from dashbench.kernels.infllmv2.stage1 import kernel_supports
from dashbench.kernels.infllmv2.topk import topk_blocks
from dashbench.kernels.reference.attention import check_attention_inputs
from dashbench.kernels.reference.infllmv2 import BlockSelection, InfLLMv2Config
from dashbench.kernels.reference.nsa import (
    NSAConfig,
    NSAParams,
    _compressed_attention,
    _window_attention,
    compress,
)
from dashbench.sparsity import token_density_from_blocks



def fla_refusal(q: torch.Tensor, k: torch.Tensor) -> str | None:
    """Why fla-core's NSA kernel cannot run these shapes here, or ``None``."""
    try:
        import fla.ops.nsa.parallel  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure means "not usable here"
        return f"fla-core not importable ({type(exc).__name__}: {exc}); `pip install fla-core`"
    G = q.shape[1] // k.shape[1]
    if G < 16 or G & (G - 1):
        return f"fla's NSA kernel needs a GQA ratio that is a power of two >= 16; got {G}"
    if not q.is_cuda:
        return "fla's NSA kernels run on CUDA only"
    return None


def check_nsa_inputs(q, k, v, params: NSAParams, config: NSAConfig) -> None:
    """What the NSA kernel path accepts; ``ValueError`` names the problem."""
    check_block_kernel_inputs(q, k, v, config.block_size)
    config.check()
    why = kernel_supports(_stage1_config(config))
    if why:
        raise ValueError(f"NSA compression not supported by the Triton selection: {why.replace('kernel_', 'cmp_')}")
    if q.shape[2] != k.shape[2]:
        raise ValueError(f"prefill needs as many queries as keys; got {q.shape[2]} and {k.shape[2]}")
    if params.gate.shape != (q.shape[1], q.shape[-1], len(config.gates)):
        raise ValueError(f"NSA gate must be [Hq, D, {len(config.gates)}]; got {tuple(params.gate.shape)}")
    if params.gate_bias is not None and params.gate_bias.shape != (q.shape[1], len(config.gates)):
        raise ValueError(f"NSA gate_bias must be [Hq, {len(config.gates)}]; got {tuple(params.gate_bias.shape)}")


def _stage1_config(config: NSAConfig) -> InfLLMv2Config:
    """The InfLLMv2 stage-1 kernel's view of NSA's selection (same block and forcing rules)."""
    return InfLLMv2Config(block_size=config.block_size, kernel_size=config.cmp_size, kernel_stride=config.cmp_stride,
                          init_blocks=config.init_blocks, local_blocks=config.local_blocks, topk=config.topk)  # fmt: skip


@torch.no_grad()
def nsa_select(q, k_cmp: torch.Tensor, n_keys: int, config: NSAConfig) -> torch.Tensor:
    """Selected blocks ``[B, Hkv, N, topk]`` (ascending, ``-1``-padded) from fp32 compressed keys."""
    return select_in_ranges(q, k_cmp, n_keys - q.shape[2], n_keys, _stage1_config(config), score=config.score)


def _compiled(fn):
    # Each (function, shape, requires_grad) combination compiles once; the default limit of 8
    # made a sweep fall back to eager flex, which materializes the N x M scores (128 GB).
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 256)
    return torch.compile(fn, dynamic=False)


@functools.cache
def _flex():
    from torch.nn.attention.flex_attention import flex_attention

    return _compiled(flex_attention)


_GATE_SLICE = 32 * 1024 * 1024  # fp32 elements of q upcast at a time for the gate product


def gates(q, gate, bias=None):
    """``sigmoid(q . W_g + b)``, fp32 ``[B, Hq, N, n_gates]``, q upcast a slice of tokens at a time
    (all of it at once is twice q's bf16 bytes: 16 GiB at 1M tokens, 32 heads)."""
    B, H, N, D = q.shape
    step = max(1, _GATE_SLICE // (B * H * D))
    w = gate.float()
    b = 0.0 if bias is None else bias.float()[:, None, :]
    return torch.cat([torch.sigmoid(torch.einsum("bhnd,hdc->bhnc", q[:, :, n0 : n0 + step].float(), w) + b)
                      for n0 in range(0, N, step)], dim=2)  # fmt: skip


def _mix(g, *branches):
    out = g[..., 0:1] * branches[0].float()
    for c, o in enumerate(branches[1:], 1):
        out = out + g[..., c : c + 1] * o.float()
    return out.to(branches[0].dtype)


@functools.cache
def _mix_fused():
    return _compiled(_mix)


def mix(g, *branches):
    """``sum_c g_c o_c`` in fp32, rounded once to the branches' dtype. On the GPU one fused
    kernel (compiled): eagerly, every branch and partial sum is an fp32 temporary of twice q's
    size, and autograd keeps the fp32 copies (7.8 GB beyond q, k, v and out at 128k)."""
    return (_mix_fused() if g.is_cuda else _mix)(g, *branches)


@functools.lru_cache(maxsize=32)
def _block_mask(kind: str, a: int, b: int, n_q: int, n_k: int, device: str):
    """Flex's block mask of a branch, built once per shape rather than on every call:
    ``"compressed"``, windows of ``b`` keys every ``a`` visible once they end; ``"window"``,
    the last ``a`` keys."""
    from torch.nn.attention.flex_attention import create_block_mask

    if kind == "compressed":
        def mask_mod(batch, head, qi, ki):
            return a * ki + b - 1 <= qi
    else:
        def mask_mod(batch, head, qi, ki):
            return (ki <= qi) & (ki > qi - a)

    return create_block_mask(mask_mod, None, None, n_q, n_k, device=device, _compile=True)


def _flex_branch(q, k, v, kind: str, a: int, b: int = 0):
    mask = _block_mask(kind, a, b, q.shape[2], k.shape[2], str(q.device))
    return _flex()(q, k, v, block_mask=mask, enable_gqa=q.shape[1] != k.shape[1])


def _use_flex(q) -> bool:
    """FlexAttention on the GPU; on the CPU it has no backward, so the reference's PyTorch."""
    return q.is_cuda


def compressed_branch(q, k_cmp, v_cmp, config: NSAConfig):
    """Attention over the compressed keys each query sees; 0 where it sees none."""
    if k_cmp.shape[2] == 0:
        return torch.zeros_like(q)
    if _use_flex(q):
        return _flex_branch(q, k_cmp, v_cmp, "compressed", config.cmp_stride, config.cmp_size)
    positions = torch.arange(q.shape[2], device=q.device)
    return _compressed_attention(q, k_cmp, v_cmp, positions, config)[0]


def window_branch(q, k, v, window: int):
    if _use_flex(q):
        return _flex_branch(q, k, v, "window", window)
    return _window_attention(q, k, v, torch.arange(q.shape[2], device=q.device), window)


def _fla_selected(q, k, v, blocks, block_size):
    from fla.ops.nsa.parallel import ParallelNSAFunction

    bthd = [t.transpose(1, 2).contiguous() for t in (q, k, v)]  # fla's [B, T, H, D] layout
    # fla's backward (its block-to-query CSR) needs a power-of-two number of slots (tl.arange):
    # pad with -1, which both of its passes skip (found on the H100 with topk 6)
    slots = 1 << max(0, blocks.shape[-1] - 1).bit_length()
    padded = torch.nn.functional.pad(blocks, (0, slots - blocks.shape[-1]), value=-1)
    idx = padded.transpose(1, 2).contiguous().long()  # [B, T, Hkv, S]
    out = ParallelNSAFunction.apply(*bthd, idx, slots, block_size, q.shape[-1] ** -0.5, None)
    return out.transpose(1, 2)


def nsa_attention(q, k, v, params: NSAParams, config: NSAConfig = NSAConfig(), *, selected_attention: str = "dash",
                  return_selection: bool = False):  # fmt: skip
    """Causal NSA prefill; ``q`` ``[B, Hq, N, D]``, ``k``, ``v`` ``[B, Hkv, N, D]``.
    Differentiable in q, k, v and the parameters (not through the selection). Returns ``out`` in
    q's dtype, or ``(out, selection)`` (selection and window keys counted in the density)."""
    check_nsa_inputs(q, k, v, params, config)
    if selected_attention not in ("dash", "fla"):
        raise ValueError(f"selected_attention must be 'dash' or 'fla'; got {selected_attention!r}")
    if selected_attention == "fla":
        why = fla_refusal(q, k)
        if why:
            raise ValueError(why)
    k_cmp, v_cmp = compress(k, v, config, params)  # the learned map, fp32, in slices of windows
    blocks = nsa_select(q, k_cmp, k.shape[2], config)
    k_c, v_c = k_cmp.to(q.dtype), v_cmp.to(q.dtype)
    o_cmp = compressed_branch(q, k_c, v_c, config)
    if selected_attention == "fla":
        o_slc = _fla_selected(q, k, v, blocks, config.block_size)
    else:
        o_slc = block_sparse_attention(q, k, v, blocks, block_size=config.block_size)
    branches = [o_cmp, o_slc] + ([window_branch(q, k, v, config.window)] if config.window > 0 else [])
    out = mix(gates(q, params.gate, params.gate_bias), *branches)
    if not return_selection:
        return out
    positions = torch.arange(q.shape[2], device=q.device)
    density = token_density_from_blocks(blocks, positions, config.block_size, config.window)
    return out, BlockSelection(blocks, density, positions, config.block_size)


def nsa_compressed_cache(k, v, params: NSAParams, config: NSAConfig):
    """Compressed keys and values of a cache, fp32 (a decode loop appends one every
    ``cmp_stride`` tokens instead of recomputing the learned map over the whole cache)."""
    return compress(k, v, config, params)


@torch.no_grad()
def nsa_decode(q, k, v, params: NSAParams, config: NSAConfig = NSAConfig(), *, compressed=None) -> torch.Tensor:
    """One decode step: ``q`` ``[B, Hq, 1, D]`` at the last position of the cache ``k``, ``v``
    ``[B, Hkv, L, D]``. Compression branch and block scores for the one token in fp32 PyTorch
    (one batched product over the compressed keys), the Triton top-k (timed on the H100 with a
    stable sort instead: results/reference/h100-nsa/), the selected blocks through the
    split-KV block decode, the window through SDPA on the last ``window`` keys. Equals the last
    row of ``nsa_attention``. ``compressed``: ``nsa_compressed_cache(k, v, ...)``."""
    from dashbench.kernels.dash.block_decode import block_decode
    from dashbench.kernels.reference.nsa import block_scores as nsa_block_scores

    check_attention_inputs(q, k, v)
    config.check()
    if q.shape[2] != 1:
        raise ValueError(f"decode takes one query per sequence; got {q.shape[2]}")
    L = k.shape[2]
    k_cmp, v_cmp = compressed if compressed is not None else nsa_compressed_cache(k, v, params, config)
    pos = torch.full((1,), L - 1, device=q.device)
    o_cmp, p = _compressed_attention(q.float(), k_cmp, v_cmp, pos, config)
    n_blocks = -(-L // config.block_size)
    blocks = topk_blocks(nsa_block_scores(p, pos, n_blocks, config), config.topk)[:, :, 0]
    counts = ((blocks >= 0) & (blocks < (L - 1) // config.block_size)).sum(-1, dtype=torch.int32)
    o_slc, _ = block_decode(q, k, v, blocks, counts, block_size=config.block_size)
    branches = [o_cmp, o_slc]
    if config.window > 0:
        w = min(config.window, L)
        branches.append(torch.nn.functional.scaled_dot_product_attention(
            q, k[:, :, L - w :], v[:, :, L - w :], enable_gqa=q.shape[1] != k.shape[1]))  # fmt: skip
    return _mix(gates(q, params.gate, params.gate_bias), *branches).to(q.dtype)  # o_cmp is fp32: the mix stays fp32
