"""``infllmv2_attention`` (prefill, differentiable in q, k, v) and ``infllmv2_decode``.

Selection (stages 1-4) runs under ``no_grad`` over ranges of query tokens, so the block scores
held at once stay bounded: the Triton stage-1 kernel writes ``[B, Hkv, rows, n_blocks]`` block
scores for a range, a Triton top-k keeps the best ``topk`` (ties to the earlier block, as the
reference), and only the ``[B, Hkv, N, topk]`` block ids are kept. Stage 5 is the block-sparse
attention shared with DashAttention (``dash/block_sparse.py``).
"""

from __future__ import annotations

import torch

from dashbench.kernels.dash.block_decode import block_decode
from dashbench.kernels.dash.block_sparse import (
    block_sparse_attention,
    check_block_kernel_inputs,
    selection_lists,
    tiles_for,
)
from dashbench.kernels.infllmv2.stage1 import block_scores, kernel_supports, split_keys, tokens_per_program
from dashbench.kernels.infllmv2.topk import topk_blocks
from dashbench.kernels.reference.infllmv2 import BlockSelection, InfLLMv2Config, compress_keys
from dashbench.kernels.reference.infllmv2 import block_scores as reference_block_scores
from dashbench.sparsity import token_density_from_blocks

_SCORES_BUDGET = 32 * 1024 * 1024  # block scores held at once (fp32 elements)


def check_kernel_inputs(q, k, v, config: InfLLMv2Config) -> None:
    """What the InfLLMv2 kernels accept; ``ValueError`` names the problem."""
    check_block_kernel_inputs(q, k, v, config.block_size)
    config.check()
    why = kernel_supports(config)
    if why:
        raise ValueError(f"InfLLMv2 configuration not supported by the Triton stage 1: {why}")


def select_in_ranges(q, ck: torch.Tensor, q_start: int, n_keys: int, config, score: str = "max") -> torch.Tensor:
    """``[B, Hkv, Nq, topk]`` selected blocks of the query rows ``q`` (at key positions
    ``q_start ...``) through the stage-1 kernel and the top-k, over ranges of rows so the block
    scores held at once stay under ``_SCORES_BUDGET``, or two waves of programs on the GPU when
    that is more (``config``: the stage-1 view)."""
    B, Hq, Nq, _ = q.shape
    Hkv = ck.shape[1]
    n_blocks = -(-n_keys // config.block_size)
    blocks = torch.empty(B, Hkv, Nq, config.topk, device=q.device, dtype=torch.int32)
    step = max(64, _SCORES_BUDGET // max(1, B * Hkv * n_blocks))
    if q.is_cuda:
        # at least two waves of programs per launch, whatever the budget says: at 1M tokens
        # (16k blocks) it held 256 rows, 32 programs on 132 SMs, 4096 launches
        sms = torch.cuda.get_device_properties(q.device).multi_processor_count
        per_program = tokens_per_program(Hq // Hkv, config.block_size, q.dtype)
        step = max(step, -(-2 * sms // (B * Hkv)) * per_program)
    keys = split_keys(ck, q.dtype)  # once, not per range
    for r0 in range(0, Nq, step):
        rows = slice(r0, min(r0 + step, Nq))
        scores = block_scores(q[:, :, rows], keys, q_start + r0, n_keys, config, score=score)
        blocks[:, :, rows] = topk_blocks(scores, config.topk)
    return blocks


@torch.no_grad()
def infllmv2_select(q, k, config: InfLLMv2Config, q_start: int | None = None,
                    compressed_keys: torch.Tensor | None = None) -> BlockSelection:  # fmt: skip
    """Stages 1-4 with the Triton stage 1: the blocks each query row attends. Rows of ``q`` sit
    at key positions ``q_start ...`` (default: the last ``Nq`` keys)."""
    Nq, Nk = q.shape[2], k.shape[2]
    q_start = Nk - Nq if q_start is None else q_start
    blocks = _selected_blocks(q, k, config, q_start, compressed_keys)
    positions = torch.arange(q_start, q_start + Nq, device=q.device)
    density = token_density_from_blocks(blocks, positions, config.block_size)
    return BlockSelection(blocks, density, positions, config.block_size)


def _selected_blocks(q, k, config: InfLLMv2Config, q_start: int, ck: torch.Tensor | None) -> torch.Tensor:
    Nq, Nk = q.shape[2], k.shape[2]
    if ck is None:
        ck = compress_keys(k, config.kernel_size, config.kernel_stride)  # fp32, in slices
    if Nq > 1:
        return select_in_ranges(q, ck, q_start, Nk, config)
    # One token (decode): the kernel's programs would each walk all compressed keys alone;
    # the reference's few batched fp32 products spread over the GPU instead (and are exact).
    positions = torch.full((1,), q_start, device=q.device)
    scores = reference_block_scores(q.float(), ck, positions, -(-Nk // config.block_size), config)
    return topk_blocks(scores, config.topk)


def infllmv2_attention(q, k, v, config: InfLLMv2Config = InfLLMv2Config(), *, return_selection: bool = False):
    """Causal InfLLMv2 prefill through the Triton kernels; ``q`` ``[B, Hq, N, D]``, ``k``, ``v``
    ``[B, Hkv, N, D]``. Returns ``out`` in q's dtype, or ``(out, selection)`` whose
    ``compute_density`` is the fraction of causal (tile, block) pairs the kernel computes."""
    check_kernel_inputs(q, k, v, config)
    if q.shape[2] != k.shape[2]:
        raise ValueError(f"prefill needs as many queries as keys; got {q.shape[2]} and {k.shape[2]}")
    N = q.shape[2]
    with torch.no_grad():
        blocks = _selected_blocks(q, k, config, 0, None)  # the density only when asked for
    bm = tiles_for(q.shape[1] // k.shape[1], config.block_size)
    lists = selection_lists(blocks, bm, config.block_size)
    out = block_sparse_attention(q, k, v, blocks, block_size=config.block_size, lists=lists)
    if not return_selection:
        return out
    positions = torch.arange(N, device=q.device)
    density = token_density_from_blocks(blocks, positions, config.block_size)
    return out, BlockSelection(blocks, density, positions, config.block_size,
                               _compute_density(lists[1], N, bm, config.block_size))  # fmt: skip


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
    # the blocks only: the selection's token density is not needed for the output
    ids = _selected_blocks(q, k, config, L - 1, compressed_keys)[:, :, 0]  # ascending, own one last
    counts = ((ids >= 0) & (ids < (L - 1) // config.block_size)).sum(-1, dtype=torch.int32)
    out, _ = block_decode(q, k, v, ids, counts, block_size=config.block_size)
    return out
