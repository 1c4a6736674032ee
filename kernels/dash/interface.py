"""``dash_attention``: DashAttention prefill through the Triton kernels (stages 1-3)."""

from __future__ import annotations

import os
import weakref

import torch

from dashbench.kernels.dash.attend import attend, tma_ready
from dashbench.kernels.dash.backward import dash_backward, use_gluon_bwd_kv
from dashbench.kernels.dash.common import io_bytes
from dashbench.kernels.dash import prior
from dashbench.kernels.dash.prior import listed_bias, stored_bias_bytes
from dashbench.kernels.dash.route import (
    chunk_lists,
    list_offsets,
    padded_group,
    route,
    router_operand,
    tile_rows,
)
from dashbench.kernels.dash.summarize import summarize
from dashbench.kernels.reference.dash import DashStats, check_dash_inputs

HEAD_DIMS = (64, 128)
CHUNK_SIZES = (32, 64, 128)
DTYPES = (torch.bfloat16, torch.float16, torch.float32)
MAX_GQA = 16
# Rows (G x tokens) per program, chosen on the H100 (kernels/README.md): the attention runs
# best at 64 rows and 4 warps, the router at 128 rows and 4 warps.
ATTEND_ROWS = 64
ROUTE_ROWS = 128
# K/V through tensor descriptors (TMA), which Triton multi-buffers where it does not the pointer
# loads. Timed on the H100 (128k, structured 25%): the attention at 2 stages 100.8 vs 116.2 ms
# (Hkv=8) and 54.7 vs 63.9 ms (Hkv=2); at 3 stages its shared memory leaves one CTA per SM and it
# is slower (127.5 ms). The backward kernels are slower with it (dq 64.8 vs 41.1 ms at 32k), so
# they keep pointer loads (kernels/README.md).
ATTEND_TMA = True
ATTEND_TMA_STAGES = 2
BACKWARD_TMA = False
# The prior's biases of the listed (tile, chunk) pairs computed once before the attention
# (prior.py: tensor-core scores with the router's arithmetic, the mean over heads in-thread)
# instead of recomputed per listed chunk inside it. Without the recomputation the attention's
# registers fall 253 -> 142 (sm_90) and it runs best at 3 TMA stages with the diagonal chunk
# last. H100, structured 25%, fp32 biases (results/reference/h100-dash/stop20/): 128k attention
# 56.71 -> 49.22 + 2.13 ms for the biases (Hkv=2), 95.36 -> 82.55 + 3.81 (Hkv=8); 32k 3.78 ->
# 3.30 + 0.27 (Hkv=2). They grow as N^2 / C (fp16 for bf16 inputs: at 128k, 25%, 3.3% of the
# bytes of q, k, v and out at Hkv=2, 19% at Hkv=8), so they are stored only within
# STORED_BIAS_MAX_FRACTION of those bytes (freed after the attention, or with gradients held for
# the Gluon dk/dv kernel, backward.use_gluon_bwd_kv): the spec's 25% budget
# for a 128k prefill's extra memory less the ~6% the rest of the forward holds (lists, masks,
# thresholds, lse). Past it the attention recomputes them and memory stays linear in N.
ATTEND_STORED_BIAS = True
STORED_BIAS_MAX_FRACTION = 0.19
STORED_BIAS_TMA_STAGES = 3
# With stored biases (fp16, or fp32 for fp16 inputs) and bf16/fp16 inputs on an sm_90 GPU the
# attention runs as a Gluon kernel
# (gluon_attend.py: the next chunk's QKᵀ and this chunk's PV in flight during the softmax, the
# listed chunks' scale, bias and max folded into one FMA), equal to ``attend`` to fp32 rounding.
# H100, structured 25%, same process (results/reference/h100-dash/stop21/83e1dc3_e/): 128k
# 84.14 -> 74.54 ms (Hkv=8), 51.16 -> 41.22 (Hkv=2); 32k 5.45 -> 4.92, 3.40 -> 2.90.
ATTEND_GLUON = True
# ... with its K/V loads issued by a producer warp (gluon_ws_attend.py; FA3's producer): 318
# instructions a warp per listed chunk against 382. H100, structured 25%, same process
# (results/reference/h100-dash/stop22/68c7ec2_a/): 128k 76.38 -> 74.48 ms (Hkv=8), 41.61 ->
# 40.86 (Hkv=2); 32k 4.89 -> 4.77, 2.907 -> 2.871. A second consumer warpgroup taking turns
# (gluon_pingpong_attend.py) was slower: 87.6 / 44.97 ms at 128k.
ATTEND_GLUON_WS = True
# An inference forward (no gradients) whose chunk lists and stored biases, sized for every causal
# (tile, chunk) pair, stay within SYNC_FREE_MAX_FRACTION of the bytes of q, k, v and out sizes
# them so instead of fetching the routed pair count: no synchronization, so the host launches
# the whole call while the router runs (the fetch idles the GPU until the host has launched what
# follows it). The worst case grows as N^2 / (tile * chunk), so it holds for short sequences
# only (Hkv 2: to 32k, 8.8%; Hkv 8: to 16k, 11.2%), where launches weigh most. H100, structured
# 25%, 5 rotated rounds against the fetching forward (results/reference/h100-dash/stop25/
# 150cc1f_b/): Hkv 2 8k 1.121 -> 0.962 ms, 16k 1.988 -> 1.663, 32k 5.302 -> 5.289 (10%: 4.005 ->
# 3.724); Hkv 8 8k 1.208 -> 0.901. head_cls's values are then checked once per tensor version
# (``_check_head_cls``).
SYNC_FREE_MAX_FRACTION = 0.12


