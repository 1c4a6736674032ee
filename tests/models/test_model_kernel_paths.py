"""The kernel branches of the model attention (prefill, cached decode with the incremental
summary and compressed-key caches) on the CPU, through the Triton interpreter in fp32: decode
steps equal the prefill's rows, and a second sequence on the same modules starts its caches over.
On a GPU, tests/models/test_model_attention_gpu.py checks them in bf16 against the references."""

from __future__ import annotations

import os

import pytest
import torch
from model_fixtures import small_config

import dashbench.models.attention as attention
from dashbench.models.config import SparseAttentionConfig
from dashbench.models.tiny import build_model

# CPU tensors through the interpreter only; on a GPU, test_model_attention_gpu.py covers these paths
pytestmark = pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1", reason="needs TRITON_INTERPRET=1")


@pytest.mark.parametrize("method, knob", [("dash", 4.0), ("infllmv2", 4), ("nsa", 4)])
def test_kernel_decode_equals_kernel_prefill(method, knob, monkeypatch):
    from transformers import DynamicCache

    monkeypatch.setattr(attention, "_kernels", lambda q: True)  # the kernel branches, fp32 on the CPU
    s = SparseAttentionConfig(method=method, window=64).with_knob(knob)
    cfg = small_config(hidden_size=64, num_attention_heads=2, num_key_value_heads=1, head_dim=64, max_positions=512)
    model = build_model(cfg, s, seed=0).float().eval()
    x = torch.randint(0, 128, (1, 230), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(x).logits
        out = model(x[:, :200], past_key_values=DynamicCache(), use_cache=True)
        steps = []
        for t in range(200, 230):  # crosses chunk 192-255's middle and compressed-window ends
            out = model(x[:, t : t + 1], past_key_values=out.past_key_values, use_cache=True)
            steps.append(out.logits[:, -1])
        again = model(x[:, :210], past_key_values=DynamicCache(), use_cache=True)
        step = model(x[:, 210:211], past_key_values=again.past_key_values, use_cache=True).logits[:, -1]
    torch.testing.assert_close(torch.stack(steps, 1), full[:, 200:], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(step, full[:, 210], atol=1e-4, rtol=1e-4)
