import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from dashbench.cli import app

runner = CliRunner()
TINY = ["--heads", "2/1", "--head-dim", "16", "--dtype", "fp32", "--warmup", "1", "--rep", "5"]
PLUGINS = Path(__file__).parent / "_plugins"


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("env", "kernel"):
        assert command in result.output


def test_env_json_describes_machine_and_providers():
    result = runner.invoke(app, ["env", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["machine"]["torch"] and info["machine"]["device"] in ("cpu", "cuda")
    names = {p["name"]: p for p in info["providers"]}
    assert {"fa3", "cudnn", "sdpa-flash", "flex", "reference"} <= set(names)
    for p in names.values():
        assert p["available"] or p["impl_or_reason"]  # never unavailable without a reason


def test_kernel_runs_on_the_cpu_and_writes_the_run_folder(tmp_path):
    args = ["kernel", "--seqlen", "64,100", "--mode", "fwd,decode", "--out", str(tmp_path), *TINY]
    result = runner.invoke(app, args + ["--providers", "reference,fa3"])
    assert result.exit_code == 0, result.output
    (run_dir,) = tmp_path.iterdir()
    assert {p.name for p in run_dir.iterdir()} >= {"results.csv", "results.json", "env.json", "table.md"}
    df = pd.read_csv(run_dir / "results.csv")
    ref = df[df.provider == "reference"]
    assert len(ref) == 4 and set(ref.status) == {"OK"} and set(ref.device) == {"cpu"}
    # Without FA3 its rows say so; nothing else runs under its name.
    fa3 = df[df.provider == "fa3"]
    assert len(fa3) == 4 and set(fa3.status) <= {"UNAVAILABLE", "OK", "UNSUPPORTED"}
    assert fa3[fa3.status == "OK"].empty or fa3.impl.str.contains("fa3|flash_attn").all()
    env = json.loads((run_dir / "env.json").read_text())
    assert env["sweep"]["seqlens"] == [64, 100]
    assert "--providers reference,fa3 --mode fwd,decode --seqlen 64,100" in env["command"]
    assert "reference" in (run_dir / "table.md").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seqlen", "12q"], "k = 1024"),
        (["--seqlen", "0"], "at least 1"),
        (["--heads", "32/5"], "multiple"),
        (["--mode", "backward"], "fwd, fwd+bwd, decode"),
        (["--dtype", "fp8"], "bf16"),
        (["--providers", "fa4"], "expected one of"),
        (["--baseline", "fa4"], "no provider"),
        (["--resume", "no-such-run"], "no run"),
        (["--sparsity", "0.5,1"], "in [0, 1)"),
        (["--sparsity", "half"], "in [0, 1)"),
        (["--inputs", "gaussian"], "expected one of random, structured"),
        (["--methods", "fa3"], "expected one of"),  # a dense provider is not a method
    ],
)
def test_bad_input_is_a_usage_error_that_says_what_is_accepted(tmp_path, args, message):
    result = runner.invoke(app, ["kernel", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())  # rich wraps long lines


def test_the_cpu_refuses_hopeless_sizes_and_suggests_a_smaller_one(tmp_path):
    result = runner.invoke(app, ["kernel", "--device", "cpu", "--seqlen", "128k", "--out", str(tmp_path)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "try --seqlen" in text and "GPU" in text
    assert not any(tmp_path.iterdir())  # refused before anything ran


def test_a_killed_run_keeps_its_rows_and_resume_finishes_it(tmp_path):
    env = {**os.environ, "DASHBENCH_PLUGINS": "slow_reference",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))}  # fmt: skip
    seqlens = "32,40,48,56,64,72"
    cmd = [sys.executable, "-m", "dashbench", "kernel", "--providers", "slow-reference",
           "--seqlen", seqlens, "--out", str(tmp_path), *TINY]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        csv = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = list(tmp_path.glob("*/results.csv"))
            if found and len(pd.read_csv(found[0])) >= 2:
                csv = found[0]
                break
            time.sleep(0.05)
        assert csv is not None, proc.stderr.read().decode() if proc.poll() is not None else "timeout"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    before = pd.read_csv(csv)
    assert 2 <= len(before) < 6  # killed midway, finished rows kept

    os.environ["DASHBENCH_PLUGINS"] = env["DASHBENCH_PLUGINS"]
    sys.path.insert(0, str(PLUGINS))
    sys.modules.pop("slow_reference", None)  # another test may have imported it already
    try:
        result = runner.invoke(app, ["kernel", "--resume", csv.parent.name, "--out", str(tmp_path)])
    finally:
        sys.path.remove(str(PLUGINS))
        del os.environ["DASHBENCH_PLUGINS"]
        from dashbench.providers.registry import REGISTRY

        REGISTRY.pop("slow-reference", None)
        sys.modules.pop("slow_reference", None)
    assert result.exit_code == 0, result.output
    after = pd.read_csv(csv)
    assert list(after.seqlen) == [32, 40, 48, 56, 64, 72] and set(after.status) == {"OK"}
    kept = after.iloc[: len(before)]
    assert list(kept.finished_at) == list(before.finished_at)  # not re-run


def test_resume_on_another_machine_is_refused(tmp_path):
    result = runner.invoke(app, ["kernel", "--seqlen", "32", "--out", str(tmp_path), *TINY,
                                 "--providers", "reference"])  # fmt: skip
    assert result.exit_code == 0, result.output
    (run_dir,) = tmp_path.iterdir()
    env = json.loads((run_dir / "env.json").read_text())
    env["machine"]["gpu"] = "NVIDIA H200"
    (run_dir / "env.json").write_text(json.dumps(env))
    result = runner.invoke(app, ["kernel", "--resume", run_dir.name, "--out", str(tmp_path)])
    assert result.exit_code == 2 and "H200" in " ".join(result.output.split())


def test_env_shows_reasons_with_brackets_verbatim(monkeypatch):
    from dashbench.providers import registry
    from dashbench.providers.registry import Probe

    nsa = registry.get_provider("nsa")
    monkeypatch.setitem(nsa.__dict__, "_probe_result", Probe(False, "install it (or `.[nsa]`)"))
    result = runner.invoke(app, ["env"], env={"COLUMNS": "250"})
    assert result.exit_code == 0 and "`.[nsa]`" in result.output  # not eaten as rich markup
