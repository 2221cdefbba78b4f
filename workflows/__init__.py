"""LangGraph workflows composing agents, memory and retrieval."""

from __future__ import annotations

__all__: list[str] = []


def _hand_over(name: str) -> None:
    """Load the real top-level package ``name`` in place of this folder.

    Python started in the repository root (``python -c``, ``python -m``, a notebook) puts
    the root on ``sys.path``, where this folder, ``longdoc.workflows``, would be found as
    the top-level ``workflows`` that llama-index-core imports (llama-index-workflows) and
    break it (``No module named 'workflows.context'``). Moving the folder would move the
    user's code; instead the import is answered with the package found on the rest of
    the path. The import system returns whatever ``sys.modules[name]`` holds once this
    module has run, so the caller gets the real package.

    Raises:
        ModuleNotFoundError: no other top-level ``name`` is installed.
    """
    import importlib.util
    import os
    import sys
    from importlib.machinery import ModuleSpec

    here = os.path.realpath(__file__)
    root = os.path.dirname(os.path.dirname(here))
    path = [p for p in sys.path if os.path.realpath(p or os.getcwd()) != root]
    found: ModuleSpec | None = None
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        spec = find_spec(name, path) if find_spec else None
        if spec and spec.loader and spec.origin and os.path.realpath(spec.origin) != here:
            found = spec
            break
    if found is None or found.loader is None:
        raise ModuleNotFoundError(
            f"No module named {name!r} ({os.path.dirname(here)} is longdoc.{name}, "
            "not a top-level package)",
            name=name,
        )
    module = importlib.util.module_from_spec(found)
    sys.modules[name] = module  # before it runs: its own `from workflows.x import` needs it
    found.loader.exec_module(module)


if __name__ == "workflows":  # found as a top-level package: not us (see _hand_over)
    _hand_over(__name__)
