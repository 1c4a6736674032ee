import math

import pandas as pd
import pytest
import torch

from dashbench.harness.cases import Case, Shape, expand_sweep
from dashbench.harness.results import RunWriter
from dashbench.harness.runner import make_inputs, run_sweep
from dashbench.harness.timing import TimingConfig
from dashbench.kernels.reference import attention_reference
from dashbench.providers.dense import Reference
from dashbench.providers.registry import Capabilities, Probe, Provider, register

FAST = TimingConfig(warmup_ms=1, rep_ms=5)
SHAPE = Shape(batch=1, heads_q=4, heads_kv=2, seqlen=96, head_dim=32)


@pytest.fixture
def fake_providers(registry_snapshot):
    caps = Capabilities(frozenset({"fwd", "fwd+bwd", "decode"}), frozenset({"cpu"}),
                        frozenset({"bf16", "fp32"}))  # fmt: skip

    @register
    class Wrong(Provider):
        name, capabilities = "t-wrong", caps

        def prepare(self, mode, q, k, v):
            return lambda: attention_reference(q, k, v, causal=False).to(q.dtype)

    @register
    class OutOfMemory(Provider):
        name, capabilities = "t-oom", caps

        def prepare(self, mode, q, k, v):
            def run():
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 64.00 GiB")

            return run

    @register
    class Broken(Provider):
        name, capabilities = "t-broken", caps

        def prepare(self, mode, q, k, v):
            raise RuntimeError("kernel launch failed\nsecond line")

    @register
    class Missing(Provider):
        name, capabilities = "t-missing", caps

        def _probe(self):
            return Probe(False, "t_missing not importable: not installed")

    @register
    class Fp32Only(Reference):
        name = "t-fp32"
        capabilities = Capabilities(frozenset({"fwd"}), frozenset({"cpu"}), frozenset({"fp32"}))

    return registry_snapshot


def _run(tmp_path, cases):
    writer = RunWriter(tmp_path / "run", env={"sweep": {}})
    run_sweep(cases, writer, "cpu", FAST, show_progress=False)
    return pd.read_csv(tmp_path / "run" / "results.csv").set_index("provider")


def test_every_failure_is_a_row_and_the_sweep_goes_on(tmp_path, fake_providers):
    names = ["t-oom", "reference", "t-wrong", "t-broken", "t-missing", "t-fp32"]
    df = _run(tmp_path, [Case(p, "fwd", SHAPE, "bf16") for p in names])
    assert df.status.to_dict() == {
        "t-oom": "OOM", "reference": "OK", "t-wrong": "INCORRECT", "t-broken": "ERROR",
        "t-missing": "UNAVAILABLE", "t-fp32": "UNSUPPORTED",
    }  # fmt: skip
    assert "64.00 GiB" in df.note["t-oom"]
    assert df.note["t-broken"] == "RuntimeError: kernel launch failed"
    assert "not installed" in df.note["t-missing"]
    assert "dtype bf16" in df.note["t-fp32"]
    # An incorrect provider is checked but never timed, and never gets a speedup.
    assert df.rel_err["t-wrong"] > df.tol["t-wrong"]
    assert math.isnan(df.ms["t-wrong"]) and math.isnan(df.speedup["t-wrong"])
    assert df.ms["reference"] > 0 and df.speedup["reference"] == 1.0
    assert df.baseline["reference"] == "reference"


@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd", "decode"])
def test_reference_rows_are_checked_and_timed_in_every_mode(tmp_path, mode):
    df = _run(tmp_path, [Case("reference", mode, SHAPE, "fp32")])
    row = df.loc["reference"]
    assert row.status == "OK" and row.rel_err < 1e-5 and row.ms > 0 and row.tflops > 0
    assert (row.rel_err_grad < 1e-5) if mode == "fwd+bwd" else math.isnan(row.rel_err_grad)
    assert (row.gbps > 0) if mode == "decode" else math.isnan(row.gbps)


def test_a_run_resumes_without_repeating_finished_cases(tmp_path):
    cases = expand_sweep(["reference"], ["fwd"], [32, 48, 64], [1], [(2, 1)], [16], ["fp32"])
    writer = RunWriter(tmp_path / "run", env={"sweep": {}})
    run_sweep(cases[:1], writer, "cpu", FAST, show_progress=False)
    first = pd.read_csv(tmp_path / "run" / "results.csv")
    resumed = RunWriter(tmp_path / "run")
    run_sweep(cases, resumed, "cpu", FAST, show_progress=False)
    df = pd.read_csv(tmp_path / "run" / "results.csv")
    assert list(df.seqlen) == [32, 48, 64]
    assert df.finished_at[0] == first.finished_at[0] and df.ms[0] == first.ms[0]