def check_kernel_limits(q, k, size: int, size_name: str = "chunk_size") -> None:
    """What the attention kernels (DashAttention's, and block-sparse for InfLLMv2 and NSA) run:
    head dims, chunk (block) sizes, dtypes, GQA ratios, a device; ``ValueError`` names the problem."""
    if q.shape[-1] not in HEAD_DIMS:
        raise ValueError(f"head dim {q.shape[-1]} not supported by the kernels (supports {HEAD_DIMS})")
    if size not in CHUNK_SIZES:
        raise ValueError(f"{size_name} {size} not supported by the kernels (supports {CHUNK_SIZES})")
    if q.dtype not in DTYPES:
        raise ValueError(f"dtype {q.dtype} not supported (supports bf16, fp16, fp32)")
    if q.shape[1] // k.shape[1] > MAX_GQA:
        raise ValueError(f"GQA ratio {q.shape[1] // k.shape[1]} above {MAX_GQA}")
    if q.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise ValueError(f"the Triton kernels need a CUDA device (or TRITON_INTERPRET=1); q is on {q.device}")


def check_kernel_inputs(q, k, v, head_cls, chunk_size: int, check_values: bool = True) -> None:
    """What the kernels accept beyond the math's own contract; ``ValueError`` names the problem."""
    check_dash_inputs(q, k, v, head_cls, chunk_size, check_values)
    check_kernel_limits(q, k, chunk_size)
    if q.shape[2] != k.shape[2]:
        raise ValueError(f"prefill needs as many queries as keys; got {q.shape[2]} and {k.shape[2]}")


def attend_config(k, v, stored_bias: bool) -> dict:
    """The attention's launch settings as ``dash_attention`` runs it (timed on the H100)."""
    tma = ATTEND_TMA and tma_ready(k, v)
    if not tma:
        return dict(tma=False, num_stages=3, diagonal_last=False)
    if stored_bias:
        return dict(tma=True, num_stages=STORED_BIAS_TMA_STAGES, diagonal_last=True)
    return dict(tma=True, num_stages=ATTEND_TMA_STAGES, diagonal_last=False)


def use_stored_bias(q, k, n_pairs: int, bm: int, sigma: float = 1.0) -> bool:
    """Whether the forward stores the prior's biases (``ATTEND_STORED_BIAS``, within
    ``STORED_BIAS_MAX_FRACTION`` of the bytes of q, k, v and out)."""
    limit = STORED_BIAS_MAX_FRACTION * io_bytes(q, k)
    return ATTEND_STORED_BIAS and stored_bias_bytes(n_pairs, bm, q.dtype, sigma) <= limit


def use_gluon_attend(q, k, v, bias, bm: int, gp: int, chunk_size: int) -> bool:
    """Whether the stored-bias attention runs as the Gluon kernel (``ATTEND_GLUON``): fp16 or
    fp32 biases, bf16/fp16 q, k, v on an sm_90 GPU, 64-row tiles, 64-token chunks (what its GPU
    runs cover) and a Triton with Gluon's Hopper ops; otherwise ``attend`` runs."""
    if not (ATTEND_GLUON and bias is not None and bias.dtype in (torch.float16, torch.float32) and q.is_cuda):
        return False
    if q.dtype not in (torch.bfloat16, torch.float16):  # fp32 inputs: the Triton attention
        return False
    if os.environ.get("TRITON_INTERPRET") == "1" or torch.cuda.get_device_capability(q.device) != (9, 0):
        return False
    if gp * bm != 64 or bm % 2 or chunk_size != 64 or not tma_ready(k, v):
        return False
    if k.shape[0] * k.shape[1] * k.shape[2] >= 2**31:
        return False
    try:
        from dashbench.kernels.dash import gluon_attend  # noqa: F401  (Triton >= 3.6)
    except ImportError:
        return False
    return True


