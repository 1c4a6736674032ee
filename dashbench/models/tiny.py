"""The small Llama-architecture model ``dashbench train`` builds for every attention method.

2 layers (``dashbench train``'s default; the config's own default is 4), hidden 256, 4 query heads and 1 KV head of dim 64 (GQA 4: the kernels' head dim and
a ratio they serve), SwiGLU 512, RoPE theta 1e5, tied embeddings over the task vocabulary:
about 2.2M parameters, 4.3 MB in bf16 at 2 layers (3.3M, 6.5 MB at 4) (+ the method's few thousand), so a checkpoint stays
under 8 MB. Every method gets the same weights from the same seed; the sparse methods add
their parameters after (``attach_parameters(init="train")``).
"""

from __future__ import annotations

import torch

from dashbench.models.config import SparseAttentionConfig, store_settings


def tiny_config(vocab_size: int, max_positions: int = 32768, **changes):
    from transformers import LlamaConfig

    kwargs = dict(vocab_size=vocab_size, hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=1, head_dim=64, max_position_embeddings=max_positions,
                  rope_theta=1e5, tie_word_embeddings=True, attention_dropout=0.0, bos_token_id=1,
                  eos_token_id=2, pad_token_id=0)  # fmt: skip
    kwargs.update(changes)
    return LlamaConfig(**kwargs)


def build_model(config, settings: SparseAttentionConfig, *, seed: int, init: str = "train"):
    """A freshly initialised ``LlamaForCausalLM`` running ``settings`` (same seed, same weights
    for every method)."""
    from transformers import LlamaForCausalLM

    from dashbench.models.attention import register
    from dashbench.models.parameters import attach_parameters

    register()
    store_settings(config, settings)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    attach_parameters(model, settings, init=init)
    model.set_attn_implementation("sdpa" if settings.method == "dense" else settings.method)
    return model
