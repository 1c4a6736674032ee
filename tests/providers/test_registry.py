import sys
import types

import pytest
import torch

from dashbench.providers import REGISTRY, get_provider, load_plugins
from dashbench.providers.dense import FlashAttention3
from dashbench.providers.registry import Capabilities, Provider, register

DENSE = {"fa3", "fa2", "cudnn", "sdpa-flash", "flex", "reference"}


def test_dense_providers_are_registered_with_complete_records():
    assert DENSE <= set(REGISTRY)
    for name in DENSE:
        p = REGISTRY[name]
        assert p.family == "dense" and p.backend and p.summary
        assert p.capabilities.modes and p.capabilities.devices and p.capabilities.dtypes


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only answers")
def test_on_a_cpu_only_machine_only_the_reference_is_available_and_others_say_why():
    assert get_provider("reference").probe().available
    for name in DENSE - {"reference"}:
        probe = get_provider(name).probe()
        assert not probe.available and probe.reason
    assert "FlashAttention-3 is not installed" in get_provider("fa3").probe().reason
    assert "no CUDA device" in get_provider("cudnn").probe().reason


def test_capability_refusals_name_the_problem():
    caps = Capabilities(frozenset({"fwd"}), frozenset({"cuda"}), frozenset({"bf16"}),
                        frozenset({64, 128}), max_gqa_ratio=8)  # fmt: skip
    assert caps.refusal("fwd", "cuda", "bf16", 128) is None
    assert "mode decode" in caps.refusal("decode", "cuda", "bf16", 128)
    assert "device cpu" in caps.refusal("fwd", "cpu", "bf16", 128)
    assert "dtype fp16" in caps.refusal("fwd", "cuda", "fp16", 128)
    assert "head dim 96" in caps.refusal("fwd", "cuda", "bf16", 96)
    assert "GQA ratio 16" in caps.refusal("fwd", "cuda", "bf16", 128, gqa_ratio=16)


def _fake_module(monkeypatch, name):
    mod = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, mod)
    return mod


def _fake_hopper(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (9, 0))


def test_fa3_uses_the_forward_only_wheel_and_declares_its_limits(monkeypatch):
    monkeypatch.setitem(sys.modules, "flash_attn_interface", None)  # import fails
    _fake_module(monkeypatch, "fa3_fwd_interface")
    _fake_hopper(monkeypatch)
    p = FlashAttention3()
    assert p.probe().available and p.probe().impl.startswith("fa3_fwd_interface")
    assert p.caps().modes == {"fwd", "decode"} and p.caps().dtypes == {"bf16"}
    assert "mode fwd+bwd" in p.refusal("fwd+bwd", "cuda", "bf16", 128)
    assert "dtype fp16" in p.refusal("fwd", "cuda", "fp16", 128)


def test_fa3_prefers_the_official_hopper_build(monkeypatch):
    _fake_module(monkeypatch, "flash_attn_interface")
    _fake_module(monkeypatch, "fa3_fwd_interface")
    _fake_hopper(monkeypatch)
    p = FlashAttention3()
    assert p.probe().impl.startswith("flash_attn_interface")
    assert "fwd+bwd" in p.caps().modes and "fp16" in p.caps().dtypes


def test_fa3_refuses_a_pre_hopper_gpu(monkeypatch):
    _fake_module(monkeypatch, "fa3_fwd_interface")
    monkeypatch.setitem(sys.modules, "flash_attn_interface", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (8, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "NVIDIA A100")
    probe = FlashAttention3().probe()
    assert not probe.available and "sm90" in probe.reason and "A100" in probe.reason


def test_a_probe_that_raises_makes_the_provider_unavailable(registry_snapshot):
    @register
    class Exploding(Provider):
        name = "t-exploding"

        def _probe(self):
            raise OSError("libcudart.so.12: cannot open shared object file")

    probe = get_provider("t-exploding").probe()
    assert not probe.available and "libcudart" in probe.reason


def test_registration_errors(registry_snapshot):
    with pytest.raises(ValueError, match="twice"):

        @register
        class Again(Provider):
            name = "reference"

    with pytest.raises(ValueError, match="family"):

        @register
        class Odd(Provider):
            name, family = "t-odd", "sparse-ish"

    with pytest.raises(KeyError, match="known providers"):
        get_provider("nope")


def test_plugins_register_through_the_environment(monkeypatch, registry_snapshot):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parents[1] / "_plugins"))
    monkeypatch.setenv("DASHBENCH_PLUGINS", "slow_reference")
    sys.modules.pop("slow_reference", None)
    load_plugins()
    assert get_provider("slow-reference").probe().available


def test_dash_providers_are_registered_as_hierarchical_sparse():
    for name in ("dash", "dash-ref"):
        assert get_provider(name).family == "hierarchical-sparse"
    assert get_provider("dash-ref").probe().available
    assert {"fwd", "fwd+bwd", "decode"} <= get_provider("dash-ref").caps().modes
