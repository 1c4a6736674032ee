import math

import pandas as pd

from dashbench.harness.results import COLUMNS, RunWriter, add_speedups, resolve_run_dir


def _row(provider, ms, status="OK", family="dense", seqlen=1024):
    return {"case_id": f"{provider}|{seqlen}", "provider": provider, "family": family,
            "mode": "fwd", "batch": 1, "heads_q": 4, "heads_kv": 2, "seqlen": seqlen,
            "head_dim": 64, "dtype": "bf16", "status": status, "ms": ms}  # fmt: skip


def test_writer_writes_every_file_and_reloads(tmp_path):
    w = RunWriter(tmp_path / "run", env={"command": "dashbench kernel", "sweep": {}})
    w.append(_row("reference", 2.0))
    w.append(_row("flex", 1.0))
    for name in ("results.csv", "results.json", "env.json", "table.md"):
        assert (tmp_path / "run" / name).stat().st_size > 0
    df = pd.read_csv(tmp_path / "run" / "results.csv")
    assert list(df.columns) == COLUMNS and len(df) == 2
    again = RunWriter(tmp_path / "run")  # reopened, as --resume does
    assert again.finished_case_ids() == {"reference|1024", "flex|1024"}
    assert again.load_env()["command"] == "dashbench kernel"
    assert not list((tmp_path / "run").glob(".*tmp"))  # no temporaries left behind
    assert resolve_run_dir("run", tmp_path) == tmp_path / "run"


def test_auto_baseline_prefers_fa3_then_the_fastest_dense_provider():
    df = pd.DataFrame([_row("fa3", 1.0), _row("flex", 0.5), _row("reference", 4.0),
                       _row("flex", 2.0, seqlen=2048), _row("reference", 8.0, seqlen=2048),
                       _row("cudnn", 0.1, status="INCORRECT", seqlen=2048)])  # fmt: skip
    out = add_speedups(df)
    first, second = out[out.seqlen == 1024], out[out.seqlen == 2048]
    assert set(first.baseline) == {"fa3"}
    assert first.set_index("provider").speedup.to_dict() == {"fa3": 1.0, "flex": 2.0, "reference": 0.25}
    # No fa3 here; an incorrect row is never the baseline and gets no speedup.
    assert second.set_index("provider").baseline.to_dict() == {"flex": "flex", "reference": "flex", "cudnn": ""}
    assert math.isnan(second.set_index("provider").speedup["cudnn"])


def test_named_baseline():
    df = pd.DataFrame([_row("fa3", 1.0), _row("reference", 4.0)])
    out = add_speedups(df, baseline="reference")
    assert out.set_index("provider").speedup.to_dict() == {"fa3": 4.0, "reference": 1.0}
