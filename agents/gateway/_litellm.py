"""Import litellm once, configured for offline use; its settings stay the user's but one.

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
    # The one process-wide setting we touch: it has no per-call form, and without it
    # every failed call prints litellm's "Give Feedback" banner on stdout. Everything
    # else (``drop_params``...) goes per call, so the user's own litellm calls keep
    # their settings.
    _litellm.suppress_debug_info = True
    return _litellm
