"""``infllmv2_attention`` (prefill, differentiable in q, k, v) and ``infllmv2_decode``.

Selection (stages 1-4) runs under ``no_grad`` over ranges of query tokens, so the block scores
held at once stay bounded: the Triton stage-1 kernel writes ``[B, Hkv, rows, n_blocks]`` block
scores for a range, a Triton top-k keeps the best ``topk`` (ties to the earlier block, as the
reference), and only the ``[B, Hkv, N, topk]`` block ids are kept. Stage 5 is the block-sparse
attention shared with DashAttention (``dash/block_sparse.py``).
"""

from __future__ import annotations

import os

import torch

from dashbench.kernels.dash.block_decode import block_decode
from dashbench.kernels.dash.block_sparse import block_sparse_attention, selection_lists, tiles_for
from dashbench.kernels.infllmv2.stage1 import block_scores, kernel_supports
from dashbench.kernels.infllmv2.topk import topk_blocks
from dashbench.kernels.reference.attention import check_attention_inputs
from dashbench.kernels.reference.infllmv2 import BlockSelection, InfLLMv2Config, compress_keys
from dashbench.kernels.reference.infllmv2 import block_scores as reference_block_scores
from dashbench.sparsity import token_density_from_blocks

HEAD_DIMS = (64, 128)
BLOCK_SIZES = (32, 64, 128)
DTYPES = (torch.bfloat16, torch.float16, torch.float32)
MAX_GQA = 16
_SCORES_BUDGET = 32 * 1024 * 1024  # block scores held at once (fp32 elements)


def check_kernel_inputs(q, k, v, config: InfLLMv2Config) -> None:
    """What the InfLLMv2 kernels accept; ``ValueError`` names the problem."""
    check_attention_inputs(q, k, v)
    config.check()
    if q.shape[-1] not in HEAD_DIMS:
        raise ValueError(f"head dim {q.shape[-1]} not supported by the kernels (supports {HEAD_DIMS})")
    if config.block_size not in BLOCK_SIZES:
        raise ValueError(f"block_size {config.block_size} not supported by the kernels (supports {BLOCK_SIZES})")
    why = kernel_supports(config)
    if why:
        raise ValueError(f"InfLLMv2 configuration not supported by the Triton stage 1: {why}")
    if q.dtype not in DTYPES:
        raise ValueError(f"dtype {q.dtype} not supported (supports bf16, fp16, fp32)")
    if q.shape[1] // k.shape[1] > MAX_GQA:
        raise ValueError(f"GQA ratio {q.shape[1] // k.shape[1]} above {MAX_GQA}")
    if q.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise ValueError(f"the Triton kernels need a CUDA device (or TRITON_INTERPRET=1); q is on {q.device}")


@torch.no_grad()
def infllmv2_select(q, k, config: InfLLMv2Config, q_start: int | None = None,
                    compressed_keys: torch.Tensor | None = None) -> BlockSelection:  # fmt: skip
    """Stages 1-4 with the Triton stage 1: the blocks each query row attends. Rows of ``q`` sit
    at key positions ``q_start ...`` (default: the last ``Nq`` keys)."""
    B, Hq, Nq, D = q.shape
    Nk = k.shape[2]
    q_start = Nk - Nq if q_start is None else q_start
    ck = compressed_keys
    if ck is None:
        ck = compress_keys(k, config.kernel_size, config.kernel_stride)  # fp32, in slices
    n_blocks = -(-Nk // config.block_size)
    step = max(64, _SCORES_BUDGET // max(1, B * k.shape[1] * n_blocks))
    blocks = torch.empty(B, k.shape[1], Nq, config.topk, device=q.device, dtype=torch.int32)
    if Nq == 1:
        # One token (decode): the kernel's programs would each walk all compressed keys alone;
        # the reference's few batched fp32 products spread over the GPU instead (and are exact).
        positions = torch.full((1,), q_start, device=q.device)
        blocks[:] = topk_blocks(reference_block_scores(q.float(), ck, positions, n_blocks, config), config.topk)
    for r0 in range(0, Nq if Nq > 1 else 0, step):
        rows = slice(r0, min(r0 + step, Nq))
        scores = block_scores(q[:, :, rows], ck, q_start + r0, Nk, config)
        blocks[:, :, rows] = topk_blocks(scores, config.topk)
    positions = torch.arange(q_start, q_start + Nq, device=q.device)
    density = token_density_from_blocks(blocks, positions, config.block_size)
    return BlockSelection(blocks, density, positions, config.block_size)


def infllmv2_attention(q, k, v, config: InfLLMv2Config = InfLLMv2Config(), *, return_selection: bool = False):
    """Causal InfLLMv2 prefill through the Triton kernels; ``q`` ``[B, Hq, N, D]``, ``k``, ``v``
    ``[B, Hkv, N, D]``. Returns ``out`` in q's dtype, or ``(out, selection)`` whose
    ``compute_density`` is the fraction of causal (tile, block) pairs the kernel computes."""
    check_kernel_inputs(q, k, v, config)
    if q.shape[2] != k.shape[2]:
        raise ValueError(f"prefill needs as many queries as keys; got {q.shape[2]} and {k.shape[2]}")
    selection = infllmv2_select(q, k, config)
    G = q.shape[1] // k.shape[1]
    bm = tiles_for(G, config.block_size)
    lists = selection_lists(selection.blocks, bm, config.block_size)
    out = block_sparse_attention(q, k, v, selection.blocks, block_size=config.block_size, lists=lists)
    if return_selection:
        selection.compute_density = _compute_density(lists[1], q.shape[2], bm, config.block_size)
        return out, selection
    return out


def _compute_density(counts: torch.Tensor, n: int, bm: int, block_size: int) -> float:
    """(tile, block) pairs computed, own blocks included, over causal (tile, block) pairs."""
    n_tiles = counts.shape[-1]
    own = torch.arange(n_tiles, device=counts.device) * bm // block_size
    causal = float((own + 1).sum()) * counts.shape[0] * counts.shape[1]
    return float(counts.double().sum() + counts.shape[0] * counts.shape[1] * n_tiles) / causal


@torch.no_grad()
def infllmv2_decode(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                    config: InfLLMv2Config = InfLLMv2Config(), *,
                    compressed_keys: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """One decode step: ``q`` ``[B, Hq, 1, D]`` at the last position of the cache ``k``, ``v``
    (``[B, Hkv, L, D]``) scores the compressed keys, keeps its top-k blocks and attends them
    (split-KV, so batch 1 fills the GPU). Equals the last row of ``infllmv2_attention`` on the
    whole sequence. ``compressed_keys`` (``compress_keys(k, ...)``, fp32) is the cache's:
    a decode loop appends one every ``kernel_stride`` tokens instead of recomputing them. No
    host sync: the step can be captured in a CUDA graph."""
    check_kernel_inputs(q, k, v, config)
    if q.shape[2] != 1:
        raise ValueError(f"decode takes one query per sequence; got {q.shape[2]}")
    L = k.shape[2]
    selection = infllmv2_select(q, k, config, q_start=L - 1, compressed_keys=compressed_keys)
    ids = selection.blocks[:, :, 0]  # ascending: the earlier blocks come first, the own one last
    counts = ((ids >= 0) & (ids < (L - 1) // config.block_size)).sum(-1, dtype=torch.int32)
    out, _ = block_decode(q, k, v, ids, counts, block_size=config.block_size)
    return out
