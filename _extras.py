"""Optional back-ends imported on first use, with one clear error when their extra is missing."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from longdoc.errors import MissingExtraError

__all__ = ["import_extra", "require_extra"]


def import_extra(module: str, *, extra: str, package: str, feature: str) -> ModuleType:
    """Import ``module`` of an optional extra.

    Args:
        module: the module to import (``xllamacpp``, ``onnxruntime.quantization``).
        extra: the longdoc extra that installs it (``local``, ``onnx``).
        package: its distribution name, for the message.
        feature: what needs it, for the message.

    Returns:
        The imported module.

    Raises:
        MissingExtraError: ``module`` (or its top-level package) is not installed. A
            module missing *inside* an installed package is a broken install, not a
            missing extra, and propagates as itself.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is None or not (module == e.name or module.startswith(e.name + ".")):
            raise
        raise MissingExtraError(extra=extra, package=package, feature=feature) from e


def require_extra(module: str, *, extra: str, package: str, feature: str) -> None:
    """Check that ``module`` of an optional extra is installed, without importing it.

    For a back-end another process imports (the embedded server runs apart).

    Raises:
        MissingExtraError: ``module`` is not installed.
    """
    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(extra=extra, package=package, feature=feature)
