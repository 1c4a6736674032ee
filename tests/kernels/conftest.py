import pytest
import torch


@pytest.fixture(autouse=True)
def poison_empty(monkeypatch):
    """Fill floating torch.empty / empty_like results with NaN, so an output element a kernel
    forgets to write fails the comparison instead of passing on leftover memory (fla's habit)."""
    empty, empty_like = torch.empty, torch.empty_like

    def poisoned(t):
        # Not tensors created with requires_grad (AOTAutograd makes such leaves while compiling
        # FlexAttention, and an in-place fill on them fails: "a leaf Variable that requires grad
        # is being used in an in-place operation"), nor while torch.compile traces.
        if t.is_floating_point() and not t.requires_grad and not torch.compiler.is_compiling():
            t.fill_(float("nan"))
        return t

    monkeypatch.setattr(torch, "empty", lambda *a, **k: poisoned(empty(*a, **k)))
    monkeypatch.setattr(torch, "empty_like", lambda *a, **k: poisoned(empty_like(*a, **k)))
