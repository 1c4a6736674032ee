"""On a GPU: the model's attention through the Triton kernels (bf16) against the same model
through the PyTorch references (fp32) — prefill logits, gradients, and cached decode steps."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import small_config

from dashbench.models.attention import record_density
from dashbench.models.config import SparseAttentionConfig
from dashbench.models.tiny import build_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the Triton kernels)")
KNOB = {"dash": 4.0, "nsa": 6, "infllmv2": 6}


def _pair(method):
    settings = SparseAttentionConfig(method=method, window=64).with_knob(KNOB[method])
    cfg = small_config(hidden_size=256, num_attention_heads=4, num_key_value_heads=1, head_dim=64, max_positions=4096)
    ref = build_model(cfg, settings, seed=0).float().cuda().eval()
    fast = build_model(small_config(hidden_size=256, num_attention_heads=4, num_key_value_heads=1, head_dim=64,
                                    max_positions=4096), settings, seed=0).cuda().eval()  # fmt: skip
    fast.load_state_dict(ref.state_dict())
    return ref, fast.to(torch.bfloat16)


def _rel(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


@pytest.mark.parametrize("method", ["dash", "nsa", "infllmv2"])
def test_kernels_match_references_in_a_model(method):
    ref, fast = _pair(method)
    x = torch.randint(0, 128, (2, 1000), device="cuda", generator=torch.Generator("cuda").manual_seed(0))
    with torch.no_grad(), record_density() as log:
        want = ref(x).logits
        got = fast(x).logits
    # bf16 compressed scores flip near-tied InfLLMv2 blocks on a few rows: 6e-2 seen as 4.2e-2
    assert _rel(got, want) < (6e-2 if method == "infllmv2" else 3e-2)
    n = ref.config.num_hidden_layers
    assert abs(sum(log.densities[:n]) / n - sum(log.densities[n:]) / n) < 0.05  # same selection, nearly


@pytest.mark.parametrize("method", ["dash", "nsa", "infllmv2"])
def test_kernel_gradients_match_references(method):
    ref, fast = _pair(method)
    x = torch.randint(0, 128, (1, 700), device="cuda", generator=torch.Generator("cuda").manual_seed(1))
    ref(x, labels=x).loss.backward()
    fast(x, labels=x).loss.backward()
    fast_params = dict(fast.named_parameters())
    missing, far = [], []
    for name, p in ref.named_parameters():
        if p.grad is None or p.grad.norm() == 0:
            continue
        g = fast_params[name].grad
        if g is None:
            missing.append(name)
        # head_cls and the NSA gates sum tiny bf16 terms over every token (grad norms ~1e-5):
        # their kernels' gradients are checked tightly in tests/kernels; here, the plumbing
        elif _rel(g, p.grad) >= (0.3 if ("dash_" in name or "nsa_" in name) else 8e-2):
            far.append((name, round(_rel(g, p.grad), 3)))
    assert not missing and not far, (missing, far)


@pytest.mark.parametrize("method", ["dash", "nsa", "infllmv2"])
def test_kernel_decode_matches_kernel_prefill(method):
    from transformers import DynamicCache

    _, fast = _pair(method)
    x = torch.randint(0, 128, (2, 600), device="cuda", generator=torch.Generator("cuda").manual_seed(2))
    with torch.no_grad():
        full = fast(x).logits
        out = fast(x[:, :570], past_key_values=DynamicCache(), use_cache=True)
        steps = []
        for t in range(570, 600):
            out = fast(x[:, t : t + 1], past_key_values=out.past_key_values, use_cache=True)
            steps.append(out.logits[:, -1])
    assert _rel(torch.stack(steps, 1), full[:, 570:]) < 3e-2


@pytest.mark.parametrize("method", ["dash", "nsa", "infllmv2"])
def test_training_under_autocast_runs_the_kernels(method, monkeypatch):
    """`dashbench train` keeps fp32 master weights under bf16 autocast, where Llama's rotary
    embedding hands the attention fp32 q and k: the step must still go through the Triton
    kernels (the references would be ~20x slower), and its gradients match the fp32 reference
    model's."""
    import dashbench.kernels.reference.dash as dash_ref
    import dashbench.kernels.reference.infllmv2 as infllmv2_ref
    import dashbench.kernels.reference.nsa as nsa_ref

    ref, _ = _pair(method)
    model = build_model(ref.config, SparseAttentionConfig(method=method, window=64).with_knob(KNOB[method]),
                        seed=0).cuda()  # fmt: skip
    model.load_state_dict(ref.state_dict())
    x = torch.randint(0, 128, (2, 1000), device="cuda", generator=torch.Generator("cuda").manual_seed(1))
    ref.train()
    ref(input_ids=x, labels=x).loss.backward()

    def refused(*args, **kwargs):
        raise AssertionError("the PyTorch reference ran instead of the kernels")

    for mod, name in ((dash_ref, "dash_attention_reference"), (infllmv2_ref, "infllmv2_reference"),
                      (nsa_ref, "nsa_reference")):  # fmt: skip
        monkeypatch.setattr(mod, name, refused)
    model.train()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(input_ids=x, labels=x).loss
    loss.backward()
    got = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    want = torch.cat([p.grad.flatten() for p in ref.parameters() if p.grad is not None])
    assert _rel(got, want) < 5e-2
