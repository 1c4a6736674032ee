import pytest

from dashbench.providers.registry import REGISTRY


@pytest.fixture
def registry_snapshot():
    """Let a test register throw-away providers; the registry is restored afterwards."""
    saved = dict(REGISTRY)
    yield REGISTRY
    REGISTRY.clear()
    REGISTRY.update(saved)
