"""Attention providers. Importing this package registers the built-in ones."""

from dashbench.providers import dense, sparse  # noqa: F401  (registers the built-in providers)
from dashbench.providers.registry import (
    DTYPES,
    MODES,
    REGISTRY,
    Capabilities,
    Probe,
    Provider,
    all_providers,
    get_provider,
    load_plugins,
    register,
)

__all__ = [
    "DTYPES",
    "MODES",
    "REGISTRY",
    "Capabilities",
    "Probe",
    "Provider",
    "all_providers",
    "get_provider",
    "load_plugins",
    "register",
]
