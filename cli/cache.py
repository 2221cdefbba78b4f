"""``longdoc cache info|clear``: what the response cache holds, and emptying it."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cache info`` and ``cache clear`` to the CLI."""
    cache = sub.add_parser("cache", help="inspect or clear the response cache")
    csub = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    info = csub.add_parser("info", help="entries, bytes, cap, path, hits and misses")
    info.add_argument("--json", action="store_true", help="print the figures as JSON")
    info.set_defaults(handler=run_info)
    clear = csub.add_parser("clear", help="remove every cached response")
    clear.set_defaults(handler=run_clear)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def run_info(args: argparse.Namespace) -> int:
    """Print the cache's path, cap, entries, bytes and counters."""
    from longdoc.agents.gateway.cache import CacheInfo, CacheStats, ResponseCache, cache_path
    from longdoc.config import load_settings

    settings = load_settings()
    path = cache_path(settings.data_dir)
    cap = int(settings.cache_max_mb * 1024 * 1024)
    if path.exists():
        cache = ResponseCache.for_settings(settings)
        try:
            info = cache.info()
        finally:
            cache.close()
    else:  # reading the figures creates nothing
        info = CacheInfo(path, cap, 0, CacheStats())
    s = info.stats
    data: dict[str, Any] = {
        "path": str(info.path),
        "enabled": settings.cache,
        "entries": s.entries,
        "bytes": s.bytes,
        "max_bytes": info.max_bytes,
        "file_bytes": info.file_bytes,
        "hits": s.hits,
        "misses": s.misses,
        "evictions": s.evictions,
    }
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    state = "on" if settings.cache else "off (LONGDOC_CACHE=false)"
    print(f"path       {info.path}")
    print(f"cache      {state}")
    print(f"entries    {s.entries}")
    print(f"size       {_mb(s.bytes)} of {_mb(info.max_bytes)} (cache_max_mb)")
    print(f"on disk    {_mb(info.file_bytes)}")
    print(f"hits       {s.hits}, misses {s.misses}, evictions {s.evictions}")
    return 0


def run_clear(args: argparse.Namespace) -> int:
    """Remove every entry and say how many, and how many bytes, went."""
    from longdoc.agents.gateway.cache import ResponseCache, cache_path
    from longdoc.config import load_settings
    from longdoc.errors import CacheError

    settings = load_settings()
    path = cache_path(settings.data_dir)
    if not path.exists():
        print(f"removed 0 entries (no cache at {path})")
        return 0
    try:
        cache = ResponseCache.for_settings(settings)
    except CacheError as e:  # unreadable: clearing it means removing the file
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            p.unlink(missing_ok=True)
        print(f"removed the unreadable cache file {path} ({e.problem})")
        return 0
    try:
        removed = cache.clear()
    finally:
        cache.close()
    print(f"removed {removed.entries} entries ({_mb(removed.bytes)}) from {path}")
    return 0
