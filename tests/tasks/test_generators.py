"""The synthetic tasks: determinism, layout, ranges, answers re-derived from the sequences."""

from __future__ import annotations

import pytest
import torch

from dashbench.tasks import TASK_KNOBS, TASKS, VOCAB, TaskBatch, Vocab, generate, task_names

SEQLEN = 512
N = 16


def _records(row: list[int]) -> list[int]:
    """Start positions of the evidence records (the needle marker only opens records)."""
    return [p for p, tok in enumerate(row) if tok == VOCAB.needle]


def _query_block_start(row: list[int]) -> int:
    return row.index(VOCAB.query)


# ---------------------------------------------------------------- API and determinism


def test_task_registry():
    assert {"mqar", "niah", "vt"} <= set(TASKS)
    assert task_names() == list(TASKS)
    assert set(TASK_KNOBS) == set(TASKS)


@pytest.mark.parametrize("task", task_names())
def test_same_seed_same_batch_other_seed_differs(task):
    a = generate(task, N, SEQLEN, seed=3)
    b = generate(task, N, SEQLEN, seed=3)
    c = generate(task, N, SEQLEN, seed=4)
    assert torch.equal(a.input_ids, b.input_ids)
    assert torch.equal(a.labels, b.labels)
    assert torch.equal(a.answer_mask, b.answer_mask)
    assert not torch.equal(a.input_ids, c.input_ids)
    # sequences within a batch differ too
    assert not torch.equal(a.input_ids[0], a.input_ids[1])


@pytest.mark.parametrize("task", task_names())
def test_shapes_dtypes_and_labels(task):
    b = generate(task, N, SEQLEN, seed=0)
    assert isinstance(b, TaskBatch)
    assert b.task == task and b.seqlen == SEQLEN and len(b) == N
    assert b.input_ids.shape == b.labels.shape == b.answer_mask.shape == (N, SEQLEN)
    assert b.input_ids.dtype == b.labels.dtype == torch.int64
    assert b.answer_mask.dtype == torch.bool
    # HF convention: labels copy input_ids at answer tokens and are -100 everywhere else
    assert torch.equal(b.labels[b.answer_mask], b.input_ids[b.answer_mask])
    assert (b.labels[~b.answer_mask] == -100).all()
    assert not b.answer_mask[:, 0].any()
    assert b.knobs == {**TASK_KNOBS[task], "depth": (0.0, 1.0)}


@pytest.mark.parametrize("task", task_names())
def test_ids_in_ranges(task):
    b = generate(task, N, SEQLEN, seed=1)
    ids = b.input_ids
    assert (ids >= 0).all() and (ids < VOCAB.size).all()
    assert (ids[:, 0] == VOCAB.bos).all()
    assert not (ids == VOCAB.pad).any()
    answers = ids[b.answer_mask]
    assert ((answers >= VOCAB.values.start) & (answers < VOCAB.values.stop)).all()
    # questions are `query key a1..aL`: the answer run follows its key directly, as in
    # the evidence record `needle key value`; the reserved answer marker is never produced
    assert not (ids == VOCAB.answer).any()
    for row, mask in zip(ids.tolist(), b.answer_mask.tolist()):
        firsts = [t for t in range(1, SEQLEN) if mask[t] and not mask[t - 1]]
        assert firsts
        for t in firsts:
            assert row[t - 1] in VOCAB.keys
            assert row[t - 2] == VOCAB.query


def test_vocab_layout_disjoint_and_validated():
    v = Vocab()
    ranges = [v.specials, v.keys, v.values, v.filler]
    assert ranges[0].start == 0 and ranges[-1].stop == v.size == 4096
    for a, b in zip(ranges, ranges[1:]):
        assert a.stop == b.start and len(a) > 0
    assert {v.pad, v.bos, v.sep, v.query, v.needle, v.answer} <= set(v.specials)
    assert len({v.pad, v.bos, v.sep, v.query, v.needle, v.answer}) == 6
    assert v.kind_of(v.keys.start) == "key" and v.kind_of(v.size - 1) == "filler"
    with pytest.raises(ValueError, match="too small"):
        Vocab(size=100, n_keys=64, n_values=64)


