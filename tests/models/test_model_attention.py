"""The attention implementations registered with transformers: they run (and are the ones
called), reduce to full attention where their selection keeps everything, decode against a
cache as the prefill computed, and refuse what they cannot serve."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import small_model

from dashbench.models.attention import record_density
from dashbench.models.config import settings_of, store_settings
from dashbench.models.parameters import attention_modules

METHODS = ("dash", "nsa", "infllmv2")


def _same_weights(model, dense):
    """Load the dense model's weights into ``model`` (the sparse parameters stay)."""
    model.load_state_dict(dense.state_dict(), strict=False)
    return model


@pytest.mark.parametrize("method", METHODS)
def test_each_layer_calls_the_method(method, tokens):
    model = small_model(method)
    with torch.no_grad(), record_density() as log:
        logits = model(tokens).logits
    assert logits.shape == (2, 200, 128) and torch.isfinite(logits).all()
    assert len(log.densities) == model.config.num_hidden_layers  # one call per layer: not sdpa
    assert all(0 < d <= 1 for d in log.densities)


def _keep_everything(model, method):
    s = settings_of(model.config)
    if method == "dash":  # near-zero routing scores: entmax spreads over every chunk, a flat prior
        s = s.with_knob(1e-6)
    else:
        s = s.with_knob(64)  # more blocks than a 200-token sequence has
    store_settings(model.config, s)
    if method == "nsa":  # the selected branch alone (gates 1 - 1e-13 and 1e-13)
        for m in attention_modules(model):
            with torch.no_grad():
                m.nsa_gate.zero_()
                m.nsa_gate_bias[:] = -30.0
                m.nsa_gate_bias[:, 1] = 30.0
    return model


@pytest.mark.parametrize("method", METHODS)
def test_keeping_everything_is_full_attention(method, tokens):
    dense = small_model("dense")
    model = _keep_everything(_same_weights(small_model(method), dense), method)
    with torch.no_grad():
        want, got = dense(tokens).logits, model(tokens).logits
    torch.testing.assert_close(got, want, atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("method", METHODS)
def test_sparse_setting_changes_the_output(method, tokens):
    """The knob reaches the kernels: a sparse setting differs from keeping everything."""
    dense = small_model("dense")
    full = _keep_everything(_same_weights(small_model(method), dense), method)
    sparse = _keep_everything(_same_weights(small_model(method), dense), method)
    s = settings_of(sparse.config)
    store_settings(sparse.config, s.with_knob(1e4 if method == "dash" else 3))
    with torch.no_grad():
        a = full(tokens).logits
        with record_density() as log:
            b = sparse(tokens).logits
    assert (a - b).abs().max() > 1e-3
    assert log.mean < 0.9


@pytest.mark.parametrize("method", METHODS)
def test_cached_decode_matches_the_prefill(method, tokens):
    from transformers import DynamicCache

    model = small_model(method)
    store_settings(model.config, settings_of(model.config).with_knob(4.0 if method == "dash" else 3))
    with torch.no_grad():
        full = model(tokens).logits
        cache = DynamicCache()
        out = model(tokens[:, :150], past_key_values=cache, use_cache=True)
        steps = []
        for t in range(150, 200):
            out = model(tokens[:, t : t + 1], past_key_values=out.past_key_values, use_cache=True)
            steps.append(out.logits[:, -1])
    torch.testing.assert_close(torch.stack(steps, 1), full[:, 150:], atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("method", METHODS)
def test_padding_masks_are_refused(method, tokens):
    model = small_model(method)
    mask = torch.ones_like(tokens)
    mask[0, :10] = 0
    with pytest.raises(ValueError, match="padding"):
        model(tokens, attention_mask=mask)


def test_fa3_is_named_when_missing(tokens):
    pytest.importorskip("torch")
    try:
        import fa3_fwd_interface  # noqa: F401

        pytest.skip("FlashAttention-3 is installed here")
    except ImportError:
        pass
    model = small_model("dense")
    model.set_attn_implementation("fa3")
    with pytest.raises(ValueError, match="FlashAttention-3"):
        with torch.no_grad():
            model(tokens)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fa3_refuses_cpu_tensors_before_the_wheel_sees_them(tokens, monkeypatch, dtype):
    """Installed but handed CPU tensors (``--device cpu`` on a GPU machine), FlashAttention-3 must
    fail with a ValueError naming the device, not a RuntimeError from inside the wheel."""
    import sys
    import types

    called = []
    fake = types.ModuleType("fa3_fwd_interface")
    fake.flash_attn_func = lambda *a, **k: called.append(1)
    monkeypatch.setitem(sys.modules, "fa3_fwd_interface", fake)
    model = small_model("dense").to(dtype)
    model.set_attn_implementation("fa3")
    with pytest.raises(ValueError, match="on cpu"), torch.no_grad():
        model(tokens)
    assert not called


def test_autocast_casts_fp32_attention_inputs_like_pytorch_attention():
    """Under autocast, Llama's rotary embedding hands the attention fp32 q and k; the sparse
    methods must see autocast's dtype (the kernels take bf16/fp16), and nothing changes without
    autocast."""
    from dashbench.models.attention import _autocast_inputs

    q, k, v = (torch.randn(1, 2, 8, 64) for _ in range(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert {t.dtype for t in _autocast_inputs(q, k, v)} == {torch.bfloat16}
    assert all(a is b for a, b in zip(_autocast_inputs(q, k, v), (q, k, v)))
    half = [t.half() for t in (q, k, v)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert all(a is b for a, b in zip(_autocast_inputs(*half), half))  # only fp32 is cast
