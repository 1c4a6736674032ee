"""Seeded synthetic long-context retrieval tasks, generated as token ids in one vectorised pass.

Every sequence has the same three parts (ids from ``dashbench.tasks.vocab``)::

    bos | haystack: filler with evidence records at random depths | query block (at the end)

* Filler is i.i.d. uniform over ``vocab.filler``: it carries no information, so a model that
  answers must have found the evidence record.
* Evidence records are placed without overlap at uniformly random offsets inside the haystack
  window ``depth = (lo, hi)`` (fractions of the haystack; default the whole of it): the record
  starts are a sorted uniform draw over the free filler slots, so with the default window the
  evidence sits on average about half a sequence back from the questions.
* The query block fills the last tokens, so every question is as far as possible from its
  evidence (the point of a long-range retrieval task). Only answer tokens get labels.
* Questions use the classic associative-recall layout (Zoology MQAR, induction heads): a
  question is ``query key`` followed directly by the answer token(s), exactly as the evidence
  record is ``needle key value``. The answer follows its key in the question just as it does in
  the record, which is the induction pattern ("after this key came that value") that small
  models learn fast; the model predicts the first answer token at the key position. The
  ``query`` marker still tells a question from evidence. (An earlier layout put an ``answer``
  marker between key and answer; a small model trained on it never learned to answer.)

Tasks (knobs and their defaults in ``TASK_KNOBS``):

``mqar``  multi-query associative recall: ``n_pairs`` records ``needle key value`` (distinct keys,
          one-token values), then ``n_queries`` questions ``query key value`` about distinct
          pairs. The value is the answer.
``niah``  multi-key needle in a haystack: ``n_needles`` records ``needle key v1..vL``
          (``L = value_len``), then ``n_questions`` questions ``query key v1..vL`` about
          distinct needles; all ``L`` value tokens are answer tokens.
``vt``    variable tracking (multi-hop): ``n_chains`` chains of ``n_hops`` assignments
          ``needle var src``: the first sets a variable to a value token, each later one copies
          the previous variable (``src`` is that variable's key id). A chain's records appear in
          order, interleaved with other chains'. Questions ``query var value`` ask the value
          of a chain's last variable (the value is the answer).

Generation draws everything from a CPU ``torch.Generator`` seeded with ``seed`` and moves the
result to ``device`` at the end, so a seed yields the same batch on every device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from dashbench.tasks.vocab import VOCAB, Vocab

IGNORE_INDEX = -100  # Hugging Face's "no loss here" label

TASKS: dict[str, str] = {
    "mqar": "multi-query associative recall: 1-token key->value pairs far back, queries at the end",
    "niah": "multi-key needle in a haystack: multi-token values far back, questions at the end",
    "vt": "variable tracking: multi-hop chains of variable assignments, asked at the end",
}

# Default knobs per task; generate(**knobs) accepts exactly these names.
TASK_KNOBS: dict[str, dict[str, object]] = {
    "mqar": {"n_pairs": 16, "n_queries": 8, "depth": (0.0, 1.0)},
    "niah": {"n_needles": 4, "value_len": 4, "n_questions": 2, "depth": (0.0, 1.0)},
    "vt": {"n_chains": 4, "n_hops": 2, "n_queries": 2, "depth": (0.0, 1.0)},
}


def task_names() -> list[str]:
    """The task names ``generate`` accepts."""
    return list(TASKS)


@dataclass
class TaskBatch:
    """A batch of one task: ids, HF-style labels and the answer-token mask, all ``[n, seqlen]``.

    ``labels`` follows ``LlamaForCausalLM(labels=...)``: equal to ``input_ids`` at answer
    positions and ``-100`` elsewhere; the model shifts them itself (the logits at ``t - 1``
    are scored against ``labels[t]``). ``knobs`` records the resolved task knobs.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    answer_mask: torch.Tensor
    task: str
    seqlen: int
    knobs: dict[str, object] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.input_ids.shape[0]

    def __len__(self) -> int:
        return self.n

    def to(self, device: torch.device | str) -> TaskBatch:
        """A copy with every tensor on ``device``."""
        return TaskBatch(
            input_ids=self.input_ids.to(device),
            labels=self.labels.to(device),
            answer_mask=self.answer_mask.to(device),
            task=self.task,
            seqlen=self.seqlen,
            knobs=dict(self.knobs),
        )


