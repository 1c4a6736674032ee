"""Capture one attention layer's q, k, v from a real model, for ``--inputs captured:<file>``.

The model runs under transformers with an attention implementation registered here: it records
the layer's query, key and value exactly as the attention sees them (after RoPE, before GQA
expansion, ``[B, H, N, D]``) and then computes SDPA, so the forward pass is the model's own.
Text comes from a file (``--text``), or, without one, a seeded stream of token ids (which gives
a real layer's projections of meaningless text: say so when quoting results).
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

    def recording_attention(module, query, key, value, attention_mask, **kwargs):
        if getattr(module, "layer_idx", None) == layer and "q" not in captured:
            captured.update(q=query.detach().cpu(), k=key.detach().cpu(), v=value.detach().cpu())
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)

    AttentionInterface.register(IMPLEMENTATION, recording_attention)
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
    else:
        g = torch.Generator().manual_seed(seed)
        ids = torch.randint(model.config.vocab_size, (1, seqlen), generator=g)
        source = f"random token ids (seed {seed})"
    with torch.no_grad():
        model(ids.to(device), use_cache=False)
    if "q" not in captured:
        raise ValueError(f"layer {layer} of {model_name} did not go through the attention interface")
    meta = {"model": model_name, "layer": layer, "tokens": seqlen, "source": source, "dtype": str(dtype)}
    return {**captured, "meta": meta}


def save_capture(result: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result, path)
    return path
