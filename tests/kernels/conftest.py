import pytest
import torch


@pytest.fixture(autouse=True)
def poison_empty(monkeypatch):
    """Fill floating torch.empty / empty_like results with NaN, so an output element a kernel
    forgets to write fails the comparison instead of passing on leftover memory (fla's habit)."""
    empty, empty_like = torch.empty, torch.empty_like

    def poisoned(t):
        # not while torch.compile traces (FlexAttention): an in-place fill there broke Inductor
        # ("a leaf Variable that requires grad is being used in an in-place operation")
        if t.is_floating_point() and not torch.compiler.is_compiling():
            t.fill_(float("nan"))
        return t

    monkeypatch.setattr(torch, "empty", lambda *a, **k: poisoned(empty(*a, **k)))
    monkeypatch.setattr(torch, "empty_like", lambda *a, **k: poisoned(empty_like(*a, **k)))
