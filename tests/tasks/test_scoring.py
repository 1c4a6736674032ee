"""Exact match (and its shift), token accuracy and Wilson intervals."""

from __future__ import annotations

import pytest
import torch

from dashbench.tasks import (
    VOCAB,
    Accuracy,
    accuracy,
    exact_match,
    generate,
    task_names,
    wilson_interval,
)
from dashbench.tasks.scoring import token_accuracy


def _oracle_ids(batch) -> torch.Tensor:
    """Predicted ids of a perfect model: the guess at t is the true token at t + 1."""
    pred = torch.full_like(batch.input_ids, VOCAB.pad)
    pred[:, :-1] = batch.input_ids[:, 1:]
    return pred


def _logits(pred: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(pred, VOCAB.size).float()


@pytest.mark.parametrize("task", task_names())
def test_oracle_is_all_correct_and_logits_agree(task):
    b = generate(task, 6, 256, seed=0)
    pred = _oracle_ids(b)
    assert exact_match(pred, b).all()
    assert torch.equal(exact_match(_logits(pred), b), exact_match(pred, b))
    acc = token_accuracy(pred, b)
    assert acc.correct == acc.total == int(b.answer_mask.sum()) and acc.value == 1.0


def test_unshifted_prediction_fails():
    """Predicting the token *at* t (forgetting the shift) must not score."""
    b = generate("mqar", 6, 256, seed=0)
    assert not exact_match(b.input_ids.clone(), b).any()


@pytest.mark.parametrize("task", task_names())
def test_corrupting_one_answer_token_flips_exactly_that_example(task):
    b = generate(task, 6, 256, seed=1)
    pred = _oracle_ids(b)
    answer_pos = b.answer_mask[3].nonzero().flatten()
    t = int(answer_pos[-1])
    pred[3, t - 1] = VOCAB.values.start + (int(b.input_ids[3, t]) + 1 - VOCAB.values.start) % len(
        VOCAB.values
    )
    em = exact_match(pred, b)
    assert em.tolist() == [True, True, True, False, True, True]
    assert torch.equal(exact_match(_logits(pred), b), em)
    tok = token_accuracy(pred, b)
    assert tok.total - tok.correct == 1


@pytest.mark.parametrize("task", task_names())
def test_first_answer_is_predicted_at_the_key(task):
    """Questions are `query key a1..aL`: a1 at t is scored by the prediction at t - 1, which is
    the key's position; a wrong guess there (and only there) fails the example."""
    b = generate(task, 6, 256, seed=3)
    t = int(b.answer_mask[2].nonzero()[0])
    assert int(b.input_ids[2, t - 1]) in VOCAB.keys
    assert int(b.input_ids[2, t - 2]) == VOCAB.query
    pred = _oracle_ids(b)
    pred[2, t - 2] = VOCAB.pad  # the query position predicts the key: not scored
    assert exact_match(pred, b).all()
    pred[2, t - 1] = int(b.input_ids[2, t - 1])  # repeating the key instead of the answer
    assert exact_match(pred, b).tolist() == [True, True, False, True, True, True]


def test_errors_outside_answers_do_not_count():
    b = generate("niah", 4, 256, seed=2)
    pred = _oracle_ids(b)
    outside = ~b.answer_mask[:, 1:]
    pred[:, :-1][outside] = VOCAB.pad  # wrong everywhere except before answer tokens
    assert exact_match(pred, b).all()


def test_exact_match_rejects_bad_shapes():
    b = generate("mqar", 4, 128, seed=0)
    with pytest.raises(ValueError, match="batch is"):
        exact_match(torch.zeros(4, 127, dtype=torch.long), b)
    with pytest.raises(ValueError, match="expected logits"):
        exact_match(torch.zeros(4, dtype=torch.long), b)


def test_wilson_known_values():
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-3)
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.7225, abs=1e-3)
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)


def test_wilson_contains_estimate_and_is_monotonic():
    total = 40
    bounds = [wilson_interval(c, total) for c in range(total + 1)]
    for c, (lo, hi) in enumerate(bounds):
        assert 0.0 <= lo <= c / total <= hi <= 1.0
    los, his = zip(*bounds)
    assert all(a < b for a, b in zip(los, los[1:]))
    assert all(a < b for a, b in zip(his, his[1:]))
    # more trials, narrower interval; larger z, wider
    assert wilson_interval(80, 100)[1] - wilson_interval(80, 100)[0] < bounds[32][1] - bounds[32][0]
    w = wilson_interval(8, 10, z=2.58)
    assert w[0] < 0.4902 and w[1] > 0.9433


@pytest.mark.parametrize(("correct", "total"), [(0, 0), (1, 0), (-1, 10), (11, 10)])
def test_wilson_bad_arguments(correct, total):
    with pytest.raises(ValueError):
        wilson_interval(correct, total)


def test_accuracy_from_mask():
    acc = accuracy(torch.tensor([True] * 8 + [False] * 2))
    assert isinstance(acc, Accuracy)
    assert (acc.correct, acc.total, acc.value) == (8, 10, 0.8)
    assert (acc.lo, acc.hi) == wilson_interval(8, 10)
    assert accuracy([True, False]).value == 0.5
    assert "8/10" in str(acc)
    with pytest.raises(ValueError, match="total"):
        accuracy(torch.tensor([], dtype=torch.bool))


def test_question_exact_match_counts_runs():
    from dashbench.tasks import generate
    from dashbench.tasks.scoring import question_exact_match

    for task, per_row in (("mqar", 8), ("niah", 2)):
        b = generate(task, 3, 256, seed=1)
        pred = torch.zeros_like(b.input_ids)
        pred[:, :-1] = b.input_ids[:, 1:]  # the oracle: every next token
        assert question_exact_match(pred, b) == (3 * per_row, 3 * per_row)
        t = int(b.answer_mask[1].nonzero()[-1])  # break the last token of row 1's last question
        pred[1, t - 1] = (pred[1, t - 1] + 1) % 4096
        assert question_exact_match(pred, b) == (3 * per_row - 1, 3 * per_row)