def test_custom_vocab():
    v = Vocab(size=256, n_keys=32, n_values=32)
    b = generate("mqar", 4, 256, seed=0, vocab=v, n_pairs=8, n_queries=4)
    assert b.input_ids.max() < 256
    answers = b.input_ids[b.answer_mask]
    assert ((answers >= v.values.start) & (answers < v.values.stop)).all()
    with pytest.raises(ValueError, match="n_pairs"):
        generate("mqar", 4, 512, seed=0, vocab=v, n_pairs=33, n_queries=4)


def test_filler_is_uniform_over_filler_range():
    b = generate("mqar", 8, 4096, seed=0)
    row = b.input_ids[0].tolist()
    needles = set()
    for p in _records(row):
        needles.update(range(p, p + 3))
    q0 = _query_block_start(row)
    filler = [tok for p, tok in enumerate(row[1:q0], start=1) if p not in needles]
    assert all(tok in VOCAB.filler for tok in filler)
    # a uniform draw over 3056 ids: the mean sits near the middle of the range
    mid = (VOCAB.filler.start + VOCAB.filler.stop - 1) / 2
    assert abs(sum(filler) / len(filler) - mid) < 60


def test_to_device_copies():
    b = generate("niah", 2, 128, seed=0)
    c = b.to("cpu")
    assert c is not b and c.task == b.task and c.seqlen == b.seqlen
    assert torch.equal(c.input_ids, b.input_ids) and torch.equal(c.labels, b.labels)
    d = generate("niah", 2, 128, seed=0, device=torch.device("cpu"))
    assert torch.equal(d.input_ids, b.input_ids)


# ---------------------------------------------------------------- answers follow the evidence


def test_mqar_answers_match_pairs_and_layout():
    b = generate("mqar", N, SEQLEN, seed=5, n_pairs=12, n_queries=5)
    for row, mask in zip(b.input_ids.tolist(), b.answer_mask.tolist()):
        starts = _records(row)
        assert len(starts) == 12
        assert all(q - p >= 3 for p, q in zip(starts, starts[1:]))  # no overlap
        pairs = {row[p + 1]: (row[p + 2], p) for p in starts}
        assert len(pairs) == 12  # keys distinct
        assert all(k in VOCAB.keys and v in VOCAB.values for k, (v, _) in pairs.items())
        q0 = _query_block_start(row)
        assert q0 == SEQLEN - 3 * 5 and starts[-1] + 3 <= q0
        asked = []
        for t in range(q0, SEQLEN, 3):  # `query key value`
            assert row[t] == VOCAB.query and row[t + 1] in VOCAB.keys
            key, value = row[t + 1], row[t + 2]
            assert mask[t + 2] and not any(mask[t : t + 2])
            assert pairs[key][0] == value
            asked.append(key)
        assert len(set(asked)) == 5
        assert sum(mask) == 5


def test_niah_answers_match_needles_and_layout():
    b = generate("niah", N, SEQLEN, seed=6, n_needles=5, value_len=3, n_questions=3)
    L = 2 + 3
    for row, mask in zip(b.input_ids.tolist(), b.answer_mask.tolist()):
        starts = _records(row)
        assert len(starts) == 5
        assert all(q - p >= L for p, q in zip(starts, starts[1:]))
        needles = {row[p + 1]: row[p + 2 : p + L] for p in starts}
        assert len(needles) == 5
        q0 = _query_block_start(row)
        assert q0 == SEQLEN - 3 * L and starts[-1] + L <= q0
        for t in range(q0, SEQLEN, L):  # `query key v1 v2 v3`, the same shape as a record
            assert row[t] == VOCAB.query and row[t + 1] in VOCAB.keys
            assert row[t + 2 : t + L] == needles[row[t + 1]]
            assert mask[t + 2 : t + L] == [True] * 3 and not any(mask[t : t + 2])
        assert sum(mask) == 9


def test_vt_answers_follow_the_chains():
    b = generate("vt", N, SEQLEN, seed=7, n_chains=3, n_hops=3, n_queries=2)
    for row, mask in zip(b.input_ids.tolist(), b.answer_mask.tolist()):
        starts = _records(row)
        assert len(starts) == 9
        assert all(q - p >= 3 for p, q in zip(starts, starts[1:]))
        env: dict[int, int] = {}
        for p in starts:  # replay the assignments in order; a copy reads an earlier variable
            dst, src = row[p + 1], row[p + 2]
            assert dst in VOCAB.keys and dst not in env
            env[dst] = src if src in VOCAB.values else env[src]
        q0 = _query_block_start(row)
        assert q0 == SEQLEN - 3 * 2
        for t in range(q0, SEQLEN, 3):  # `query var value`
            assert row[t] == VOCAB.query
            assert env[row[t + 1]] == row[t + 2]
            assert mask[t + 2] and not any(mask[t : t + 2])
            # the asked variable ends a chain: nothing copies it
            assert row[t + 1] not in {row[p + 2] for p in starts}


