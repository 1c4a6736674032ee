"""Checkpoints: safetensors only, round trips with the sparse parameters, conversion from
dense, and clear errors for malformed or mismatched ones."""

from __future__ import annotations

import json

import pytest
import torch
from model_fixtures import small_model

from dashbench.kernels.reference.nsa import compress
from dashbench.models import load_checkpoint, save_checkpoint, settings_of
from dashbench.models.parameters import attention_modules, nsa_params


@pytest.mark.parametrize("method", ["dense", "dash", "nsa", "infllmv2"])
def test_round_trip_keeps_every_tensor_and_the_settings(method, tmp_path, tokens):
    model = small_model(method, topk=5)
    with torch.no_grad():  # make the sparse parameters non-default, so a lost one shows
        for m in attention_modules(model):
            for name, p in m.named_parameters(recurse=False):
                p.add_(0.01 * torch.randn_like(p))
    save_checkpoint(model, tmp_path / "ck", dtype=None)
    again = load_checkpoint(tmp_path / "ck")
    assert settings_of(again.config) == settings_of(model.config)
    a, b = model.state_dict(), again.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)
    with torch.no_grad():
        torch.testing.assert_close(again(tokens).logits, model(tokens).logits)
    assert not list((tmp_path / "ck").glob("*.bin"))


def test_converting_dense_starts_sensibly(tmp_path, tokens):
    save_checkpoint(small_model("dense"), tmp_path / "dense", dtype=None)
    dash = load_checkpoint(tmp_path / "dense", method="dash")
    assert all((m.dash_head_cls == 0).all() for m in attention_modules(dash))  # mean-key summaries
    nsa = load_checkpoint(tmp_path / "dense", method="nsa")
    s = settings_of(nsa.config)
    m = attention_modules(nsa)[0]
    params = nsa_params(m, s)
    k, v = torch.randn(1, 2, 64, 16), torch.randn(1, 2, 64, 16)
    kc, vc = compress(k, v, s.nsa(), params)  # the MLP starts as the window mean
    mean = k.unfold(2, s.cmp_size, s.cmp_stride).mean(-1)
    torch.testing.assert_close(kc, mean, atol=1e-5, rtol=1e-5)
    gates = torch.sigmoid(m.nsa_gate_bias[0])
    assert gates[1] > 0.98 and gates[0] < 0.02 and gates[2] < 0.02  # the selected branch on
    assert nsa.config.dashbench_converted_from == "dense"
    with torch.no_grad():
        assert torch.isfinite(nsa(tokens).logits).all()


def test_knobs_override_and_sparse_to_sparse_warns(tmp_path):
    save_checkpoint(small_model("nsa", topk=5), tmp_path / "nsa", dtype=None)
    assert settings_of(load_checkpoint(tmp_path / "nsa", topk=9).config).topk == 9
    with pytest.warns(UserWarning, match="nsa parameters are dropped"):
        m = load_checkpoint(tmp_path / "nsa", method="dash")
    assert hasattr(attention_modules(m)[0], "dash_head_cls")
    assert not hasattr(attention_modules(m)[0], "nsa_gate")


def _saved(tmp_path, method="dash"):
    path = tmp_path / "ck"
    save_checkpoint(small_model(method), path, dtype=None)
    return path


def test_missing_or_pickled_weights(tmp_path):
    path = _saved(tmp_path)
    (path / "model.safetensors").unlink()
    (path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ValueError, match="pickled weights are never loaded"):
        load_checkpoint(path)


def test_malformed_config(tmp_path):
    path = _saved(tmp_path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="not a directory"):
        load_checkpoint(tmp_path / "nowhere")


def test_wrong_model_type(tmp_path):
    path = _saved(tmp_path)
    data = json.loads((path / "config.json").read_text())
    data["model_type"] = "gpt2"
    (path / "config.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="model_type 'gpt2' is not supported"):
        load_checkpoint(path)


def test_settings_missing_from_config_are_named(tmp_path):
    path = _saved(tmp_path, "dash")
    data = json.loads((path / "config.json").read_text())
    del data["dashbench_attention"]
    (path / "config.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="unexpected.*dash_head_cls.*does not name"):
        load_checkpoint(path)


def test_shape_mismatch_is_named(tmp_path):
    path = _saved(tmp_path, "dense")
    data = json.loads((path / "config.json").read_text())
    data["intermediate_size"] = 96
    (path / "config.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="mlp.*shape"):
        load_checkpoint(path)


def test_corrupt_safetensors(tmp_path):
    path = _saved(tmp_path, "dense")
    (path / "model.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_checkpoint(path)


def test_a_stray_safetensors_file_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = _saved(tmp_path, "dash")
    save_file({"model.layers.0.self_attn.dash_head_cls": torch.full((2, 16), 7.0)}, str(path / "zz.safetensors"))
    with pytest.raises(ValueError, match="expected model.safetensors alone"):
        load_checkpoint(path)


def test_knobs_that_change_trained_shapes_are_refused(tmp_path):
    save_checkpoint(small_model("nsa", topk=5), tmp_path / "nsa", dtype=None)
    with pytest.raises(ValueError, match=r"\['mlp_hidden'\] change the shapes"):
        load_checkpoint(tmp_path / "nsa", mlp_hidden=32)
    assert settings_of(load_checkpoint(tmp_path / "nsa", topk=7).config).topk == 7  # shape-neutral
