"""The code map's summaries, keyed by content hash, saved one by one as they are made.

One SQLite file per map (``<data_dir>/codemaps/<run id>.sqlite3``): every summary is
its own committed row the moment it lands, so a kill at any point loses no finished
summary, and two processes mapping the same folder share it safely (SQLite locks the
file; no separate file lock is needed). SQLite rather than one JSON file: a JSON file
would be rewritten whole for every summary, quadratic in the files of a large repository.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from longdoc.errors import CodeMapError

__all__ = ["StoredSummary", "SummaryStore", "store_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS summaries (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    summary TEXT NOT NULL,
    method TEXT NOT NULL,
    calls INTEGER NOT NULL,
    parts INTEGER NOT NULL
)
"""


@dataclass(frozen=True)
class StoredSummary:
    """One saved summary.

    Attributes:
        kind: ``file``, ``folder`` or ``group`` (part of a folder too big for one call).
        path: where it was made (informative: the key decides reuse).
        summary: the text.
        method: how it was made (``one call``, ``chain``, ``groups``).
        calls: model calls it took when it was made.
        parts: chain parts, or groups, it was made from (1 for one call).
    """

    kind: str
    path: str
    summary: str
    method: str
    calls: int
    parts: int


def store_path(data_dir: Path, run_id: str) -> Path:
    """Where the map named ``run_id`` keeps its summaries."""
    return data_dir / "codemaps" / f"{run_id}.sqlite3"


class SummaryStore:
    """Summaries by key in one SQLite file; safe to call from several threads.

    Args:
        path: the SQLite file (created with its folder when missing).

    Raises:
        CodeMapError: the file exists but is not a summary store.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            # Autocommit: each put is its own transaction, on disk when put returns.
            self._db = sqlite3.connect(
                path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise CodeMapError(path, f"cannot open its summary store: {e}") from e

    def get_many(self, keys: Iterable[str]) -> dict[str, StoredSummary]:
        """The stored summaries among ``keys``."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, StoredSummary] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):  # SQLite caps a query's parameters
                batch = wanted[start : start + 500]
                marks = ",".join("?" * len(batch))
                rows = self._db.execute(
                    "SELECT key, kind, path, summary, method, calls, parts FROM summaries "
                    f"WHERE key IN ({marks})",
                    batch,
                ).fetchall()
                found.update({row[0]: StoredSummary(*row[1:]) for row in rows})
        return found

    def get(self, key: str) -> StoredSummary | None:
        """The summary stored under ``key``, or None."""
        return self.get_many([key]).get(key)

    def put(self, key: str, summary: StoredSummary) -> None:
        """Save ``summary`` under ``key`` (committed when this returns)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO summaries VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, summary.kind, summary.path, summary.summary, summary.method,
                 summary.calls, summary.parts),
            )  # fmt: skip

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> SummaryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
