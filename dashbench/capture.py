"""Capture one attention layer's q, k, v from a real model, for ``--inputs captured:<file>``.

The model runs under transformers with an attention implementation registered here: it records
the layer's query, key and value exactly as the attention sees them (after RoPE, before GQA
expansion, ``[B, H, N, D]``) and then computes SDPA, so the forward pass is the model's own.
Text comes from a file (``--text``), or, without one, a seeded stream of token ids (which gives
a real layer's projections of meaningless text: say so when quoting results). A dashbench
checkpoint (``dashbench train``) runs its own attention method while recording, reads a held-out
``niah`` sequence (the task it was trained on) by default, and its DashAttention layers also
give their ``head_cls``.
"""

from __future__ import annotations

from pathlib import Path

import torch

IMPLEMENTATION = "dashbench_capture"


def capture_layer(model_name: str, layer: int, seqlen: int, *, text: str | None = None, device: str = "cpu",
                  dtype: torch.dtype = torch.bfloat16, seed: int = 0) -> dict:  # fmt: skip
    """``{"q", "k", "v"}`` of attention layer ``layer`` for the first ``seqlen`` tokens, plus
    ``meta`` (model, layer, tokens, source)."""
    try:
        from transformers import AttentionInterface, AutoModelForCausalLM, AutoTokenizer
        from transformers.integrations.sdpa_attention import sdpa_attention_forward
    except ImportError:
        raise ValueError("capturing needs transformers: `pip install transformers` (or `.[models]`)") from None

    captured: dict = {}

    own = _dashbench_checkpoint(model_name)
    if own is not None:  # a dashbench checkpoint: its own attention runs, recorded on the way
        from transformers import AttentionInterface as _AI

        from dashbench.models import load_checkpoint
        from dashbench.models.attention import register

        register()
        inner = sdpa_attention_forward if own == "dense" else _AI()[own]
    else:
        inner = sdpa_attention_forward

    def recording_attention(module, query, key, value, attention_mask, **kwargs):
        if getattr(module, "layer_idx", None) == layer and "q" not in captured:
            captured.update(q=query.detach().cpu(), k=key.detach().cpu(), v=value.detach().cpu())
            if hasattr(module, "dash_head_cls"):
                captured["head_cls"] = module.dash_head_cls.detach().cpu()
        return inner(module, query, key, value, attention_mask, **kwargs)

    AttentionInterface.register(IMPLEMENTATION, recording_attention)
    if own is not None:
        model = load_checkpoint(model_name, attn_implementation=IMPLEMENTATION, dtype=dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_name, attn_implementation=IMPLEMENTATION, dtype=dtype)
    model.to(device).eval()
    n_layers = model.config.num_hidden_layers
    if not 0 <= layer < n_layers:
        raise ValueError(f"{model_name} has layers 0..{n_layers - 1}; got --layer {layer}")
    if text is not None:
        tokenizer = AutoTokenizer.from_pretrained(model_name)
        ids = tokenizer(text, return_tensors="pt").input_ids[:, :seqlen]
        if ids.shape[1] < seqlen:
            raise ValueError(f"the text gives {ids.shape[1]} tokens; --seqlen asks for {seqlen}")
        source = "text"
    elif own is not None:  # what the checkpoint was trained on: a held-out niah sequence
        from dashbench.tasks import generate
        from dashbench.training import EVAL_SEED_BASE, task_knobs

        ids = generate("niah", 1, seqlen, seed=EVAL_SEED_BASE + seed, **task_knobs("niah", seqlen)).input_ids
        source = f"dashbench task niah, held-out seed {EVAL_SEED_BASE + seed} ({own} attention)"
    else:
        g = torch.Generator().manual_seed(seed)
        ids = torch.randint(model.config.vocab_size, (1, seqlen), generator=g)
        source = f"random token ids (seed {seed})"
    with torch.no_grad():
        model(ids.to(device), use_cache=False)
    if "q" not in captured:
        raise ValueError(f"layer {layer} of {model_name} did not go through the attention interface")
    meta = {"model": model_name, "layer": layer, "tokens": seqlen, "source": source, "dtype": str(dtype)}
    if own is not None:  # the checkpoint's attention knobs, e.g. DashAttention's trained scaling
        from dashbench.models import settings_of

        meta["dashbench_attention"] = settings_of(model.config).to_dict()
    return {**captured, "meta": meta}


def _dashbench_checkpoint(model_name: str) -> str | None:
    """The attention method of a dashbench checkpoint folder (None: any other model)."""
    import json

    cfg = Path(model_name) / "config.json"
    if not cfg.is_file():
        return None
    try:
        data = json.loads(cfg.read_text())
    except json.JSONDecodeError:
        return None
    settings = data.get("dashbench_attention") if isinstance(data, dict) else None
    return settings.get("method", "dense") if isinstance(settings, dict) else None


def save_capture(result: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result, path)
    return path
