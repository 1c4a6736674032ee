"""Which sparse-method parameters get gradients through the GPU kernels in a model (and how
they compare with the references'). Diagnostic for tests/models/test_attention_gpu.py."""

import sys

import torch

sys.path.insert(0, "tests/models")
from model_fixtures import small_config  # noqa: E402

from dashbench.models.config import SparseAttentionConfig  # noqa: E402
from dashbench.models.tiny import build_model  # noqa: E402

for method, knob in (("dash", 4.0), ("nsa", 6), ("infllmv2", 6)):
    s = SparseAttentionConfig(method=method, window=64).with_knob(knob)
    mk = lambda: build_model(small_config(hidden_size=256, num_attention_heads=4, num_key_value_heads=1,  # noqa: E731
                                          head_dim=64, max_positions=4096), s, seed=0)
    ref, fast = mk().float().cuda(), mk().cuda()
    fast.load_state_dict(ref.state_dict())
    fast = fast.to(torch.bfloat16)
    x = torch.randint(0, 128, (1, 700), device="cuda")
    ref(x, labels=x).loss.backward()
    fast(x, labels=x).loss.backward()
    for (n, p), (n2, q) in zip(ref.named_parameters(), fast.named_parameters()):
        if "head_cls" in n or "nsa_" in n or n.endswith("layers.1.self_attn.q_proj.weight"):
            g = None if q.grad is None else f"{q.grad.float().norm():.3e}"
            r = None if p.grad is None else f"{p.grad.norm():.3e}"
            print(method, n, n2 == n, "ref", r, "fast", g, "requires_grad", q.requires_grad, q.dtype)