def test_inputs_are_seeded_per_shape_and_shared_by_providers():
    a = make_inputs(Case("reference", "fwd", SHAPE, "bf16"), "cpu")
    b = make_inputs(Case("flex", "fwd", SHAPE, "bf16"), "cpu")
    assert torch.equal(a.q, b.q) and torch.equal(a.v, b.v)
    c = make_inputs(Case("reference", "fwd", SHAPE, "bf16"), "cpu", seed=1)
    assert not torch.equal(a.q, c.q)
    d = make_inputs(Case("reference", "decode", SHAPE, "bf16"), "cpu")
    assert d.q.shape == (1, 4, 1, 32) and d.k.shape == (1, 2, 96, 32)


@pytest.mark.parametrize("mode", ["fwd", "decode"])
def test_a_sparse_provider_is_checked_against_its_own_reference(tmp_path, mode):
    shape = Shape(batch=1, heads_q=4, heads_kv=2, seqlen=200, head_dim=32)
    df = _run(tmp_path, [Case("dash-ref", mode, shape, "fp32")])
    row = df.loc["dash-ref"]
    assert row.status == "OK" and row.rel_err < 1e-5  # its own reference, not dense attention


def test_resume_retries_errors_and_replaces_their_rows(tmp_path, registry_snapshot):
    calls = {"n": 0}

    @register
    class FlakyOnce(Reference):
        name = "t-flaky"

        def prepare(self, mode, q, k, v):
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("CUDA error: an illegal memory access was encountered")
            return super().prepare(mode, q, k, v)

    case = Case("t-flaky", "fwd", SHAPE, "fp32")
    writer = RunWriter(tmp_path / "run", env={"sweep": {}})
    run_sweep([case], writer, "cpu", FAST, show_progress=False)
    assert pd.read_csv(tmp_path / "run" / "results.csv").status.tolist() == ["ERROR"]
    run_sweep([case], RunWriter(tmp_path / "run"), "cpu", FAST, show_progress=False)
    assert pd.read_csv(tmp_path / "run" / "results.csv").status.tolist() == ["OK"]


def test_a_runtime_error_about_memory_is_an_oom(tmp_path, registry_snapshot):
    @register
    class TritonOOM(Reference):
        name = "t-triton-oom"

        def prepare(self, mode, q, k, v):
            raise RuntimeError("Triton Error [CUDA]: out of memory")

    df = _run(tmp_path, [Case("t-triton-oom", "fwd", SHAPE, "fp32")])
    assert df.status["t-triton-oom"] == "OOM"


def test_a_sparse_case_is_set_to_its_target_and_reports_what_it_measured(tmp_path):
    shape = Shape(batch=1, heads_q=4, heads_kv=2, seqlen=1024, head_dim=32)
    cases = [Case("reference", "fwd", shape, "fp32", inputs="structured"),
             Case("dash-ref", "fwd", shape, "fp32", inputs="structured", sparsity=0.6),
             Case("infllmv2-ref", "fwd", shape, "fp32", inputs="structured", sparsity=0.6)]  # fmt: skip
    df = _run(tmp_path, cases)
    dash, iv2 = df.loc["dash-ref"], df.loc["infllmv2-ref"]
    assert dash.status == "OK" and dash.rel_err < 1e-5 and dash.setting.startswith("scaling=")
    assert abs(dash.token_density - 0.4) < 0.05  # calibrated on these inputs
    assert dash.vs_dash == 1.0 and iv2.vs_dash > 0 and dash.baseline == "reference"
    # InfLLMv2's 18 forced blocks are all of a 1024-token prefill: the target is out of reach,
    # which the row says, and it reports the density it ran at
    assert iv2.setting == "topk=18" and "forced blocks" in iv2.note and iv2.token_density == 1.0
    assert "--sparsity 0.6" in iv2.repro and "--inputs structured" in iv2.repro


def test_a_decode_case_is_set_to_its_own_density(tmp_path):
    shape = Shape(batch=1, heads_q=4, heads_kv=2, seqlen=4096, head_dim=32)
    df = _run(tmp_path, [Case("dash-ref", "decode", shape, "fp32", inputs="structured", sparsity=0.75),
                         Case("infllmv2-ref", "decode", shape, "fp32", inputs="structured", sparsity=0.75)])
    assert df.status.tolist() == ["OK", "OK"]
    assert abs(df.token_density["dash-ref"] - 0.25) < 0.05
    # 25% of 64 blocks is 16, below its 18 forced blocks: 18, and the note says so
    assert df.setting["infllmv2-ref"] == "topk=18" and "forced" in df.note["infllmv2-ref"]


def test_a_chunk_size_knob_reaches_the_method_and_its_reference(tmp_path):
    shape = Shape(batch=1, heads_q=4, heads_kv=2, seqlen=512, head_dim=32)
    cases = [Case("dash-ref", "fwd", shape, "fp32", (("chunk_size", c),), inputs="structured", sparsity=0.5)
             for c in (32, 64)]  # fmt: skip
    df = _run(tmp_path, cases)
    assert df.status.tolist() == ["OK", "OK"] and (df.rel_err < df.tol).all()
    assert df.setting.str.contains("chunk_size=32").tolist() == [True, False]
    assert "--chunk-size 32" in df.repro.iloc[0]
