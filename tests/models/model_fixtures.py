"""Tiny random Llama models for the model-integration tests (a uniquely named module: several
test folders have a conftest.py, so `from conftest import ...` is ambiguous)."""

from __future__ import annotations

import torch

from dashbench.models.config import SparseAttentionConfig
from dashbench.models.tiny import build_model, tiny_config

VOCAB = 128


def small_config(vocab: int = VOCAB, **changes):
    """2 layers, 4/2 heads of dim 16: small enough for the references on the CPU."""
    kw = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, head_dim=16, max_positions=1024)  # fmt: skip
    kw.update(changes)
    return tiny_config(vocab, **kw)


def small_model(method: str = "dense", seed: int = 0, init: str = "train", vocab: int = VOCAB, **knobs):
    settings = SparseAttentionConfig(method=method, chunk_size=32, block_size=32, cmp_size=16, cmp_stride=8,
                                     window=32, **knobs)  # fmt: skip
    return build_model(small_config(vocab), settings.check(), seed=seed, init=init).float().eval()


def sample_tokens():
    return torch.randint(0, VOCAB, (2, 200), generator=torch.Generator().manual_seed(0))