def causal_pair_capacity(n: int, bm: int, chunk_size: int, batch_heads: int) -> int:
    """(tile, chunk) pairs a forward's chunk lists can hold at most: every chunk before each
    tile's own (the router lists no other), over ``batch_heads`` = B * Hkv."""
    per_chunk = chunk_size // bm  # tiles in a chunk (tiles never straddle one)
    n_tiles = -(-n // bm)
    full, rest = divmod(n_tiles, per_chunk)
    return batch_heads * (per_chunk * full * (full - 1) // 2 + rest * full)


def sync_free_capacity(q, k, bm: int, chunk_size: int, sigma: float) -> int | None:
    """The pair capacity the forward sizes its lists and biases by without a synchronization
    (``SYNC_FREE_MAX_FRACTION``), or ``None`` where it fetches the routed count instead."""
    capacity = causal_pair_capacity(q.shape[2], bm, chunk_size, k.shape[0] * k.shape[1])
    held = 4 * capacity + (stored_bias_bytes(capacity, bm, q.dtype, sigma) if ATTEND_STORED_BIAS else 0)
    return capacity if held <= SYNC_FREE_MAX_FRACTION * io_bytes(q, k) else None


_checked_head_cls = (None, -1)  # (weak reference, version) of the last head_cls found finite


def _check_head_cls(head_cls) -> None:
    """``ValueError`` for non-finite head_cls; a synchronization only for a tensor (or an in-place
    change of it: its version counter) not already found finite."""
    global _checked_head_cls
    ref, version = _checked_head_cls
    if ref is not None and ref() is head_cls and version == head_cls._version:
        return
    if not bool(torch.isfinite(head_cls).all()):
        raise ValueError("head_cls has non-finite entries")
    _checked_head_cls = (weakref.ref(head_cls), head_cls._version)


def gluon_kernel():
    """The Gluon attention ``dash_attention`` runs where ``use_gluon_attend`` holds."""
    if ATTEND_GLUON_WS:
        from dashbench.kernels.dash.gluon_ws_attend import gluon_ws_attend

        return gluon_ws_attend
    from dashbench.kernels.dash.gluon_attend import gluon_attend

    return gluon_attend


class _DashAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, head_cls, chunk_size, scaling, sigma, estimate_diagonal):
        G = q.shape[1] // k.shape[1]
        bm, gp = tile_rows(G, chunk_size, ATTEND_ROWS), padded_group(G)
        # Not with gradients: the backward reads the lists packed, exactly the routed pairs.
        capacity = None if any(ctx.needs_input_grad[:4]) else sync_free_capacity(q, k, bm, chunk_size, sigma)
        if capacity is not None:
            _check_head_cls(head_cls)  # (the caller's tensor, whose version counter it keeps)
        # The kernels index the head dim with unit stride and head_cls as [Hkv, D] rows.
        q = q if q.stride(-1) == 1 else q.contiguous()
        k, v, head_cls = k.contiguous(), v.contiguous(), head_cls.contiguous()
        summaries = summarize(k, head_cls, chunk_size)
        operand = router_operand(summaries, scaling, q.dtype)  # the router's and the biases'
        tau, log_g, count, mask, tile_count = route(
            q, summaries, chunk_size, scaling, bm, route_bm=tile_rows(G, chunk_size, ROUTE_ROWS),
            operand=operand,
        )
        offsets = list_offsets(tile_count)
        if capacity is not None:
            n_pairs = capacity
        else:
            # head_cls's values are checked here, fetched with the lists' size: one synchronization
            # a call instead of two. The GPU idles from it until the host has launched what follows
            # (0.6-0.8 ms a call at 32k, stop 24), so what does not need the size goes before it.
            n_pairs, finite = torch.stack([tile_count.sum(dtype=torch.int64), torch.isfinite(head_cls).all().long()]).tolist()
            if not finite:
                raise ValueError("head_cls has non-finite entries")
        stored = use_stored_bias(q, k, n_pairs, bm, sigma)
        fused = stored and prior.BIAS_EXPANDS_LISTS  # (the bias kernel writes the lists)
        offsets, ids = chunk_lists(mask, tile_count, n_pairs, offsets, expand=not fused)
        bias = None
        if stored:
            bias = listed_bias(q, summaries, tau, log_g, offsets, tile_count, ids, scaling=scaling, sigma=sigma,
                               estimate_diagonal=estimate_diagonal, bm=bm, gp=gp, operand=operand,
                               mask=mask if fused else None)  # fmt: skip
        del operand  # (not held through the attention, where the memory peaks)
        gluon = use_gluon_attend(q, k, v, bias, bm, gp, chunk_size)
        if gluon:
            out, lse = gluon_kernel()(q, k, v, offsets, tile_count, ids, bias, chunk_size=chunk_size, bm=bm, gp=gp,
                                    stages=STORED_BIAS_TMA_STAGES)  # fmt: skip
        else:
            out, lse = attend(q, k, v, summaries, tau, log_g, offsets, tile_count, ids, chunk_size=chunk_size,
                              scaling=scaling, sigma=sigma, estimate_diagonal=estimate_diagonal,
                              bm=bm, gp=gp, bias=bias, **attend_config(k, v, bias is not None))  # fmt: skip
        # The Gluon dk/dv kernel reads the stored biases (held to the backward: within their
        # budget of the forward's extra memory); otherwise they are freed here.
        keep = bias if any(ctx.needs_input_grad[:4]) and use_gluon_bwd_kv(q, k, bias, bm, gp, chunk_size) else None
        del bias
        ctx.save_for_backward(q, k, v, head_cls, out, lse, summaries, tau, log_g, count, offsets,
                              tile_count, ids, q.new_empty(0) if keep is None else keep)  # fmt: skip
        ctx.args = dict(chunk_size=chunk_size, scaling=scaling, sigma=sigma,
                        estimate_diagonal=estimate_diagonal, bm=bm, gp=gp,
                        tma=BACKWARD_TMA and tma_ready(k, v))  # fmt: skip
        ran_gluon = torch.tensor(gluon)  # which kernel computed the attention, for the stats
        ctx.mark_non_differentiable(count, tile_count, ran_gluon)
        return out, count, tile_count, ran_gluon

    @staticmethod
    def backward(ctx, d_out, _d_count, _d_tile_count, _d_ran_gluon):
        q, k, v, head_cls, out, lse, *routing, bias = ctx.saved_tensors
        dq, dk, dv, d_head = dash_backward(q.contiguous(), k, v, head_cls, out, lse, d_out, *routing, **ctx.args,
                                           bias=bias if bias.numel() else None)  # fmt: skip
        return (dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype), d_head.to(head_cls.dtype),
                None, None, None, None)  # fmt: skip


