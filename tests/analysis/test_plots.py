"""Plots drawn from a run's table alone: written, non-empty, named by shape."""

from fixture_runs import rows

from dashbench.analysis.plots import all_plots, density_vs_target, speedup_vs_sparsity, time_vs_seqlen


def test_every_plot_is_written_as_png_and_svg(tmp_path):
    df = rows()
    paths = all_plots(df, tmp_path / "plots", "H100")
    names = sorted(p.name for p in paths)
    assert len(names) == 6 and all(p.stat().st_size > 1000 for p in paths)
    assert "time_vs_seqlen_fwd_B1_H32-8_D128_bf16_structured.png" in names
    assert {p.suffix for p in paths} == {".png", ".svg"}
    svg = (tmp_path / "plots" / "speedup_vs_sparsity_fwd_B1_H32-8_D128_bf16_structured.svg").read_text()
    assert "fa3 (dense baseline)" in svg and "H100" in svg  # the baseline named, the device in the title


def test_plots_skip_what_the_rows_cannot_show(tmp_path):
    one_length = rows()[lambda d: d.seqlen == 8192]
    assert time_vs_seqlen(one_length, tmp_path) == []  # one length is no curve
    dense_only = rows()[lambda d: d.sparsity.isna()]
    assert speedup_vs_sparsity(dense_only, tmp_path) == [] and density_vs_target(dense_only, tmp_path) == []
