"""Scoring for the synthetic tasks: teacher-forced exact match and Wilson confidence intervals.

The shift: a causal LM's output at position ``t - 1`` is its prediction of the token at ``t``.
An answer token at position ``t`` (``batch.answer_mask[:, t]``) is therefore scored by the
argmax of the logits at ``t - 1``. Predictions may be given as logits ``[n, seqlen, V]`` or as
predicted ids ``[n, seqlen]`` (``pred[:, t]`` = argmax of the logits at ``t``, i.e. the guess
for the token at ``t + 1``), the layout ``logits.argmax(-1)`` gives. Scoring is teacher-forced:
the model sees the true earlier answer tokens, as in training.

Accuracies come with Wilson score intervals, which stay inside [0, 1] and behave at 0 % and
100 %, where a normal approximation collapses to a zero-width interval.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from dashbench.tasks.generators import TaskBatch


def _hits(logits_or_pred: torch.Tensor, batch: TaskBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position correctness of the answer tokens and the mask of those positions, both
    ``[n, seqlen - 1]`` and indexed by the *target* position minus one."""
    pred = logits_or_pred
    if pred.dim() == 3:
        pred = pred.argmax(dim=-1)
    elif pred.dim() != 2:
        raise ValueError(
            f"expected logits [n, seqlen, V] or predicted ids [n, seqlen]; got shape "
            f"{tuple(logits_or_pred.shape)}"
        )
    if tuple(pred.shape) != tuple(batch.input_ids.shape):
        raise ValueError(
            f"predictions cover {tuple(pred.shape[:2])} (n, seqlen) but the batch is "
            f"{tuple(batch.input_ids.shape)}"
        )
    ids = batch.input_ids.to(pred.device)
    mask = batch.answer_mask.to(pred.device)
    if mask[:, 0].any():
        raise ValueError("an answer token at position 0 has no preceding prediction")
    if not mask.any(dim=1).all():
        raise ValueError("every example needs at least one answer token to be scored")
    return pred[:, :-1] == ids[:, 1:], mask[:, 1:]


def exact_match(logits_or_pred: torch.Tensor, batch: TaskBatch) -> torch.Tensor:
    """``[n]`` bool: True where every answer token is predicted (teacher-forced) correctly."""
    hit, mask = _hits(logits_or_pred, batch)
    return (hit | ~mask).all(dim=1)


def question_exact_match(logits_or_pred: torch.Tensor, batch: TaskBatch) -> tuple[int, int]:
    """``(correct, total)`` over questions: each maximal run of answer tokens is one question
    (an mqar query's value, a niah question's ``value_len`` tokens), correct when all its
    tokens are. Questions of one sequence ask about distinct records, so they are scored as
    separate trials (their haystack is shared: intervals over them are somewhat optimistic)."""
    hit, mask = _hits(logits_or_pred, batch)
    starts = mask & ~torch.nn.functional.pad(mask[:, :-1], (1, 0))  # first token of each run
    run_id = starts.long().cumsum(dim=1)  # run number at every position (per row)
    wrong = (mask & ~hit).long() * run_id  # the run id of every wrong answer token, else 0
    total = int(starts.sum())
    bad = sum(int(torch.unique(row[row > 0]).numel()) for row in wrong)
    return total - bad, total


@dataclass(frozen=True)
class Accuracy:
    """A proportion with its Wilson score interval ``[lo, hi]``."""

    correct: int
    total: int
    value: float
    lo: float
    hi: float

    @classmethod
    def from_counts(cls, correct: int, total: int, z: float = 1.96) -> Accuracy:
        lo, hi = wilson_interval(correct, total, z)
        return cls(correct, total, correct / total, lo, hi)

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.lo:.3f}, {self.hi:.3f}] ({self.correct}/{self.total})"


def accuracy(correct_mask: torch.Tensor | Iterable[bool], z: float = 1.96) -> Accuracy:
    """Accuracy of a bool mask of any shape (e.g. ``exact_match``'s output) with its interval."""
    mask = torch.as_tensor(correct_mask if isinstance(correct_mask, torch.Tensor)
                           else list(correct_mask), dtype=torch.bool)  # fmt: skip
    return Accuracy.from_counts(int(mask.sum()), mask.numel(), z)


def token_accuracy(logits_or_pred: torch.Tensor, batch: TaskBatch, z: float = 1.96) -> Accuracy:
    """Fraction of answer tokens predicted correctly (teacher-forced). Its interval treats the
    tokens as independent, so it is narrower than the truth when errors cluster per example."""
    hit, mask = _hits(logits_or_pred, batch)
    return Accuracy.from_counts(int((hit & mask).sum()), int(mask.sum()), z)


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for ``correct`` successes out of ``total`` trials (z = 1.96: 95 %)."""
    if total <= 0:
        raise ValueError(f"total must be positive; got {total}")
    if not 0 <= correct <= total:
        raise ValueError(f"correct must be in [0, total={total}]; got {correct}")
    if z <= 0:
        raise ValueError(f"z must be positive; got {z}")
    p = correct / total
    z2 = z * z
    denom = 1.0 + z2 / total
    center = (p + z2 / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denom
    lo = 0.0 if correct == 0 else max(0.0, center - half)
    hi = 1.0 if correct == total else min(1.0, center + half)
    return lo, hi
