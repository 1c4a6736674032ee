"""Native Sparse Attention (DeepSeek, arXiv 2502.11089) in plain PyTorch: the ground truth for
the NSA providers. ``shared/specs/baselines.md`` fixes the two configurations:

* ``NSAConfig.paper()``: compression windows of 32 every 16 tokens through a learned linear map,
  selection blocks of 64, 16 selected blocks including 1 initial and 2 local (the query's own
  and the one before), a 512-token sliding window, three gated branches;
* ``NSAConfig.dash_paper()`` (what DashAttention was compared against): the same compression
  through a small per-channel MLP, selection scored InfLLMv2-style (group-summed probabilities,
  max over the overlapping compressed tokens), top-64 with 1 initial and 16 local blocks
  forced, no window, two gates.

For query ``t`` (0-based) the three branches are

* compression: softmax attention over the compressed keys/values whose window ends at or
  before ``t`` (``stride * m + size - 1 <= t``); none visible gives 0;
* selection: probabilities of the compression branch summed over the GQA group, mapped onto
  selection blocks (``"sum"``: weighted by each window's overlap with the block in strides,
  1, 2, 2, 2, 1 with the defaults, as the paper's Eq. 9; ``"max"``: InfLLMv2's max), forced
  blocks ``+inf``, later ones out, top-k (ties to the earlier block), then exact attention over
  the selected blocks' tokens, causal;
* window: attention over the last ``window`` keys up to ``t``;

mixed as ``sum_c g_c * o_c`` with gates ``g = sigmoid(q . W_g)`` per query head. The paper
computes its gates from the layer input; on kernel-level inputs (q, k, v only) the gates come
from the query, as in the DashAttention authors' NSA. Selection is not differentiable; the
branches, the compression map and the gates are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch.utils.checkpoint import checkpoint

from dashbench.kernels.reference.attention import check_attention_inputs
from dashbench.kernels.reference.infllmv2 import _attend_selected, _positions, select_blocks, window_overlap
from dashbench.sparsity import token_density_from_blocks

_SCORE_BUDGET = 32 * 1024 * 1024
COMPRESSIONS = ("linear", "mlp", "mean")
SCORES = ("sum", "max")


@dataclass(frozen=True)
class NSAConfig:
    block_size: int = 64  # selection blocks
    cmp_size: int = 32  # compression window l
    cmp_stride: int = 16  # compression stride d
    topk: int = 16  # selected blocks, forced ones included
    init_blocks: int = 1
    local_blocks: int = 1  # forced blocks before the query's own (which is always forced)
    window: int = 512  # sliding-window branch; 0: none
    score: str = "sum"  # how compressed probabilities become block scores
    compression: str = "linear"  # "linear" (paper), "mlp" (DashAttention's NSA), "mean"
    mlp_hidden: int = 128

    @classmethod
    def paper(cls, **changes) -> NSAConfig:
        return replace(cls(), **changes)

    @classmethod
    def dash_paper(cls, **changes) -> NSAConfig:
        return replace(cls(topk=64, local_blocks=16, window=0, score="max", compression="mlp"), **changes)

    @property
    def forced_blocks(self) -> int:
        return self.init_blocks + self.local_blocks + 1

    @property
    def gates(self) -> tuple[str, ...]:
        return ("cmp", "slc", "win") if self.window > 0 else ("cmp", "slc")

    def check(self) -> None:
        for name in ("block_size", "cmp_size", "cmp_stride", "topk"):
            if getattr(self, name) < 1:
                raise ValueError(f"NSA {name} must be positive; got {getattr(self, name)}")
        if self.init_blocks < 0 or self.local_blocks < 0 or self.window < 0:
            raise ValueError("NSA init_blocks, local_blocks and window must be >= 0")
        if self.topk < self.forced_blocks:
            raise ValueError(f"NSA topk {self.topk} is below its {self.forced_blocks} forced blocks "
                             f"({self.init_blocks} initial + {self.local_blocks} local + the query's own)")  # fmt: skip
        if self.score not in SCORES:
            raise ValueError(f"NSA score must be one of {SCORES}; got {self.score!r}")
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"NSA compression must be one of {COMPRESSIONS}; got {self.compression!r}")


@dataclass
class NSAParams:
    """Learned parameters of one NSA layer (kernel benchmarks use seeded random ones).

    gate ``[Hq, D, n_gates]``; ``linear``: key/value maps ``[Hkv, l * D, D]`` of the flattened
    window (the paper adds an intra-block position encoding first; before a linear map it only
    shifts every compressed key by one vector, which softmax ignores, so it is left out);
    ``mlp``: one per-channel MLP
    from the window's ``l`` keys and ``l`` values of a channel to its compressed key and value
    (``w1 [2l, hidden]``, ``b1``, ``w2 [hidden, 2]``, ``b2``)."""

    gate: torch.Tensor
    weights: dict[str, torch.Tensor]
    # ``[Hq, n_gates]`` added before the sigmoid (the paper's gate MLP has one); None: zero. A
    # converted dense checkpoint sets it so the selection branch alone is on (models/convert.py).
    gate_bias: torch.Tensor | None = None

    @classmethod
    def random(cls, config: NSAConfig, hq: int, hkv: int, d: int, *, seed: int = 0, device="cpu",
               dtype=torch.float32) -> NSAParams:  # fmt: skip
        g = torch.Generator().manual_seed(seed)

        def rnd(*shape, scale):
            return (torch.randn(*shape, generator=g) * scale).to(device, dtype)

        l = config.cmp_size  # noqa: E741
        weights: dict[str, torch.Tensor] = {}
        if config.compression == "linear":
            weights = {"wk": rnd(hkv, l * d, d, scale=(l * d) ** -0.5), "wv": rnd(hkv, l * d, d, scale=(l * d) ** -0.5)}
        elif config.compression == "mlp":
            h = config.mlp_hidden
            weights = {"w1": rnd(2 * l, h, scale=(2 * l) ** -0.5), "b1": rnd(h, scale=0.0),
                       "w2": rnd(h, 2, scale=h**-0.5), "b2": rnd(2, scale=0.0)}  # fmt: skip
        return cls(gate=rnd(hq, d, len(config.gates), scale=d**-0.5), weights=weights)

    def tensors(self) -> list[torch.Tensor]:
        return [self.gate, *self.weights.values()] + ([] if self.gate_bias is None else [self.gate_bias])


def compress(k: torch.Tensor, v: torch.Tensor, config: NSAConfig, params: NSAParams):
    """Compressed keys and values ``[B, Hkv, M, D]`` of the complete windows
    ``[s*m, s*m + l)``, computed in fp32 (fp64 for fp64 inputs); ``M = 0`` below ``l`` keys.
    Windows are taken in slices: a copy of every window at once is ``l / s`` times the cache."""
    B, H, N, D = k.shape
    l, s = config.cmp_size, config.cmp_stride  # noqa: E741
    dtype = torch.promote_types(k.dtype, torch.float32)
    if N < l:
        return k.new_zeros(B, H, 0, D, dtype=dtype), v.new_zeros(B, H, 0, D, dtype=dtype)
    k_windows = k.unfold(2, l, s).transpose(-1, -2)  # views: [B, H, M, l, D]
    v_windows = v.unfold(2, l, s).transpose(-1, -2)
    w = {name: t.to(dtype) for name, t in params.weights.items()}
    width = config.mlp_hidden if config.compression == "mlp" else l
    step = max(1, _SCORE_BUDGET // max(1, B * H * D * width))
    keys, values = [], []
    for m0 in range(0, k_windows.shape[2], step):
        kw = k_windows[:, :, m0 : m0 + step].to(dtype)
        vw = v_windows[:, :, m0 : m0 + step].to(dtype)
        if config.compression == "mean":
            kc, vc = kw.mean(-2), vw.mean(-2)
        elif config.compression == "linear":
            M = kw.shape[2]
            kc = torch.einsum("bhmx,hxd->bhmd", kw.reshape(B, H, M, l * D), w["wk"])
            vc = torch.einsum("bhmx,hxd->bhmd", vw.reshape(B, H, M, l * D), w["wv"])
        else:  # per channel: the window's l keys and l values of a channel -> hidden -> 2
            x = torch.cat([kw, vw], dim=-2).transpose(-1, -2)  # [B, H, m, D, 2l]
            y = torch.relu(x @ w["w1"] + w["b1"]) @ w["w2"] + w["b2"]
            kc, vc = y[..., 0], y[..., 1]
        keys.append(kc)
        values.append(vc)
    return torch.cat(keys, dim=2), torch.cat(values, dim=2)


def _block_map(n_blocks: int, n_compressed: int, config: NSAConfig, device):
    """Compressed windows overlapping each selection block, with the overlap in strides."""
    return window_overlap(n_blocks, n_compressed, config.block_size, config.cmp_stride, config.cmp_size, device)


def _compressed_attention(q, kc, vc, positions, config):
    """Compression branch and its probabilities: ``(o [B, Hq, Nq, D], p [B, Hkv, G, Nq, M])``."""
    B, Hq, Nq, D = q.shape
    Hkv, M = kc.shape[1], kc.shape[2]
    G = Hq // Hkv
    if M == 0:
        return q.new_zeros(B, Hq, Nq, D), q.new_zeros(B, Hkv, G, Nq, 0)
    x = torch.matmul(q.reshape(B, Hkv, G * Nq, D), kc.transpose(-1, -2)) / math.sqrt(D)
    ends = config.cmp_stride * torch.arange(M, device=q.device) + config.cmp_size - 1
    x = x.view(B, Hkv, G, Nq, M).masked_fill(ends[None, :] > positions[:, None], float("-inf"))
    p = torch.softmax(x, dim=-1).nan_to_num(0.0)  # no visible window: the branch gives 0
    o = weighted_values(p.reshape(B, Hkv, G * Nq, M), vc).view(B, Hq, Nq, D)
    return o, p


def weighted_values(p: torch.Tensor, vc: torch.Tensor, slice_len: int = 128) -> torch.Tensor:
    """``p @ vc`` for ``p`` ``[B, H, R, M]``, ``vc`` ``[B, H, M, D]``. For a few rows over many
    compressed keys (a decode step) cuBLAS picks a small-N fp32 kernel that took 0.26 ms at 8k
    keys on the H100 (more than the rest of the step); the products of ``slice_len``-key slices,
    summed, spread the same work over the GPU."""
    B, H, R, M = p.shape
    main = M - M % slice_len
    if R > 16 or main < 4 * slice_len:
        return torch.matmul(p, vc)
    n = main // slice_len
    parts = torch.matmul(p[..., :main].reshape(B, H, R, n, slice_len).transpose(2, 3),
                         vc[:, :, :main].reshape(B, H, n, slice_len, vc.shape[-1]))  # [B, H, n, R, D]
    out = parts.sum(2)
    if main < M:
        out = out + torch.matmul(p[..., main:], vc[:, :, main:])
    return out


def _select(p, positions, n_blocks, config):
    """Selection blocks ``[B, Hkv, Nq, topk]`` from the compression probabilities."""
    return select_blocks(block_scores(p, positions, n_blocks, config), config.topk)


def block_scores(p, positions, n_blocks, config):
    """Block scores ``[B, Hkv, Nq, n_blocks]`` from the compression probabilities ``p``
    ``[B, Hkv, G, Nq, M]``: group-summed, pooled onto blocks, forced ``+inf``, later ``-inf``."""
    B, Hkv, G, Nq, M = p.shape
    own = torch.div(positions, config.block_size, rounding_mode="floor")
    if M > 0:
        summed = p.sum(2)
        ids, weight = _block_map(n_blocks, M, config, p.device)
        if config.score == "sum":
            scores = (summed[..., ids] * weight).sum(-1)
        else:
            scores = torch.where(weight > 0, summed[..., ids], 0.0).amax(-1)
    else:
        scores = p.new_zeros(B, Hkv, Nq, n_blocks)
    j = torch.arange(n_blocks, device=p.device)[None, :]
    forced = (j < config.init_blocks) | ((j >= own[:, None] - config.local_blocks) & (j <= own[:, None]))
    return scores.masked_fill(forced, float("inf")).masked_fill(j > own[:, None], float("-inf"))


def _window_attention(q, k, v, positions, window):
    B, Hq, Nq, D = q.shape
    Hkv, Nk = k.shape[1], k.shape[2]
    G = Hq // Hkv
    kpos = torch.arange(Nk, device=q.device)[None, :]
    allowed = (kpos <= positions[:, None]) & (kpos > positions[:, None] - window)
    x = torch.matmul(q.reshape(B, Hkv, G * Nq, D), k.transpose(-1, -2)) / math.sqrt(D)
    x = x.view(B, Hkv, G, Nq, Nk).masked_fill(~allowed, float("-inf"))
    return torch.matmul(torch.softmax(x, -1).view(B, Hkv, G * Nq, Nk), v).view(B, Hq, Nq, D)


def _block(q, k, v, kc, vc, gate, positions, config, blocks=None, gate_bias=None):
    n_blocks = -(-k.shape[2] // config.block_size)
    o_cmp, p = _compressed_attention(q, kc, vc, positions, config)
    if blocks is None:
        with torch.no_grad():
            blocks = _select(p.detach(), positions, n_blocks, config)
    logits = torch.einsum("bhnd,hdc->bhnc", q, gate)
    g = torch.sigmoid(logits if gate_bias is None else logits + gate_bias[:, None, :])
    out = g[..., 0:1] * o_cmp + g[..., 1:2] * _attend_selected(q, k, v, blocks, positions, config.block_size)
    if config.window > 0:
        out = out + g[..., 2:3] * _window_attention(q, k, v, positions, config.window)
    return out, blocks


def nsa_reference(q, k, v, params: NSAParams, config: NSAConfig = NSAConfig(), *, return_selection: bool = False,
                  q_positions=None, compute_dtype=torch.float32, block_q: int | None = None,
                  blocks: torch.Tensor | None = None):  # fmt: skip
    """Causal NSA in plain PyTorch, differentiable in q, k, v and the parameters.

    Returns ``out`` ``[B, Hq, Nq, D]`` in ``compute_dtype``, or ``(out, selection)`` with
    ``selection.blocks`` ``[B, Hkv, Nq, topk]`` and ``selection.token_density`` (selected
    blocks and window together). ``blocks`` replaces the selection (e.g. a kernel's, to compare
    the branches on the same blocks where near-ties may break differently)."""
    from dashbench.kernels.reference.infllmv2 import BlockSelection

    check_attention_inputs(q, k, v)
    config.check()
    B, Hq, Nq, D = q.shape
    Nk = k.shape[2]
    if params.gate.shape != (Hq, D, len(config.gates)):
        raise ValueError(f"NSA gate must be [Hq, D, {len(config.gates)}] = [{Hq}, {D}, {len(config.gates)}]; "
                         f"got {tuple(params.gate.shape)}")  # fmt: skip
    if params.gate_bias is not None and params.gate_bias.shape != (Hq, len(config.gates)):
        raise ValueError(f"NSA gate_bias must be [Hq, {len(config.gates)}]; got {tuple(params.gate_bias.shape)}")
    positions = _positions(q_positions, Nq, Nk, q.device)
    dtype = compute_dtype or q.dtype
    qc, kc_, vc_ = q.to(dtype), k.to(dtype), v.to(dtype)
    cast = NSAParams(params.gate.to(dtype), {n: t.to(dtype) for n, t in params.weights.items()},
                     None if params.gate_bias is None else params.gate_bias.to(dtype))
    k_cmp, v_cmp = (t.to(dtype) for t in compress(kc_, vc_, config, cast))  # compress computes in fp32+
    block_q = block_q or max(1, min(Nq, _SCORE_BUDGET // (B * Hq * (Nk + k_cmp.shape[2]))))
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v, *params.tensors()))
    outs, chosen = [], []
    for start in range(0, Nq, block_q):
        rows = slice(start, min(start + block_q, Nq))
        args = (qc[:, :, rows], kc_, vc_, k_cmp, v_cmp, cast.gate, positions[rows], config,
                None if blocks is None else blocks[:, :, rows], cast.gate_bias)  # fmt: skip
        out, sel = checkpoint(_block, *args, use_reentrant=False) if grad and Nq > block_q else _block(*args)
        outs.append(out)
        chosen.append(sel)
    out = torch.cat(outs, dim=2)
    if not return_selection:
        return out
    blocks = torch.cat(chosen, dim=2)
    density = token_density_from_blocks(blocks, positions, config.block_size, config.window)
    return out, BlockSelection(blocks, density, positions, config.block_size)
