"""Suite files: parsing, the errors that name file, key and type, and `dashbench kernel --suite`."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from dashbench.cli import app
from dashbench.suites import SuiteError, list_suites, load_suite

runner = CliRunner()


def _write(tmp_path, text, name="mine"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def test_the_shipped_suites_load():
    names = {s.name for s in list_suites()}
    assert {"prefill-long", "decode-long", "training", "smoke"} <= names
    long = load_suite("prefill-long")
    assert long.sweep["seqlen"] == ["8k", "32k", "128k"] and 0.95 in long.sweep["sparsity"]
    assert long.option_text("sparsity") == "0,0.5,0.75,0.9,0.95"


@pytest.mark.parametrize("text, message", [
    ('[sweep]\nseqlen = "8k"\n', "key 'sweep.seqlen' must be a list of sizes"),
    ('[sweep]\nbatch = [1, "8"]\n', "key 'sweep.batch' must be a list of batch sizes; got str '8'"),
    ('[sweep]\nsparsity = [true]\n', "key 'sweep.sparsity' must be a list of numbers"),
    ('[sweep]\nseqlens = ["8k"]\n', "unknown key 'sweep.seqlens'"),
    ('[sweep]\ncuda_graph = "yes"\n', "key 'sweep.cuda_graph' must be true or false"),
    ('description = 3\n[sweep]\nbatch = [1]\n', "key 'description' must be a string"),
    ('title = "x"\n[sweep]\nbatch = [1]\n', "unknown top-level key(s) title"),
    ('description = "no sweep"\n', "needs a non-empty [sweep] table"),
    ('[sweep\nbatch = [1]\n', "not valid TOML"),
])  # fmt: skip
def test_a_bad_suite_names_the_file_the_key_and_the_type(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(SuiteError) as err:
        load_suite(str(path))
    assert str(path) in str(err.value) and message in str(err.value)


def test_an_unknown_suite_lists_the_known_ones():
    with pytest.raises(SuiteError, match="known: .*smoke"):
        load_suite("no-such-suite")


def test_suites_command_lists_them():
    result = runner.invoke(app, ["suites"])
    assert result.exit_code == 0 and "prefill-long" in result.output and "smoke" in result.output


def test_kernel_runs_a_suite_and_typed_options_override_it(tmp_path, monkeypatch):
    suite = _write(tmp_path, 'description = "tiny"\n[sweep]\nmode = ["fwd"]\nseqlen = [256]\n'
                             'providers = ["reference"]\nmethods = ["dash-ref"]\nsparsity = [0, 0.5]\n'
                             'heads = ["2/1"]\nhead_dim = [32]\ndtype = ["fp32"]\nwarmup = 1\nrep = 3\n')  # fmt: skip
    out = tmp_path / "runs"
    result = runner.invoke(app, ["kernel", "--suite", str(suite), "--device", "cpu", "--out", str(out),
                                 "--inputs", "structured"])  # fmt: skip
    assert result.exit_code == 0, result.output
    (run,) = out.iterdir()
    df = pd.read_csv(run / "results.csv")
    assert sorted(df.provider) == ["dash-ref", "reference"] and set(df.inputs) == {"structured"}
    assert set(df.seqlen) == {256} and df.sparsity.dropna().tolist() == [0.5]
    assert "--suite" in (run / "env.json").read_text()


def test_kernel_with_a_bad_suite_is_a_usage_error(tmp_path):
    bad = _write(tmp_path, '[sweep]\nbatch = "one"\n', name="bad")
    result = runner.invoke(app, ["kernel", "--suite", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "sweep.batch" in " ".join(result.output.split())
