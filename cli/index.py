"""``longdoc ingest``, ``longdoc index list|show|rm`` and ``longdoc search``."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the retrieval commands to the CLI."""
