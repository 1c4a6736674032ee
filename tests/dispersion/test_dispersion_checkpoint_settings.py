"""A layer captured from a DashAttention checkpoint is measured with that checkpoint's routing."""

from __future__ import annotations

from dashbench.dispersion.methods import MethodSettings
from dashbench.dispersion.runner import _settings_for


def test_captured_dash_layer_uses_its_checkpoint_knobs():
    capture = {"meta": {"dashbench_attention": {"method": "dash", "scaling": 3.5, "chunk_size": 32, "sigma": 0.5}}}
    s = _settings_for(MethodSettings(), capture)
    assert (s.dash_scaling, s.chunk_size, s.dash_sigma) == ("3.5", 32, 0.5)
    assert _settings_for(MethodSettings(dash_scaling="2"), capture).dash_scaling == "2"  # the user's word wins
    assert _settings_for(MethodSettings(), {"meta": {}}) == MethodSettings()
    other = {"meta": {"dashbench_attention": {"method": "nsa", "scaling": 1.0, "chunk_size": 64, "sigma": 1.0}}}
    assert _settings_for(MethodSettings(), other) == MethodSettings()