def dash_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    head_cls: torch.Tensor,
    *,
    chunk_size: int = 64,
    scaling: float = 1.0,
    sigma: float = 1.0,
    estimate_diagonal: bool = True,
    return_stats: bool = False,
):
    """Causal DashAttention prefill (see ``shared/specs/dashattention.md``).

    Args:
        q: ``[B, Hq, N, D]``; k, v: ``[B, Hkv, N, D]`` (``Hq % Hkv == 0``, ratio <= 16);
            head_cls: ``[Hkv, D]``. D in {64, 128}; bf16, fp16 or fp32; any N >= 1.
        chunk_size: 32, 64 or 128.
        scaling: multiplies the routing scores (the sparsity knob; see ``calibrate_scaling``).
        sigma: prior temperature (1: full entmax prior; large: flat).
        estimate_diagonal: centre the prior on the geometric mean of the routed chunks.
        return_stats: also return :class:`DashStats` (active chunks per token, token density,
            and compute density: the fraction of causal (query tile, chunk) pairs computed).

    Returns ``out`` ``[B, Hq, N, D]`` in q's dtype, or ``(out, stats)``. Differentiable in q, k,
    v and head_cls through Triton backward kernels (``kernels/dash/backward.py``).
    """
    check_kernel_inputs(q, k, v, head_cls, chunk_size, check_values=False)  # values: in the forward
    out, count, tile_count, ran_gluon = _DashAttention.apply(q, k, v, head_cls, chunk_size, float(scaling),
                                            float(sigma), bool(estimate_diagonal))  # fmt: skip
    if not return_stats:
        return out
    bm = tile_rows(q.shape[1] // k.shape[1], chunk_size, ATTEND_ROWS)
    stats = routing_stats(count, tile_count, chunk_size, q.shape[2], bm)
    stats.attention_kernel = "gluon-sm90" if bool(ran_gluon) else "triton"  # what the forward ran
    return out, stats


def routing_stats(count, tile_count, chunk_size: int, n: int, bm: int) -> DashStats:
    """Token density from per-token counts; compute density from the per-tile union sizes."""
    pos = torch.arange(n, device=count.device)
    own = pos // chunk_size
    keys = (count.long() - 1) * chunk_size + (pos - own * chunk_size + 1)
    token_density = keys.double() / (pos.double() + 1)
    tile_own = (torch.arange(tile_count.shape[2], device=count.device) * bm) // chunk_size
    computed = (tile_count + 1).double().sum()  # + the diagonal chunk of every tile
    causal = (tile_own + 1).double().sum() * count.shape[0] * count.shape[1]
    return DashStats(active_chunks=count, token_density=token_density,
                     compute_density=float(computed / causal), positions=pos,
                     chunk_size=chunk_size)  # fmt: skip
