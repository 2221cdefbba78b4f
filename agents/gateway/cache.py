"""A persistent response cache in SQLite, so re-runs and resumes repeat no finished call.

Hand-written rather than litellm's cache: that one is switched on process-wide
(``litellm.cache``), keeps nothing on local disk (memory, Redis, S3...) and keys on the
model name of the call (one alias for any GGUF served locally), not on the weights.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from longdoc.agents.gateway.types import Completion

__all__ = ["ResponseCache", "cache_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    completion TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def cache_key(
    model_id: str, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]
) -> str:
    """A stable key for one request: model identity, messages and sampling parameters.

    Args:
        model_id: identifies the weights that answer (for the local model the
            GGUF file, not the port of this run's server).
        messages: the chat messages, in order.
        params: every parameter that changes the answer (max_tokens, stop, ...).

    Returns:
        A hex SHA-256 digest.
    """
    payload = json.dumps(
        {"model": model_id, "messages": messages, "params": params},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class ResponseCache:
    """Completions keyed by :func:`cache_key`, in one SQLite file.

    Safe to share between threads (one connection behind a lock) and between
    processes (SQLite WAL mode; writes are single ``INSERT OR REPLACE``).
    """

    def __init__(self, path: Path) -> None:
        """Open (and create when missing) the cache at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL survives a killed process (our failure mode) and skips an
        # fsync per write, which would otherwise dominate a cached call's cost.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def get(self, key: str) -> Completion | None:
        """The cached completion for ``key``, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT completion FROM responses WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return Completion.model_validate_json(row[0])

    def put(self, key: str, completion: Completion) -> None:
        """Store ``completion`` under ``key`` (replacing any older entry)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, model, completion, created) "
                "VALUES (?, ?, ?, ?)",
                (key, completion.model, completion.model_dump_json(), time.time()),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._db.execute("DELETE FROM responses")
            self._db.commit()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()
