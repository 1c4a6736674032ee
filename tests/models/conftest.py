"""Model-integration tests need transformers (the `.[models]` extra): skipped without it."""

import pytest

pytest.importorskip("transformers")


@pytest.fixture
def tokens():
    from model_fixtures import sample_tokens

    return sample_tokens()
