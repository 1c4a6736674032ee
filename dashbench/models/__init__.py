"""Models: dashbench's attention inside Hugging Face Llama-architecture models.

- ``config``: the attention method and its knobs, stored in ``config.json``;
- ``parameters``: the per-layer parameters a sparse method adds, and their initialisation;
- ``attention``: the implementations registered with transformers' ``AttentionInterface``;
- ``checkpoint``: safetensors-only loading (with conversion between methods) and saving;
- ``tiny``: the small model ``dashbench train`` builds.

transformers is an optional extra (``pip install -e ".[models]"``).
"""

from dashbench.models.checkpoint import load_checkpoint, save_checkpoint
from dashbench.models.config import KNOBS, METHODS, SparseAttentionConfig, settings_of

__all__ = ["KNOBS", "METHODS", "SparseAttentionConfig", "load_checkpoint", "save_checkpoint", "settings_of"]
