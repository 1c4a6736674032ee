"""`dashbench train`'s loop on the CPU at toy sizes: every method trains from the same weights
on the same data, writes a loadable checkpoint and a log, and the knob controls behave."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from dashbench.models import load_checkpoint, settings_of
from dashbench.models.config import SparseAttentionConfig
from dashbench.training import (
    Stage,
    TrainConfig,
    copy_batch,
    knob_for_stage,
    steer_scaling,
    train,
    training_batch,
)

TOY = (Stage(256, 2, 3),)


@pytest.mark.parametrize("method", ["dense", "dash", "nsa", "infllmv2"])
def test_train_writes_a_loadable_checkpoint(method, tmp_path):
    cfg = TrainConfig(method=method, stages=TOY, log_every=1, steer_every=1, warmup=1,
                      settings=SparseAttentionConfig(chunk_size=32, block_size=32))  # fmt: skip
    summary = train(cfg, tmp_path / method, device="cpu")
    log = pd.read_csv(tmp_path / method / "train_log.csv")
    assert list(log["step"]) == [0, 1, 2]
    assert log["loss"].notna().all() and (log["question_accuracy"].between(0, 1)).all()
    assert (log["token_density"] <= 1).all()
    model = load_checkpoint(tmp_path / method)
    assert settings_of(model.config).method == method
    saved = json.loads((tmp_path / method / "train.json").read_text())
    assert saved["checkpoint_bytes"] == summary["checkpoint_bytes"] > 0
    assert saved["stopped_early"] is None


def test_same_data_for_every_method():
    a = training_batch(TrainConfig(method="dense"), 5, Stage(256, 2, 1), vocab=_vocab(), device="cpu")
    b = training_batch(TrainConfig(method="nsa"), 5, Stage(256, 2, 1), vocab=_vocab(), device="cpu")
    assert torch.equal(a.input_ids, b.input_ids)
    c = training_batch(TrainConfig(method="nsa"), 6, Stage(256, 2, 1), vocab=_vocab(), device="cpu")
    assert not torch.equal(a.input_ids, c.input_ids)


def _vocab():
    from dashbench.tasks import VOCAB

    return VOCAB


def test_same_initial_weights_for_every_method():
    from model_fixtures import small_config

    from dashbench.models.tiny import build_model

    dense = build_model(small_config(), SparseAttentionConfig(), seed=3).state_dict()
    dash = build_model(small_config(), SparseAttentionConfig(method="dash"), seed=3).state_dict()
    for k, t in dense.items():
        torch.testing.assert_close(dash[k], t, msg=k)


def test_topk_follows_the_target_and_the_steering_direction():
    s = SparseAttentionConfig(method="infllmv2")
    sparse, dense_ish = knob_for_stage(s, 0.9, 8192), knob_for_stage(s, 0.5, 8192)
    assert sparse.topk < dense_ish.topk
    assert knob_for_stage(s, 0.99, 512).topk == s.init_blocks + s.local_blocks + 1  # the forced floor
    assert steer_scaling(1.0, density=0.5, target_density=0.25) > 1.0  # too dense: route harder
    assert steer_scaling(1.0, density=0.1, target_density=0.25) < 1.0
    assert steer_scaling(1.0, density=1.0, target_density=0.01) == 1.5  # at most 1.5x a step


def test_time_budget_stops_early_and_says_so(tmp_path):
    cfg = TrainConfig(method="dense", stages=(Stage(128, 2, 50),), max_seconds=0.0, log_every=1)
    with pytest.raises(ValueError, match="before the first step"):
        train(cfg, tmp_path / "x", device="cpu")


def test_bad_training_config():
    with pytest.raises(ValueError, match="unknown tasks"):
        TrainConfig(tasks=("recall",)).check()
    with pytest.raises(ValueError, match="target sparsity"):
        TrainConfig(target_sparsity=1.0).check()
    with pytest.raises(ValueError, match="attention method"):
        TrainConfig(method="flash").check()
    with pytest.raises(ValueError, match="layers"):
        TrainConfig(layers=0).check()


def _induction_answer(ids, t, seg_len):
    """The token an induction step predicts at ``t``: the successor, in the first segment
    (positions 1..seg_len), of the occurrence of ``ids[t - 1]``."""
    seg = ids[1:1 + seg_len].tolist()
    return seg[seg.index(ids[t - 1].item()) + 1]


@pytest.mark.parametrize("span", [None, 4])
def test_copy_warmups_are_solvable_by_induction(span):
    from dashbench.tasks import VOCAB

    b = copy_batch(6, 101, seed=3, vocab=VOCAB, device="cpu", span=span)
    assert b.task == ("spans" if span else "copy")
    assert torch.equal(b.labels != -100, b.answer_mask) and b.answer_mask.any(dim=1).all()
    seg_len = 48 if span else 50  # spans: the segment is a whole number of spans
    for row in range(6):
        ids = b.input_ids[row]
        if len(set(ids[1:1 + seg_len].tolist())) < seg_len:
            continue  # a repeated filler token makes the lookup ambiguous; rare in 4k tokens
        for t in b.answer_mask[row].nonzero().flatten().tolist():
            assert ids[t].item() == _induction_answer(ids, t, seg_len)
    if span:  # the repeat is not the segment in order: a positional shortcut fails
        row = b.input_ids[0]
        start = b.answer_mask[0].nonzero()[0].item() - 1
        assert not torch.equal(row[start:start + seg_len], row[1:1 + seg_len])


def test_layers_sets_the_model_depth(tmp_path):
    cfg = TrainConfig(method="dense", stages=(Stage(128, 2, 1),), layers=2, tasks=("spans",))
    train(cfg, tmp_path / "two", device="cpu")
    assert load_checkpoint(tmp_path / "two").config.num_hidden_layers == 2


def test_target_zero_is_the_dense_setting():
    from dashbench.training import SCALING_RANGE

    iv2 = SparseAttentionConfig(method="infllmv2", topk=5)
    assert knob_for_stage(iv2, 0.0, 8192).topk == 8192 // 64  # every block, whatever came before
    assert knob_for_stage(SparseAttentionConfig(method="dash", scaling=40.0), 0.0, 8192).scaling == SCALING_RANGE[0]


def test_init_from_a_dense_checkpoint_converts_it(tmp_path):
    dense = TrainConfig(method="dense", stages=(Stage(128, 2, 1),), layers=1)
    train(dense, tmp_path / "dense", device="cpu")
    start = load_checkpoint(tmp_path / "dense")
    for method in ("dash", "nsa"):  # lr 0: the weights stay the dense model's
        cfg = TrainConfig(method=method, stages=(Stage(128, 2, 1),), lr=0.0, init_from=str(tmp_path / "dense"))
        train(cfg, tmp_path / method, device="cpu")
        tuned = load_checkpoint(tmp_path / method)
        assert settings_of(tuned.config).method == method
        assert torch.equal(tuned.model.embed_tokens.weight, start.model.embed_tokens.weight)
        assert json.loads((tmp_path / method / "train.json").read_text())["config"]["init_from"] == str(tmp_path / "dense")
    cfg = TrainConfig(method="infllmv2", stages=(Stage(128, 2, 1),), init_from=str(tmp_path / "nsa"))
    with pytest.raises(ValueError, match="is a nsa checkpoint"):
        train(cfg, tmp_path / "x", device="cpu")


def test_dash_sigma_is_trained_with_and_saved(tmp_path):
    dense = TrainConfig(method="dense", stages=(Stage(128, 2, 1),), layers=1)
    train(dense, tmp_path / "dense", device="cpu")
    for init in (None, str(tmp_path / "dense")):
        cfg = TrainConfig(method="dash", stages=(Stage(128, 2, 1),), layers=1, init_from=init, dash_sigma=1e6)
        train(cfg, tmp_path / f"dash-{init is None}", device="cpu")
        assert settings_of(load_checkpoint(tmp_path / f"dash-{init is None}").config).sigma == 1e6
    with pytest.raises(ValueError, match="dash_sigma"):
        TrainConfig(dash_sigma=0.0).check()