def generate(
    task: str,
    n: int,
    seqlen: int,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    vocab: Vocab = VOCAB,
    **knobs: object,
) -> TaskBatch:
    """``n`` sequences of exactly ``seqlen`` tokens of ``task``, deterministic in ``seed``.

    Raises ``ValueError`` for an unknown task or knob, a knob out of range, ``n < 1``, or a
    ``seqlen`` too short to hold the task's records and query block.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(task_names())}")
    _check_int("n", n, 1)
    _check_int("seqlen", seqlen, 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int; got {seed!r}")
    unknown = sorted(set(knobs) - set(TASK_KNOBS[task]))
    if unknown:
        raise ValueError(
            f"unknown knob(s) {', '.join(unknown)} for task {task!r}; "
            f"valid knobs: {', '.join(TASK_KNOBS[task])}"
        )
    resolved = {**TASK_KNOBS[task], **knobs}
    resolved["depth"] = _check_depth(resolved["depth"])

    g = torch.Generator().manual_seed(seed)
    input_ids, answer_mask = _BUILDERS[task](g, n, seqlen, vocab, **resolved)
    assert input_ids.shape == (n, seqlen), (input_ids.shape, n, seqlen)
    labels = torch.where(answer_mask, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    batch = TaskBatch(input_ids, labels, answer_mask, task, seqlen, resolved)
    return batch.to(device)


# --------------------------------------------------------------------------- validation


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int; got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"at least {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name} must be {bound}; got {value}")
    return value


def _check_depth(depth: object) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in depth)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"depth must be a pair (lo, hi) of fractions; got {depth!r}") from None
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"depth must satisfy 0 <= lo < hi <= 1; got {depth!r}")
    return lo, hi


def _window(seqlen: int, q_len: int, depth: tuple[float, float]) -> tuple[int, int]:
    """The haystack window ``[start, stop)`` (absolute positions) that holds the records."""
    h = seqlen - 1 - q_len
    lo, hi = depth
    return 1 + math.floor(lo * h), 1 + math.floor(hi * h)


def _fits(seqlen: int, q_len: int, rec_len: int, depth: tuple[float, float]) -> bool:
    if seqlen - 1 - q_len < rec_len:
        return False
    start, stop = _window(seqlen, q_len, depth)
    return stop - start >= rec_len


def _check_seqlen(
    task: str, seqlen: int, q_len: int, rec_len: int, depth: tuple[float, float], knobs: str
) -> None:
    if _fits(seqlen, q_len, rec_len, depth):
        return
    need = 1 + q_len + math.ceil(rec_len / (depth[1] - depth[0]))
    while not _fits(need, q_len, rec_len, depth):
        need += 1
    while need > 1 and _fits(need - 1, q_len, rec_len, depth):
        need -= 1
    raise ValueError(
        f"seqlen={seqlen} is too short for task {task!r} with {knobs}: it needs at least "
        f"{need} tokens (bos + {rec_len} record tokens in the depth window {depth} "
        f"+ {q_len} query-block tokens)"
    )


# --------------------------------------------------------------------------- building blocks


def _distinct(g: torch.Generator, n: int, k: int, ids: range) -> torch.Tensor:
    """``[n, k]`` ids from ``ids``, distinct within each row."""
    return torch.rand(n, len(ids), generator=g).argsort(dim=1)[:, :k] + ids.start


def _choose(g: torch.Generator, n: int, k: int, among: int) -> torch.Tensor:
    """``[n, k]`` distinct indices into ``range(among)`` per row."""
    return torch.rand(n, among, generator=g).argsort(dim=1)[:, :k]


def _assemble(
    g: torch.Generator,
    seqlen: int,
    vocab: Vocab,
    records: torch.Tensor,
    block: torch.Tensor,
    depth: tuple[float, float],
) -> torch.Tensor:
    """``bos``, filler with ``records`` ``[n, M, L]`` at random non-overlapping offsets (in
    record order) inside the depth window, then ``block`` ``[n, Q]`` as the last tokens."""
    n, m, rec_len = records.shape
    q_len = block.shape[1]
    ids = torch.randint(vocab.filler.start, vocab.filler.stop, (n, seqlen), generator=g)
    ids[:, 0] = vocab.bos
    start, stop = _window(seqlen, q_len, depth)
    free = stop - start - m * rec_len  # filler tokens inside the window
    offsets = torch.randint(0, free + 1, (n, m), generator=g).sort(dim=1).values
    starts = start + offsets + torch.arange(m) * rec_len  # [n, m], gaps >= rec_len
    pos = (starts[..., None] + torch.arange(rec_len)).reshape(n, m * rec_len)
    ids.scatter_(1, pos, records.reshape(n, m * rec_len))
    ids[:, seqlen - q_len :] = block
    return ids


def _finish(n: int, seqlen: int, q_pattern: list[bool], n_q: int) -> torch.Tensor:
    """``[n, seqlen]`` answer mask for a query block of ``n_q`` questions shaped ``q_pattern``
    (True at answer tokens) at the end of each sequence."""
    block = torch.tensor(q_pattern, dtype=torch.bool).repeat(n_q)
    mask = torch.zeros(n, seqlen, dtype=torch.bool)
    mask[:, seqlen - block.numel() :] = block
    return mask


def _full(n: int, k: int, token: int) -> torch.Tensor:
    return torch.full((n, k), token, dtype=torch.long)


# --------------------------------------------------------------------------- tasks


def _mqar(
    g: torch.Generator, n: int, seqlen: int, vocab: Vocab, *,
    n_pairs: int, n_queries: int, depth: tuple[float, float],
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    _check_int("n_pairs", n_pairs, 1, len(vocab.keys))
    _check_int("n_queries", n_queries, 1, n_pairs)
    q_len, rec_len = 3 * n_queries, 3 * n_pairs
    knobs = f"n_pairs={n_pairs}, n_queries={n_queries}"
    _check_seqlen("mqar", seqlen, q_len, rec_len, depth, knobs)

    keys = _distinct(g, n, n_pairs, vocab.keys)
    vals = torch.randint(vocab.values.start, vocab.values.stop, (n, n_pairs), generator=g)
    records = torch.stack([_full(n, n_pairs, vocab.needle), keys, vals], dim=-1)
    asked = _choose(g, n, n_queries, n_pairs)
    block = torch.stack(
        [_full(n, n_queries, vocab.query), keys.gather(1, asked), vals.gather(1, asked)],
        dim=-1,
    ).reshape(n, q_len)  # query key value
    ids = _assemble(g, seqlen, vocab, records, block, depth)
    return ids, _finish(n, seqlen, [False, False, True], n_queries)


def _niah(
    g: torch.Generator, n: int, seqlen: int, vocab: Vocab, *,
    n_needles: int, value_len: int, n_questions: int, depth: tuple[float, float],
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    _check_int("n_needles", n_needles, 1, len(vocab.keys))
    _check_int("value_len", value_len, 1)
    _check_int("n_questions", n_questions, 1, n_needles)
    q_len, rec_len = (2 + value_len) * n_questions, (2 + value_len) * n_needles
    knobs = f"n_needles={n_needles}, value_len={value_len}, n_questions={n_questions}"
    _check_seqlen("niah", seqlen, q_len, rec_len, depth, knobs)

    keys = _distinct(g, n, n_needles, vocab.keys)
    vals = torch.randint(
        vocab.values.start, vocab.values.stop, (n, n_needles, value_len), generator=g
    )
    head = torch.stack([_full(n, n_needles, vocab.needle), keys], dim=-1)
    records = torch.cat([head, vals], dim=-1)  # [n, n_needles, 2 + value_len]
    asked = _choose(g, n, n_questions, n_needles)
    q_head = torch.stack([_full(n, n_questions, vocab.query), keys.gather(1, asked)], dim=-1)
    q_vals = vals.gather(1, asked[..., None].expand(n, n_questions, value_len))
    block = torch.cat([q_head, q_vals], dim=-1).reshape(n, q_len)  # query key v1..vL
    ids = _assemble(g, seqlen, vocab, records, block, depth)
    return ids, _finish(n, seqlen, [False] * 2 + [True] * value_len, n_questions)


def _vt(
    g: torch.Generator, n: int, seqlen: int, vocab: Vocab, *,
    n_chains: int, n_hops: int, n_queries: int, depth: tuple[float, float],
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    _check_int("n_chains", n_chains, 1, len(vocab.keys))
    _check_int("n_hops", n_hops, 1, len(vocab.keys) // n_chains)
    _check_int("n_queries", n_queries, 1, n_chains)
    m = n_chains * n_hops
    q_len, rec_len = 3 * n_queries, 3 * m
    knobs = f"n_chains={n_chains}, n_hops={n_hops}, n_queries={n_queries}"
    _check_seqlen("vt", seqlen, q_len, rec_len, depth, knobs)

    var = _distinct(g, n, m, vocab.keys).reshape(n, n_chains, n_hops)
    vals = torch.randint(vocab.values.start, vocab.values.stop, (n, n_chains), generator=g)
    src = torch.cat([vals[..., None], var[..., :-1]], dim=-1)  # hop 0 reads the value
    records = torch.stack([torch.full_like(var, vocab.needle), var, src], dim=-1)
    # Interleave chains at random while keeping each chain's hops in order: shuffle the
    # multiset of chain labels, then a slot's hop is how often its chain occurred before it.
    labels = torch.arange(n_chains).repeat_interleave(n_hops)
    chain = labels[torch.rand(n, m, generator=g).argsort(dim=1)]  # [n, m]
    hop = torch.nn.functional.one_hot(chain, n_chains).cumsum(dim=1).gather(2, chain[..., None])
    hop = hop[..., 0] - 1
    records = records[torch.arange(n)[:, None], chain, hop]  # [n, m, 3] in slot order
    asked = _choose(g, n, n_queries, n_chains)
    last = var[..., -1].gather(1, asked)  # the asked chains' last variables
    block = torch.stack(
        [_full(n, n_queries, vocab.query), last, vals.gather(1, asked)], dim=-1
    ).reshape(n, q_len)  # query var value
    ids = _assemble(g, seqlen, vocab, records, block, depth)
    return ids, _finish(n, seqlen, [False, False, True], n_queries)


_Builder = Callable[..., "tuple[torch.Tensor, torch.Tensor]"]
_BUILDERS: dict[str, _Builder] = {"mqar": _mqar, "niah": _niah, "vt": _vt}
assert set(_BUILDERS) == set(TASKS) == set(TASK_KNOBS)
