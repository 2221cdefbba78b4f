"""The detached process that runs one shared llama.cpp server (see :mod:`.local`).

Started by the first user as ``python -m longdoc.agents.gateway.local_serve``. It loads
the model with ``xllamacpp.Server`` (which serves from its own threads), writes the
registry entry once it listens, then watches: it exits as soon as its entry is withdrawn
(the last user left), replaced (another server took over), or no live lease remains (every
user was killed), and on SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from longdoc.agents.gateway.local import (
    LOCAL_ALIAS,
    ServerFiles,
    ServerShape,
    live_leases,
    read_entry,
    write_entry,
)

__all__ = ["main", "still_wanted"]


def _params(shape: ServerShape) -> Any:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(shape.gguf)
    params.model_alias = {LOCAL_ALIAS}
    params.n_parallel = shape.slots
    # llama.cpp divides n_ctx among the slots; each slot gets the full window.
    params.n_ctx = shape.slot_context * shape.slots
    n_threads = shape.threads or os.cpu_count() or 1
    params.cpuparams.n_threads = n_threads
    params.cpuparams_batch.n_threads = n_threads
    # Users of several processes may send more requests than there are slots; the extra
    # ones wait in llama.cpp's queue, each holding an HTTP thread, and /health needs one.
    params.n_threads_http = max(16, 4 * shape.slots)
    params.port = 0  # a free port chosen by the OS
    params.verbosity = -1  # the server's own logs would drown ours
    return params


def _names(files: ServerFiles, pid: int) -> bool:
    entry = read_entry(files)
    return entry is not None and entry.get("pid") == pid


def still_wanted(files: ServerFiles, pid: int, *, wait: float) -> bool:
    """Whether server ``pid`` should keep running; withdraws its entry when it should not.

    Args:
        files: the server's registry, lock and leases.
        pid: the server process.
        wait: seconds to wait for the lock; a user holding it longer is joining or leaving.

    Returns:
        False when the entry no longer names ``pid``, no live lease remains, or the
        folder is gone; True otherwise (also when the lock is busy: look again later).
    """
    # Withdrawn or replaced: leave at once, without taking the lock, which would create
    # the lock file again in a folder that may be being removed.
    if not _names(files, pid):
        return False
    try:
        with FileLock(files.lock, timeout=wait):
            if not _names(files, pid):
                return False
            if live_leases(files):
                return True
            files.registry.unlink(missing_ok=True)
            return False
    except Timeout:
        return True
    except OSError:
        return False  # the data dir was removed under us


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m longdoc.agents.gateway.local_serve")
    parser.add_argument("--folder", type=Path, required=True, help="the registry folder")
    parser.add_argument("--key", required=True, help="the shape's key (file name stem)")
    parser.add_argument("--gguf", type=Path, required=True)
    parser.add_argument("--slots", type=int, required=True)
    parser.add_argument("--slot-context", type=int, required=True)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--watch-interval", type=float, default=0.5, help="seconds")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve until no user is left; the exit status is 1 when llama.cpp cannot start."""
    import xllamacpp

    args = _parse(argv)
    shape = ServerShape(args.gguf, args.slots, args.slot_context, args.threads)
    files = ServerFiles(args.folder, args.key)
    try:
        server: Any = xllamacpp.Server(_params(shape))
    except Exception as e:  # xllamacpp raises plain RuntimeError/ValueError
        print(f"could not start llama.cpp on {shape.gguf}: {e}", file=sys.stderr)
        return 1
    address = str(server.listening_address).rstrip("/")
    if not address.startswith("http://127.0.0.1"):
        print(f"llama.cpp listens on {address}, not loopback", file=sys.stderr)
        return 1
    pid = os.getpid()
    entry = {"pid": pid, "address": address, "alias": LOCAL_ALIAS, **shape.as_entry()}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    write_entry(files, {**entry, "started": time.time()})
    try:
        while not stop.wait(args.watch_interval):
            if not still_wanted(files, pid, wait=args.watch_interval):
                break
    finally:
        _withdraw(files, pid)
        del server  # joins the server's threads
    return 0


def _withdraw(files: ServerFiles, pid: int) -> None:
    if not _names(files, pid):
        return  # already withdrawn (the usual way out) or replaced
    try:
        with FileLock(files.lock, timeout=5):
            if _names(files, pid):
                files.registry.unlink(missing_ok=True)
    except (Timeout, OSError):
        pass  # folder gone, or a user is mid-join: it will find this pid dead and start anew


if __name__ == "__main__":
    sys.exit(main())
