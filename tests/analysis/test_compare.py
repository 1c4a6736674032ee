"""Run comparison: ratios per matching case, flagged only beyond the runs' noise."""

import pytest
from fixture_runs import rows, write_run
from typer.testing import CliRunner

from dashbench.analysis.compare import compare_runs
from dashbench.cli import app

runner = CliRunner()


def test_ratios_match_cases_and_flag_only_changes_beyond_noise():
    a, b = rows(), rows(scale=0.8)  # dash 20% faster in b, spreads of 1% each
    out = compare_runs(a, b).set_index(["provider", "seqlen", "sparsity"], drop=False)
    assert len(out) == 10  # 2 lengths x (fa3 + 2 methods x 2 targets); the refused nsa row is not timed
    assert out.loc[("dash", 8192, 0.75), "ratio"] == pytest.approx(0.8)
    assert set(out[out.provider == "dash"].change) == {"faster"}
    assert set(out[out.provider != "dash"].change) == {"same"}
    noisy = compare_runs(rows(spread=0.2), rows(scale=0.8, spread=0.2))  # +-40%: 20% is noise
    assert set(noisy.change) == {"same"}


def test_report_and_compare_commands_work_from_the_csv_alone(tmp_path):
    a = write_run(tmp_path / "runs" / "a", rows())
    write_run(tmp_path / "runs" / "b", rows(scale=1.3), gpu="NVIDIA H200")
    result = runner.invoke(app, ["report", "a", "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert (a / "table.md").is_file() and len(list((a / "plots").glob("*.png"))) == 3
    out_csv = tmp_path / "cmp.csv"
    result = runner.invoke(app, ["compare", "a", "b", "--runs", str(tmp_path / "runs"), "--csv", str(out_csv)])
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "different devices" in text and "4 slower" in text
    assert out_csv.is_file()
    assert runner.invoke(app, ["compare", "a", "nope", "--runs", str(tmp_path / "runs")]).exit_code == 2
