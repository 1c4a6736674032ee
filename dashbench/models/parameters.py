"""The learned parameters a sparse method adds to each attention layer, and how they start.

They are ``nn.Parameter``s on the layer's attention module (``model.layers[i].self_attn``), so
``state_dict``, optimizers and ``save_pretrained`` see them like any weight:

- DashAttention: ``dash_head_cls`` ``[Hkv, D]``, the per-KV-head pooling vector of the chunk
  summaries.
- NSA: ``nsa_gate`` ``[Hq, D, gates]`` and ``nsa_gate_bias`` ``[Hq, gates]`` (branch gates
  ``sigmoid(q . W + b)``, from the query: the attention interface sees q, k, v, not the layer
  input the paper uses), and the compression map (``nsa_w1``, ``nsa_b1``, ``nsa_w2``,
  ``nsa_b2`` for the per-channel MLP; ``nsa_wk``, ``nsa_wv`` for the paper's linear map).
- InfLLMv2 adds nothing: its block scores are mean-pooled keys.

Two initialisations (``init``):

- ``"convert"`` makes a dense checkpoint usable without training: ``dash_head_cls = 0`` pools
  each chunk to its mean key; NSA's compression starts as the mean of its window (the MLP's
  ReLU pairs ``relu(x) - relu(-x)`` pass the mean through exactly), and its gates start at
  ``sigmoid(-4) = 0.018`` for the compressed and window branches and ``sigmoid(4) = 0.982``
  for the selected blocks, so the layer is close to attention over its selection.
- ``"train"`` (from scratch): the same summaries, and every NSA gate at 0.5 (zero weights and
  biases) as in the paper's training.
"""

from __future__ import annotations

import torch
from torch import nn

from dashbench.models.config import SparseAttentionConfig

GATE_LOGIT = 4.0  # converted NSA: sigmoid(4) = 0.982 on the selected branch, 0.018 elsewhere
_NSA_NAMES = ("nsa_gate", "nsa_gate_bias", "nsa_w1", "nsa_b1", "nsa_w2", "nsa_b2", "nsa_wk", "nsa_wv")
EXTRA_NAMES = ("dash_head_cls",) + _NSA_NAMES


def attention_modules(model) -> list[nn.Module]:
    """Each decoder layer's attention module (Llama layout: ``model.model.layers[i].self_attn``)."""
    body = getattr(model, "model", model)
    layers = getattr(body, "layers", None)
    if layers is None or not all(hasattr(layer, "self_attn") for layer in layers):
        raise ValueError(f"{type(model).__name__} is not a Llama-layout model (model.layers[i].self_attn)")
    return [layer.self_attn for layer in layers]


def _shapes(config) -> tuple[int, int, int]:
    hq = config.num_attention_heads
    hkv = getattr(config, "num_key_value_heads", None) or hq
    d = getattr(config, "head_dim", None) or config.hidden_size // hq
    return hq, hkv, d


def parameter_shapes(config, settings: SparseAttentionConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of the parameters ``settings.method`` adds to one attention module."""
    hq, hkv, d = _shapes(config)
    if settings.method == "dash":
        return {"dash_head_cls": (hkv, d)}
    if settings.method != "nsa":
        return {}
    nsa = settings.nsa()
    shapes = {"nsa_gate": (hq, d, len(nsa.gates)), "nsa_gate_bias": (hq, len(nsa.gates))}
    l, h = nsa.cmp_size, nsa.mlp_hidden  # noqa: E741
    if nsa.compression == "mlp":
        shapes |= {"nsa_w1": (2 * l, h), "nsa_b1": (h,), "nsa_w2": (h, 2), "nsa_b2": (2,)}
    elif nsa.compression == "linear":
        shapes |= {"nsa_wk": (hkv, l * d, d), "nsa_wv": (hkv, l * d, d)}
    return shapes


def _initial(name: str, shape, settings: SparseAttentionConfig, init: str) -> torch.Tensor:
    t = torch.zeros(shape)
    nsa = settings.nsa() if settings.method == "nsa" else None
    if name == "nsa_gate_bias" and init == "convert":
        t[:] = -GATE_LOGIT
        t[:, nsa.gates.index("slc")] = GATE_LOGIT
    elif name == "nsa_w1":  # hidden units 0..3: relu(+-mean key), relu(+-mean value)
        l = nsa.cmp_size  # noqa: E741
        if nsa.mlp_hidden < 4:
            raise ValueError(f"NSA mlp_hidden must be >= 4 to start as the window mean; got {nsa.mlp_hidden}")
        t[:l, 0], t[:l, 1], t[l:, 2], t[l:, 3] = 1 / l, -1 / l, 1 / l, -1 / l
    elif name == "nsa_w2":
        t[0, 0], t[1, 0], t[2, 1], t[3, 1] = 1, -1, 1, -1
    elif name in ("nsa_wk", "nsa_wv"):  # the flattened window [l * D] -> its mean [D]
        l, d = nsa.cmp_size, shape[-1]  # noqa: E741
        t[:] = (torch.eye(d).repeat(l, 1) / l)[None]
    return t


def attach_parameters(model, settings: SparseAttentionConfig, *, init: str = "convert") -> None:
    """Add ``settings.method``'s parameters to every attention layer (replacing any of a
    previous method), on the layer's device and in the dtype of its projections."""
    if init not in ("convert", "train"):
        raise ValueError(f"init must be 'convert' or 'train'; got {init!r}")
    settings.check()
    shapes = parameter_shapes(model.config, settings)
    for module in attention_modules(model):
        ref = module.q_proj.weight
        for name in EXTRA_NAMES:
            if name in module._parameters:
                del module._parameters[name]
        for name, shape in shapes.items():
            t = _initial(name, shape, settings, init).to(ref.device, ref.dtype)
            module.register_parameter(name, nn.Parameter(t))


def nsa_params(module, settings: SparseAttentionConfig):
    """The layer's :class:`NSAParams` (the kernels' container) over the module's parameters."""
    from dashbench.kernels.reference.nsa import NSAParams

    if not hasattr(module, "nsa_gate"):
        raise ValueError("this layer has no NSA parameters: load the checkpoint with method 'nsa' "
                         "(dashbench.models.load_checkpoint) or attach them (attach_parameters)")  # fmt: skip
    if settings.compression == "mlp":
        weights = {n: getattr(module, f"nsa_{n}") for n in ("w1", "b1", "w2", "b2")}
    elif settings.compression == "linear":
        weights = {n: getattr(module, f"nsa_{n}") for n in ("wk", "wv")}
    else:
        weights = {}
    return NSAParams(gate=module.nsa_gate, weights=weights, gate_bias=module.nsa_gate_bias)


def head_cls(module) -> torch.Tensor:
    if not hasattr(module, "dash_head_cls"):
        raise ValueError("this layer has no DashAttention head_cls: load the checkpoint with method 'dash' "
                         "(dashbench.models.load_checkpoint) or attach it (attach_parameters)")  # fmt: skip
    return module.dash_head_cls
