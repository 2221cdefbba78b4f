"""Import litellm once, configured for offline use; its process-wide settings stay the user's.

litellm fetches a model price list from the network at import time unless
``LITELLM_LOCAL_MODEL_COST_MAP`` is set, and tiktoken downloads its encodings
unless pointed at the copies litellm ships; both must be set before import.
"""

from __future__ import annotations

import functools
import os
from types import ModuleType

__all__ = ["litellm", "quiet_litellm"]

# Set by an application that owns the process (our CLI), never by the library itself.
_QUIET = False


def quiet_litellm() -> None:
    """Silence litellm's "Give Feedback" banner on failed calls, for the whole process.

    For applications that own their process, such as the ``longdoc`` command; the
    library never calls it, so a user's own litellm settings stay as they are.
    """
    global _QUIET
    _QUIET = True
    if litellm.cache_info().currsize:  # already imported: apply now
        litellm().suppress_debug_info = True  # type: ignore[attr-defined]  # a ModuleType


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
    # Settings that have a per-call form (``drop_params``...) go per call; the banner
    # switch has none, so only an application that asked (quiet_litellm) gets it.
    if _QUIET:
        _litellm.suppress_debug_info = True
    return _litellm
