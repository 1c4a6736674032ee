"""Each method's token-level distribution rule and block-level distribution, for sampled rows.

The token-level distributions (what :mod:`dashbench.dispersion.stats` measures):

* ``softmax``: dense causal softmax attention.
* ``entmax``: dense causal 1.5-entmax attention (``[s/2 - tau]_+^2``), the sparse reference.
* ``dash``: DashAttention (``shared/specs/dashattention.md``): softmax over the keys of the
  routed chunks and the query's own chunk, biased by the log-prior. Routing is the reference's
  (:func:`~dashbench.kernels.reference.dash.route`, :func:`~...dash.routing_bias`): 1.5-entmax
  over chunk summaries, GQA-mean ``p_bar``. Block level: the entmax prior ``p_bar`` over the
  earlier chunks (its entropy and max), and the chunks attended (routed + own).
* ``infllmv2``: softmax over the top-k blocks InfLLMv2's reference selects
  (:func:`~dashbench.kernels.reference.infllmv2.infllmv2_selection`). Block level: top-k
  selection, i.e. uniform over the ``k`` selected blocks (entropy ``log k``).
* ``nsa``: NSA's *selection branch* only: softmax over the blocks its reference selection picks
  (compression-branch probabilities pooled onto blocks, top-k). NSA's output also mixes a
  compression branch and a sliding window through learned gates; the selection branch is where
  the paper's dispersion argument applies and the one that compares to the others. The keys
  are compressed by their mean (``compression="mean"``): the learned compression of a trained
  NSA layer is not part of q, k, v. Block level as InfLLMv2.

Which methods are hierarchical (have a block level) is :data:`HIERARCHICAL`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from dashbench.dispersion.stats import ENTMAX15, SOFTMAX
from dashbench.kernels.reference.dash import (
    P_FLOOR,
    calibrate_scaling,
    chunk_summaries,
    route,
    routing_bias,
)
from dashbench.kernels.reference.infllmv2 import InfLLMv2Config, infllmv2_selection
from dashbench.kernels.reference.nsa import (
    NSAConfig,
    NSAParams,
    _compressed_attention,
    _select,
    compress,
)

METHODS = ("softmax", "entmax", "nsa", "infllmv2", "dash")
HIERARCHICAL = ("nsa", "infllmv2", "dash")
LABELS = {
    "softmax": "dense softmax",
    "entmax": "1.5-entmax",
    "nsa": "NSA (selection branch)",
    "infllmv2": "InfLLMv2",
    "dash": "DashAttention",
}


@dataclass
class MethodSettings:
    """The knobs of the hierarchical methods.

    dash_scaling: DashAttention's routing scale: ``"auto"`` (= ``chunk_size``: with
        ``head_cls = 0`` a summary is its chunk's mean key, so scaling by ``C`` makes a chunk's
        routing score its summed logit; a planted needle's chunk then scores the margin and is
        routed alone once the margin is >= 2), a number (fixed across lengths, like a trained
        layer's), or ``"density:<d>"`` (calibrated on each input to token density ``d`` by
        :func:`~dashbench.kernels.reference.dash.calibrate_scaling`; it then changes with length).
    dash_sigma, estimate_diagonal: the prior's temperature and centring (the spec's training
        defaults: ``sigma = 1``, centred).
    """

    chunk_size: int = 64
    dash_scaling: str = "auto"
    dash_sigma: float = 1.0
    estimate_diagonal: bool = True
    infllmv2: InfLLMv2Config = field(default_factory=InfLLMv2Config)
    nsa: NSAConfig = field(default_factory=lambda: NSAConfig.paper(compression="mean"))

    def check(self) -> None:
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be positive; got {self.chunk_size}")
        parse_scaling(self.dash_scaling)
        if not self.dash_sigma > 0:
            raise ValueError(f"dash_sigma must be positive; got {self.dash_sigma}")
        self.infllmv2.check()
        self.nsa.check()

    def to_dict(self) -> dict:
        return {
            "chunk_size": self.chunk_size, "dash_scaling": self.dash_scaling, "dash_sigma": self.dash_sigma,
            "estimate_diagonal": self.estimate_diagonal, "infllmv2": vars(self.infllmv2), "nsa": vars(self.nsa),
        }  # fmt: skip


def parse_scaling(text: str) -> tuple[str, float]:
    """``"auto"`` -> ``("auto", nan)``, ``"2.5"`` -> ``("fixed", 2.5)``, ``"density:0.1"`` ->
    ``("density", 0.1)``; ``ValueError`` otherwise."""
    text = str(text).strip()
    if text == "auto":
        return "auto", math.nan
    kind, _, arg = text.partition(":")
    try:
        value = float(arg if kind == "density" else text)
    except ValueError:
        value = math.nan
    if kind == "density":
        if not 0 < value <= 1:
            raise ValueError(f"{text!r}: the density after 'density:' must be in (0, 1]")
        return "density", value
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{text!r}: DashAttention's scaling is 'auto', a positive number or density:<d>")
    return "fixed", value


@dataclass
class BlockStats:
    """Block-level distribution per KV head and row, ``[B, Hkv, R]`` each.

    kind: ``"entmax prior"`` (DashAttention's ``p_bar`` over earlier chunks) or ``"top-k"``
    (uniform over the selected blocks). ``support``: blocks attended, the own one included.
    """

    kind: str
    entropy: torch.Tensor
    max_weight: torch.Tensor
    support: torch.Tensor


@dataclass
class Distribution:
    """How one method attends the sampled rows: the normalizer, the per-unit bias (``-inf``:
    not attended) and the block level; ``bias`` and ``block`` are ``None`` for dense methods."""

    method: str
    normalizer: str
    bias: torch.Tensor | None = None  # [B, Hkv, R, n_units]
    unit: int | None = None
    block: BlockStats | None = None
    note: str = ""

    def routes(self, needle: torch.Tensor) -> torch.Tensor | None:
        """``[B, Hkv, R]`` whether each row attends its needle's block (``None``: dense)."""
        if self.bias is None:
            return None
        idx = (needle.to(self.bias.device) // self.unit).view(1, 1, -1, 1).expand(*self.bias.shape[:3], 1)
        return torch.isfinite(self.bias.gather(-1, idx))[..., 0]


def _topk_distribution(method: str, blocks: torch.Tensor, n_keys: int, block_size: int, dtype) -> Distribution:
    """Bias 0 on the selected blocks (``[B, Hkv, R, topk]`` ids, -1 unused), ``-inf`` elsewhere."""
    n_blocks = -(-n_keys // block_size)
    chosen = torch.zeros(*blocks.shape[:3], n_blocks + 1, dtype=torch.bool, device=blocks.device)
    chosen.scatter_(-1, torch.where(blocks >= 0, blocks, n_blocks).long(), True)
    chosen = chosen[..., :n_blocks]
    bias = torch.zeros(chosen.shape, dtype=dtype, device=blocks.device).masked_fill(~chosen, float("-inf"))
    count = chosen.sum(-1).to(dtype)
    block = BlockStats("top-k", entropy=torch.log(count), max_weight=1.0 / count, support=count)
    return Distribution(method, SOFTMAX, bias, block_size, block)


def method_distribution(
    method: str,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    positions: torch.Tensor,
    settings: MethodSettings | None = None,
    head_cls: torch.Tensor | None = None,
    seed: int = 0,
) -> Distribution:
    """The distribution rule of ``method`` for query rows ``q`` ``[B, Hq, R, D]`` at
    ``positions`` over keys ``k``, ``v`` ``[B, Hkv, N, D]``, using the reference selections.

    head_cls: DashAttention's ``[Hkv, D]`` summary queries (default zeros: mean-key summaries,
    a converted dense checkpoint's start)."""
    settings = settings or MethodSettings()
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if method == "softmax":
        return Distribution(method, SOFTMAX)
    if method == "entmax":
        return Distribution(method, ENTMAX15)
    B, Hq, R, D = q.shape
    Hkv, N = k.shape[1], k.shape[2]
    with torch.no_grad():
        if method == "infllmv2":
            sel = infllmv2_selection(q, k, settings.infllmv2, q_positions=positions)
            return _topk_distribution(method, sel.blocks, N, settings.infllmv2.block_size, q.dtype)
        if method == "nsa":
            cfg = settings.nsa
            params = NSAParams.random(cfg, Hq, Hkv, D, seed=seed, device=q.device, dtype=q.dtype)
            k_cmp, v_cmp = compress(k, v, cfg, params)
            _, p = _compressed_attention(q, k_cmp.to(q.dtype), v_cmp.to(q.dtype), positions, cfg)
            blocks = _select(p, positions, -(-N // cfg.block_size), cfg)
            return _topk_distribution(method, blocks, N, cfg.block_size, q.dtype)
        # DashAttention
        C = settings.chunk_size
        head_cls = torch.zeros(Hkv, D, dtype=q.dtype, device=q.device) if head_cls is None else head_cls
        head_cls = head_cls.to(device=q.device, dtype=q.dtype)
        kind, value = parse_scaling(settings.dash_scaling)
        scaling = float(C) if kind == "auto" else value
        note = f"scaling={scaling:g}"
        if kind == "density":
            scaling = calibrate_scaling(q, k, head_cls, value, chunk_size=C, rows=positions.cpu())
            note = f"scaling={scaling:.4g} (calibrated to density {value:g})"
        summaries = chunk_summaries(k, head_cls, C)
        p_bar = route(q, summaries, positions, C, scaling)
        bias, active = routing_bias(p_bar, positions, C, settings.dash_sigma, settings.estimate_diagonal)
        routed = p_bar > P_FLOOR
        logp = torch.log(torch.where(routed, p_bar, torch.ones_like(p_bar)))
        block = BlockStats(
            "entmax prior",
            entropy=-(torch.where(routed, p_bar * logp, torch.zeros_like(p_bar))).sum(-1),
            max_weight=p_bar.amax(-1),
            support=active.sum(-1).to(q.dtype),
        )
        return Distribution(method, SOFTMAX, bias, C, block, note)
