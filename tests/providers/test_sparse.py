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


def test_every_method_has_a_kernel_provider_and_a_reference():
    for name in ("dash", "infllmv2", "nsa", "nsa-dash-kernels"):
        assert get_provider(name).family == "hierarchical-sparse"
    for name in ("dash-ref", "infllmv2-ref", "nsa-ref"):
        assert "cpu" in get_provider(name).caps().devices
