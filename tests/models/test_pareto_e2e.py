"""`dashbench pareto` and `dashbench e2e` end to end on the CPU (references, toy checkpoints)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from model_fixtures import small_model
from typer.testing import CliRunner

from dashbench.cli import app
from dashbench.evaluation import evaluate, set_sparsity
from dashbench.models import save_checkpoint, settings_of


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpts")
    for method in ("dense", "dash", "infllmv2"):
        save_checkpoint(small_model(method, vocab=4096), root / method, dtype=None)  # the tasks' vocabulary
    return root


def test_set_sparsity_reaches_targets(checkpoints):
    from dashbench.models import load_checkpoint

    dash = load_checkpoint(checkpoints / "dash")
    set_sparsity(dash, 0.5, 512, tol=0.03)
    ev = evaluate(dash, "mqar", 512, 2, batch=2)
    assert ev.sparsity == pytest.approx(0.5, abs=0.06)
    assert ev.examples == 2 * 32 and 0 <= ev.correct <= ev.examples and ev.lo <= ev.accuracy <= ev.hi
    iv2 = load_checkpoint(checkpoints / "infllmv2")
    set_sparsity(iv2, 0.5, 512)
    assert settings_of(iv2.config).topk >= 3


def test_pareto_cli_writes_table_and_plot(checkpoints, tmp_path):
    args = ["pareto", "--sparsity", "0.5", "--seqlen", "384", "--examples", "2", "--tasks", "mqar",
            "--out", str(tmp_path), "--device", "cpu", "--methods", "nsa"]  # fmt: skip
    for m in ("dense", "dash"):
        args += ["--model", str(checkpoints / m)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (run,) = tmp_path.iterdir()
    df = pd.read_csv(run / "pareto.csv")
    assert set(df["method"]) == {"dense", "dash", "nsa"}
    assert set(df.loc[df["method"] == "nsa", "converted_from"]) == {"dense", "dash"}
    assert (run / "pareto.png").stat().st_size > 5000 and "DashAttention" not in (run / "table.md").read_text()
    assert json.loads((run / "env.json").read_text())["sweep"]["seqlen"] == 384


def test_pareto_cli_rejects_a_bad_checkpoint(tmp_path):
    (tmp_path / "ck").mkdir()
    result = CliRunner().invoke(app, ["pareto", "--model", str(tmp_path / "ck"), "--device", "cpu",
                                      "--out", str(tmp_path / "runs")], env={"COLUMNS": "300"})  # fmt: skip
    assert result.exit_code != 0 and "no config.json" in result.output
    assert not (tmp_path / "runs").exists()


def test_e2e_cli_times_every_method_and_names_a_missing_fa3(checkpoints, tmp_path):
    result = CliRunner().invoke(app, ["e2e", "--model", str(checkpoints / "dash"), "--seqlen", "96",
                                      "--repeats", "1", "--decode-tokens", "2", "--out", str(tmp_path),
                                      "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    (run,) = tmp_path.iterdir()
    df = pd.read_csv(run / "e2e.csv")
    ok = df[df["status"] == "OK"]
    assert {"sdpa", "dash", "nsa", "infllmv2"} <= set(ok["method"])
    assert (ok["ttft_ms"] > 0).all() and (ok["decode_tokens_per_s"] > 0).all()
    assert set(ok["baseline"]) == {"sdpa"}
    fa3 = df[df["method"] == "fa3"].iloc[0]
    # on the CPU, FlashAttention-3 is refused by name whether or not its wheel is installed
    assert fa3["status"] == "UNSUPPORTED" and "FlashAttention-3" in fa3["note"]
    assert (run / "e2e.png").is_file()


@pytest.mark.parametrize("args, option", [(["--repeats", "0"], "--repeats"), (["--decode-tokens", "0"], "--decode-tokens")])
def test_e2e_rejects_empty_timings(checkpoints, tmp_path, args, option):
    result = CliRunner().invoke(app, ["e2e", "--model", str(checkpoints / "dash"), "--out", str(tmp_path),
                                      "--device", "cpu", *args], env={"COLUMNS": "300"})  # fmt: skip
    assert result.exit_code == 2 and option in result.output and not any(tmp_path.iterdir())


def test_pareto_rejects_bad_tasks_before_writing(checkpoints, tmp_path):
    result = CliRunner().invoke(app, ["pareto", "--model", str(checkpoints / "dash"), "--tasks", "copy",
                                      "--out", str(tmp_path / "runs"), "--device", "cpu"], env={"COLUMNS": "300"})  # fmt: skip
    assert result.exit_code == 2 and "--tasks" in result.output
    assert not (tmp_path / "runs").exists()


def test_pareto_dash_sigma_gives_a_line_per_value(checkpoints, tmp_path):
    args = ["pareto", "--model", str(checkpoints / "dense"), "--methods", "dash", "--dash-sigma", "1,1e6",
            "--sparsity", "0.5", "--seqlen", "384", "--examples", "1", "--tasks", "mqar", "--out", str(tmp_path),
            "--device", "cpu"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (run,) = tmp_path.iterdir()
    df = pd.read_csv(run / "pareto.csv")
    assert set(df["label"]) == {"dense", "dense as dash (converted), sigma=1", "dense as dash (converted), sigma=1e+06"}
    assert sorted(df.loc[df["method"] == "dash", "sigma"]) == [1.0, 1e6] and df.loc[df["method"] == "dense", "sigma"].isna().all()
    bad = CliRunner().invoke(app, [*args[:5], "0", *args[6:]], env={"COLUMNS": "300"})
    assert bad.exit_code != 0
