"""Helpers shared by the benchmark scripts (not a test suite)."""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

__all__ = [
    "SHARED_DATA",
    "add_model_args",
    "model_overrides",
    "peak_rss_mib",
    "require_data",
    "temp_settings",
]


def require_data(*relative: str, root: Path | None = None) -> Path:
    """The shared data folder (or ``root``), or a clear message and exit 0 when it is missing."""
    base = root or SHARED_DATA
    for rel in relative:
        if not (base / rel).exists():
            print(f"benchmark skipped: {base / rel} not found (shared data missing)")
            sys.exit(0)
    return base


_DATA_DIR: list[Path] = []


def temp_settings(tag: str = ""):  # -> longdoc.config.Settings
    """Settings whose data dir is one temporary folder per run (ONNX export built once)."""
    from longdoc.config import load_settings

    if not _DATA_DIR:
        _DATA_DIR.append(Path(tempfile.mkdtemp(prefix="longdoc-bench-")))
    return load_settings(data_dir=_DATA_DIR[0], chroma_host=None)


def peak_rss_mib() -> float:
    """Peak resident memory of this process in MiB.

    Linux's VmHWM when there is one: ``ru_maxrss`` survives ``exec``, so a child process
    started by a large parent would report the parent's peak as its own.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def add_model_args(parser: argparse.ArgumentParser, *, model: str | None = None) -> None:
    """Add ``--model``, ``--api-base`` and ``--context-window``: benchmarks run on any model."""
    parser.add_argument("--model", default=model, help="litellm model string (default: settings)")
    parser.add_argument("--api-base", default=None, help="the server's OpenAI-compatible base URL")
    parser.add_argument("--context-window", type=int, default=None)


def model_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The settings the user named with :func:`add_model_args` (the rest stay the settings')."""
    pairs = (
        ("model", args.model),
        ("api_base", args.api_base),
        ("context_window", args.context_window),
    )
    return {k: v for k, v in pairs if v is not None}
