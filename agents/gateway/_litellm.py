"""Import litellm once, configured for offline use.

litellm fetches a model price list from the network at import time unless
``LITELLM_LOCAL_MODEL_COST_MAP`` is set, and tiktoken downloads its encodings
unless pointed at the copies litellm ships; both must be set before import.
"""

from __future__ import annotations

import functools
import os
from types import ModuleType

__all__ = ["litellm"]


@functools.cache
def litellm() -> ModuleType:
    """The configured litellm module (imported on first call, ~2-5 s)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm as _litellm

    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        from pathlib import Path

        tokenizers = Path(_litellm.__file__).parent / "litellm_core_utils" / "tokenizers"
        if tokenizers.is_dir():
            os.environ["TIKTOKEN_CACHE_DIR"] = str(tokenizers)
    _litellm.suppress_debug_info = True  # its "Give Feedback" banner on every error
    _litellm.telemetry = False
    _litellm.drop_params = True  # providers that lack a parameter ignore it, not fail
    return _litellm
