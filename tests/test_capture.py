"""`dashbench capture`: one layer's q, k, v from a (tiny, random) transformers model, usable as
captured inputs. Skipped where transformers is not installed (CI keeps its install small)."""

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from dashbench.capture import capture_layer
from dashbench.cli import app
from dashbench.harness.inputs import make_qkv

transformers = pytest.importorskip("transformers")
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    cfg = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-llama")
    transformers.LlamaForCausalLM(cfg).save_pretrained(path)
    return path


def test_capture_saves_the_layers_qkv_and_the_sweep_can_use_them(tiny_llama, tmp_path):
    out = tmp_path / "cap.pt"
    result = runner.invoke(app, ["capture", "--model", str(tiny_llama), "--layer", "1", "--seqlen", "200",
                                 "--out", str(out), "--device", "cpu", "--dtype", "fp32"])  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = torch.load(out, weights_only=True)
    assert saved["q"].shape == (1, 4, 200, 16) and saved["k"].shape == (1, 2, 200, 16)
    assert saved["meta"]["layer"] == 1 and "random token ids" in saved["meta"]["source"]
    q, k, v = make_qkv(f"captured:{out}", 1, 4, 2, 128, 16, dtype=torch.float32, device="cpu")
    assert torch.equal(k, saved["k"][:, :, :128])


def test_capture_names_a_bad_layer(tiny_llama, tmp_path):
    result = runner.invoke(app, ["capture", "--model", str(tiny_llama), "--layer", "5", "--seqlen", "64",
                                 "--out", str(tmp_path / "x.pt"), "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 2 and "layers 0..1" in " ".join(result.output.split())


def test_capture_from_a_dashbench_checkpoint_runs_its_own_attention(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "models"))
    from model_fixtures import small_model

    from dashbench.models import save_checkpoint

    save_checkpoint(small_model("dash", vocab=4096), tmp_path / "ck", dtype=None)
    result = capture_layer(str(tmp_path / "ck"), 1, 200, device="cpu", dtype=torch.float32)
    assert result["q"].shape == (1, 4, 200, 16) and result["k"].shape == (1, 2, 200, 16)
    assert result["head_cls"].shape == (2, 16)
    assert "niah" in result["meta"]["source"] and "dash attention" in result["meta"]["source"]