@pytest.mark.parametrize("task", task_names())
def test_evidence_is_far_from_the_question(task):
    seqlen = 2048
    b = generate(task, 32, seqlen, seed=8)
    distances = []
    for row, mask in zip(b.input_ids.tolist(), b.answer_mask.tolist()):
        where = {row[p + 1]: p for p in _records(row)}  # key -> its record
        for t in range(1, seqlen):
            if mask[t] and not mask[t - 1]:
                key = row[t - 1]
                if task == "vt":  # follow the chain back to the record holding the value
                    src = {row[p + 1]: row[p + 2] for p in where.values()}
                    while src[key] not in VOCAB.values:
                        key = src[key]
                distances.append(t - where[key])
    assert min(distances) > 0
    assert sum(distances) / len(distances) > seqlen / 4


def test_depth_window_confines_records():
    seqlen = 1024
    b = generate("niah", 8, seqlen, seed=9, depth=(0.0, 0.25))
    for row in b.input_ids.tolist():
        q0 = _query_block_start(row)
        for p in _records(row):
            assert p + 6 <= 1 + (q0 - 1) // 4
            assert q0 - p > seqlen / 2
    late = generate("mqar", 8, seqlen, seed=9, depth=(0.9, 1.0))
    haystack = seqlen - 1 - 3 * 8  # bos, then the haystack, then 8 three-token questions
    for row in late.input_ids.tolist():
        assert all(p >= 1 + int(0.9 * haystack) for p in _records(row))


# bos + records + query block, with the default knobs:
#   mqar 16 `needle key value` + 8 `query key value`; niah 4 `needle key v1..v4` + 2 `query key
#   v1..v4`; vt 4 * 2 `needle var src` + 2 `query var value`
MIN_SEQLEN = {"mqar": 1 + 3 * 16 + 3 * 8, "niah": 1 + 6 * 4 + 6 * 2, "vt": 1 + 3 * 8 + 3 * 2}


@pytest.mark.parametrize("task", task_names())
def test_minimum_seqlen_is_exact(task):
    with pytest.raises(ValueError, match=r"needs at least (\d+) tokens") as info:
        generate(task, 2, 16, seed=0)
    need = int(info.value.args[0].split("needs at least ")[1].split()[0])
    assert need == MIN_SEQLEN[task]
    b = generate(task, 2, need, seed=0)  # no filler at all, still exact length
    assert b.input_ids.shape == (2, need)
    with pytest.raises(ValueError, match="too short"):
        generate(task, 2, need - 1, seed=0)


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("nope", 2, 512), {}, "unknown task 'nope'; valid tasks: mqar, niah"),
        (("mqar", 0, 512), {}, "n must be at least 1"),
        (("mqar", 2, 0), {}, "seqlen must be at least 1"),
        (("mqar", 2, 512), {"n_needles": 3}, "unknown knob.*n_needles.*valid knobs: n_pairs"),
        (("mqar", 2, 512), {"n_pairs": 0}, r"n_pairs must be in \[1, 512\]"),
        (("mqar", 2, 512), {"n_pairs": 4, "n_queries": 5}, r"n_queries must be in \[1, 4\]"),
        (("mqar", 2, 512), {"n_pairs": 2.5}, "n_pairs must be an int"),
        (("niah", 2, 512), {"value_len": 0}, "value_len must be at least 1"),
        (("niah", 2, 512), {"n_questions": 9}, r"n_questions must be in \[1, 4\]"),
        (("vt", 2, 512), {"n_hops": 0}, "n_hops"),
        (("niah", 2, 512), {"depth": (0.5, 0.5)}, "depth must satisfy"),
        (("niah", 2, 512), {"depth": 0.5}, "depth must be a pair"),
    ],
)
def test_bad_arguments_raise(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate(*args, seed=0, **kwargs)


def test_seed_must_be_an_int():
    with pytest.raises(ValueError, match="seed must be an int"):
        generate("mqar", 2, 512, seed="x")
