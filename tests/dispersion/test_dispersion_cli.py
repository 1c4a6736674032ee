"""`dashbench dispersion run` / `report` end to end on tiny CPU sweeps."""

import json

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from dashbench.cli import app
from dashbench.dispersion.methods import LABELS, METHODS

runner = CliRunner()
TINY = ["--seqlen", "256,512", "--rows", "4", "--head-dim", "16", "--device", "cpu"]


def _one_run(folder):
    (run_dir,) = [p for p in folder.iterdir() if p.name.startswith("dispersion-")]
    return run_dir


def test_report_without_a_run_sweeps_first_and_names_every_method(tmp_path):
    result = runner.invoke(app, ["dispersion", "report", "--runs", str(tmp_path), *TINY])
    assert result.exit_code == 0, result.output
    run_dir = _one_run(tmp_path)
    md, page = (run_dir / "report.md").read_text(), (run_dir / "report.html").read_text()
    for method in METHODS:
        assert LABELS[method] in md and LABELS[method] in page and f"`{method}`" in md
    assert "## Summary" in md and "dispersive: dense softmax" in md
    assert "data:image/png;base64," in page and "src='plots/" not in page  # self-contained
    for stem in ("needle", "entropy", "support", "blocks"):
        assert (run_dir / "plots" / f"{stem}_planted.png").stat().st_size > 5000
        assert f"plots/{stem}_planted.png" in md
    df = pd.read_csv(run_dir / "results.csv")
    assert len(df) == len(METHODS) * 2 and set(df["method"]) == set(METHODS)
    assert (df["mass_err"] < 1e-12).all()
    fits = pd.read_csv(run_dir / "fits.csv").set_index("method")
    assert bool(fits.loc["softmax", "dispersive"]) and not bool(fits.loc["entmax", "dispersive"])
    assert fits.loc["softmax", "needle_slope"] < -0.02 and fits.loc["entmax", "needle_slope"] == 0
    env = json.loads((run_dir / "env.json").read_text())
    assert env["kind"] == "dispersion" and env["sweep"]["seqlens"] == [256, 512]
    assert "--seqlen 256,512" in env["command"] and "CPU" in md
    queries = pd.read_csv(run_dir / "queries.csv")
    assert len(queries) == len(METHODS) * 2 * 4 * 2  # methods x lengths x rows x query heads


def test_run_then_report_by_id_and_captured_inputs(tmp_path):
    g = torch.Generator().manual_seed(0)
    capture = tmp_path / "layer.pt"
    torch.save({"q": torch.randn(1, 4, 600, 16, generator=g), "k": torch.randn(1, 2, 600, 16, generator=g),
                "v": torch.randn(1, 2, 600, 16, generator=g), "meta": {"model": "toy", "layer": 3}}, capture)  # fmt: skip
    runs = tmp_path / "runs"
    args = ["dispersion", "run", "--out", str(runs), "--methods", "softmax,dash", "--inputs",
            f"planted,captured:{capture}", *TINY]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    run_dir = _one_run(runs)
    df = pd.read_csv(run_dir / "results.csv")
    captured = df[df["inputs"] == "captured:layer"]
    assert len(captured) == 4 and captured["needle_weight"].isna().all() and captured["entropy"].gt(0).all()
    assert (captured["heads_q"] == 4).all() and (captured["head_dim"] == 16).all()
    assert json.loads((run_dir / "env.json").read_text())["captures"][f"captured:{capture}"]["layer"] == 3
    result = runner.invoke(app, ["dispersion", "report", run_dir.name, "--runs", str(runs)])
    assert result.exit_code == 0, result.output
    md = (run_dir / "report.md").read_text()
    assert "## captured:layer inputs" in md and "## planted inputs" in md
    assert (run_dir / "plots" / "entropy_captured_layer.png").is_file()
    assert not (run_dir / "plots" / "needle_captured_layer.png").exists()  # no needle, no needle plot


@pytest.mark.parametrize(
    "args, message",
    [
        (["--methods", "softmax,flash"], "unknown 'flash'"),
        (["--seqlen", "1k..3k"], "power of two"),
        (["--inputs", "random"], "planted"),
        (["--model", "x"], "together"),
        (["--rows", "40"], "orthogonal"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path, args, message):
    result = runner.invoke(app, ["dispersion", "run", "--out", str(tmp_path), *TINY, *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not list(tmp_path.iterdir())  # nothing written


def test_captured_file_too_short_and_reports_of_other_runs_are_refused(tmp_path):
    capture = tmp_path / "short.pt"
    torch.save({"q": torch.randn(1, 2, 300, 16), "k": torch.randn(1, 2, 300, 16), "v": torch.randn(1, 2, 300, 16)},
               capture)  # fmt: skip
    result = runner.invoke(app, ["dispersion", "run", "--out", str(tmp_path / "r"), *TINY,
                                 "--inputs", f"captured:{capture}"])  # fmt: skip
    assert result.exit_code == 2 and "holds 300 tokens" in " ".join(result.output.split())
    kernel_run = tmp_path / "kernel-run"
    kernel_run.mkdir()
    (kernel_run / "env.json").write_text(json.dumps({"sweep": {}}))
    result = runner.invoke(app, ["dispersion", "report", str(kernel_run)])
    assert result.exit_code == 2 and "not a dispersion run" in " ".join(result.output.split())


def test_main_help_lists_dispersion():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "dispersion" in result.output
