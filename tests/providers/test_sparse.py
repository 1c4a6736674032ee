"""The hierarchical-sparse providers' records: NSA's fla path refuses the shapes fla refuses."""

from dashbench.providers.registry import Probe, get_provider


def test_nsa_refuses_gqa_ratios_fla_cannot_run_and_names_the_alternative():
    nsa = get_provider("nsa")
    saved = nsa.__dict__.get("_probe_result")
    nsa.__dict__["_probe_result"] = Probe(True, impl="fla-core (test)")  # as if installed here
    try:
        assert "power of two >= 16" in nsa.refusal("fwd", "cuda", "bf16", 128, gqa_ratio=4)
        assert "nsa-dash-kernels" in nsa.refusal("fwd", "cuda", "bf16", 128, gqa_ratio=8)
        assert nsa.refusal("fwd", "cuda", "bf16", 128, gqa_ratio=16) is None
        assert "nsa-dash-kernels runs NSA decode" in nsa.refusal("decode", "cuda", "bf16", 128, gqa_ratio=16)
    finally:
        if saved is None:
            nsa.__dict__.pop("_probe_result")
        else:
            nsa.__dict__["_probe_result"] = saved


def test_nsa_names_the_missing_package_before_the_missing_gpu(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_fla(name, *args, **kwargs):
        if name == "fla" or name.startswith("fla."):
            raise ModuleNotFoundError("No module named 'fla'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fla)
    probe = type(get_provider("nsa"))()._probe()
    assert not probe.available and "pip install fla-core" in probe.reason and "nsa-dash-kernels" in probe.reason


def test_every_method_has_a_kernel_provider_and_a_reference():
    for name in ("dash", "infllmv2", "nsa", "nsa-dash-kernels"):
        assert get_provider(name).family == "hierarchical-sparse"
    for name in ("dash-ref", "infllmv2-ref", "nsa-ref"):
        assert "cpu" in get_provider(name).caps().devices


def test_reference_providers_run_and_check_on_the_cpu():
    import torch

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, h, 160, 64, generator=g) for h in (4, 2, 2))
    for name in ("dash-ref", "infllmv2-ref", "nsa-ref"):
        provider = get_provider(name)
        out = provider.prepare("fwd", q, k, v)()
        rows = torch.tensor([0, 77, 159])
        ref = provider.reference(q[:, :, rows], k, v, rows, torch.float64)
        assert torch.allclose(out[:, :, rows].double(), ref, atol=1e-5), name
        assert isinstance(provider.notes("fwd", q, k), str)
        # bf16 inputs in their own dtype (compute_dtype=None), as the harness may ask
        low = provider.reference(q[:, :, rows].bfloat16(), k.bfloat16(), v.bfloat16(), rows, None)
        assert low.dtype == torch.bfloat16 and torch.allclose(low.double(), ref, atol=5e-2), name


def test_the_harness_check_passes_for_every_sparse_reference_on_head_slices():
    """The harness checks one KV head's slice against ``reference``: per-head parameters (NSA)
    must be the same in the slice as in the full call."""
    import torch

    from dashbench.harness.correctness import check_against_reference

    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, h, 200, 64, generator=g).bfloat16() for h in (8, 2, 2))
    for name in ("dash-ref", "infllmv2-ref", "nsa-ref"):
        provider = get_provider(name)
        out = provider.prepare("fwd", q, k, v)()
        assert check_against_reference(out, q, k, v, "bf16", reference=provider.reference).passed, name
