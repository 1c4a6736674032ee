"""Offline, deterministic synthetic long-context tasks for training and scoring tiny models.

The tasks (``mqar``, ``niah``, ``vt``) are token-id sequences (no tokenizer, no downloads) whose
answers depend on evidence far back in the context, so that task accuracy measures whether a
sparse attention method still retrieves across long distances. They are induction /
associative-recall style, learnable by 2-4 layer models. See ``generators`` for the sequence
layouts, ``vocab`` for the id ranges and ``scoring`` for exact match and confidence intervals.
"""

from __future__ import annotations

from dashbench.tasks.generators import TASK_KNOBS, TASKS, TaskBatch, generate, task_names
from dashbench.tasks.scoring import (
    Accuracy,
    accuracy,
    exact_match,
    token_accuracy,
    wilson_interval,
)
from dashbench.tasks.vocab import VOCAB, Vocab

__all__ = [
    "VOCAB",
    "Vocab",
    "TASKS",
    "TASK_KNOBS",
    "TaskBatch",
    "generate",
    "task_names",
    "Accuracy",
    "accuracy",
    "exact_match",
    "token_accuracy",
    "wilson_interval",
]
