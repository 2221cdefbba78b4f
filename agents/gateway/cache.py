"""A persistent response cache in SQLite, so re-runs and resumes repeat no finished call.

Hand-written rather than litellm's cache: that one is switched on process-wide
(``litellm.cache``), keeps nothing on local disk (memory, Redis, S3...) and keys on the
model name of the call (one alias for any GGUF served locally), not on the weights.

The cache has a size cap (``cache_max_mb``) and evicts the least recently used entries
beyond it; a read refreshes an entry's recency. Several processes may read and write it
at once: SQLite's WAL mode and a busy timeout serialise the writers, and every change
(an entry, its recency, the byte total, the hit and miss counts) is one ``BEGIN
IMMEDIATE`` transaction, so a killed process leaves either all of it or none.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longdoc.agents.gateway.types import Completion
from longdoc.errors import CacheError

if TYPE_CHECKING:
    from longdoc.config import Settings

__all__ = ["CacheInfo", "CacheStats", "ResponseCache", "cache_key", "cache_path"]

_MB = 1024 * 1024

# ``tick`` is a logical clock (one counter in ``meta``), not a timestamp: two calls in
# the same microsecond, or on two processes, still get a strict recency order.
# ``meta.bytes`` is the running total of ``size``, kept in the same transactions, so
# a write costs O(1) rather than a SUM over every entry.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS responses (
        key TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        completion TEXT NOT NULL,
        created REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS meta (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        tick INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        hits INTEGER NOT NULL DEFAULT 0,
        misses INTEGER NOT NULL DEFAULT 0,
        evictions INTEGER NOT NULL DEFAULT 0
    )""",
    "INSERT OR IGNORE INTO meta (id) VALUES (0)",
)
# Added to a cache written before the cap existed (same keys, same completions).
_COLUMNS = {
    "size": "INTEGER NOT NULL DEFAULT 0",
    "tick": "INTEGER NOT NULL DEFAULT 0",
}
_SIZE = "length(CAST(key AS BLOB)) + length(CAST(completion AS BLOB))"


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


def cache_path(data_dir: Path) -> Path:
    """Where the response cache of a data dir lives."""
    return data_dir / "cache" / "responses.sqlite3"


@dataclass(frozen=True)
class CacheStats:
    """What the cache holds and how it has been used since it was created or cleared.

    Attributes:
        entries: cached completions.
        bytes: their size (key and completion text, UTF-8), what the cap limits.
        hits: reads that found an entry.
        misses: reads that found none.
        evictions: entries removed to stay under the cap.
    """

    entries: int = 0
    bytes: int = 0
    hits: int = 0
    misses: int = 0
    evictions: int = 0


@dataclass(frozen=True)
class CacheInfo:
    """A cache's statistics with its location and cap.

    Attributes:
        path: the SQLite file.
        max_bytes: the size cap.
        file_bytes: bytes on disk (the database and its WAL), pages included.
        stats: entries, bytes and counters.
    """

    path: Path
    max_bytes: int
    file_bytes: int
    stats: CacheStats


class ResponseCache:
    """Completions keyed by :func:`cache_key`, in one SQLite file, capped in size (LRU).

    Safe to share between threads (one connection behind a lock) and between
    processes (WAL mode, a busy timeout, one ``BEGIN IMMEDIATE`` transaction per change).
    """

    def __init__(self, path: Path, *, max_bytes: int | None = None) -> None:
        """Open (and create when missing) the cache at ``path``.

        Args:
            path: the SQLite file.
            max_bytes: the size cap; default the ``cache_max_mb`` setting.

        Raises:
            CacheError: the file exists but is no readable SQLite database.
        """
        if max_bytes is None:
            from longdoc.config import load_settings

            max_bytes = int(load_settings().cache_max_mb * _MB)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        # Autocommit: transactions are opened explicitly, as BEGIN IMMEDIATE, so a
        # writer takes the lock up front and waits (busy timeout) instead of failing
        # on a read-to-write upgrade while another process writes.
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
        try:
            _when_unlocked(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
            # In WAL mode NORMAL survives a killed process (our failure mode) and skips an
            # fsync per write, which would otherwise dominate a cached call's cost.
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._write() as db:
                self._migrate(db)
        except sqlite3.DatabaseError as e:
            self._db.close()
            raise CacheError(path, str(e)) from e

    @classmethod
    def for_settings(cls, settings: Settings) -> ResponseCache:
        """The cache of ``settings.data_dir``, capped by ``settings.cache_max_mb``."""
        return cls(cache_path(settings.data_dir), max_bytes=int(settings.cache_max_mb * _MB))

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        for statement in _SCHEMA:
            db.execute(statement)
        have = {row[1] for row in db.execute("PRAGMA table_info(responses)")}
        for name, kind in _COLUMNS.items():
            if name not in have:
                db.execute(f"ALTER TABLE responses ADD COLUMN {name} {kind}")
        if "size" not in have:  # entries from before the cap: measure them once
            db.execute(f"UPDATE responses SET size = {_SIZE}, tick = rowid")
            db.execute("UPDATE meta SET tick = (SELECT COALESCE(MAX(tick), 0) FROM responses)")
            db.execute("UPDATE meta SET bytes = (SELECT COALESCE(SUM(size), 0) FROM responses)")
        db.execute("CREATE INDEX IF NOT EXISTS responses_by_tick ON responses (tick)")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front (callers hold ``self._lock``)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _tick(self, db: sqlite3.Connection) -> int:
        return int(db.execute("UPDATE meta SET tick = tick + 1 RETURNING tick").fetchone()[0])

    def get(self, key: str) -> Completion | None:
        """The cached completion for ``key``, or None; a hit becomes the most recent entry."""
        with self._lock, self._write() as db:
            row = db.execute("SELECT completion FROM responses WHERE key = ?", (key,)).fetchone()
            if row is None:
                db.execute("UPDATE meta SET misses = misses + 1")
                return None
            db.execute("UPDATE responses SET tick = ? WHERE key = ?", (self._tick(db), key))
            db.execute("UPDATE meta SET hits = hits + 1")
        return Completion.model_validate_json(row[0])

    def put(self, key: str, completion: Completion) -> None:
        """Store ``completion`` under ``key`` (replacing any older entry), then evict.

        The least recently used entries go until the cache fits its cap; an entry
        larger than the whole cap is not stored.
        """
        text = completion.model_dump_json()
        size = len(key.encode()) + len(text.encode())
        if size > self.max_bytes:
            return
        with self._lock, self._write() as db:
            old = db.execute("SELECT size FROM responses WHERE key = ?", (key,)).fetchone()
            db.execute("UPDATE meta SET bytes = bytes + ?", (size - (int(old[0]) if old else 0),))
            db.execute(
                "INSERT OR REPLACE INTO responses (key, model, completion, created, size, tick) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, completion.model, text, time.time(), size, self._tick(db)),
            )
            self._evict(db, keep=key)

    def _evict(self, db: sqlite3.Connection, *, keep: str) -> None:
        total = int(db.execute("SELECT bytes FROM meta").fetchone()[0])
        excess = total - self.max_bytes
        if excess <= 0:
            return
        doomed: list[tuple[str]] = []
        freed = 0
        rows = db.execute("SELECT key, size FROM responses WHERE key != ? ORDER BY tick", (keep,))
        for old, old_size in rows:  # oldest first, through the tick index
            if excess <= 0:
                break
            doomed.append((old,))
            excess -= old_size
            freed += old_size
        rows.close()
        db.executemany("DELETE FROM responses WHERE key = ?", doomed)
        db.execute(
            "UPDATE meta SET evictions = evictions + ?, bytes = bytes - ?", (len(doomed), freed)
        )

    def stats(self) -> CacheStats:
        """Entries, bytes, hits, misses and evictions, read in one consistent snapshot."""
        with self._lock:
            return self._stats(self._db)

    @staticmethod
    def _stats(db: sqlite3.Connection) -> CacheStats:
        # One statement, so one snapshot even while another process writes.
        row = db.execute(
            "SELECT (SELECT COUNT(*) FROM responses), bytes, hits, misses, evictions FROM meta"
        ).fetchone()
        return CacheStats(*(int(value) for value in row))

    def info(self) -> CacheInfo:
        """The statistics with the path, the cap and the bytes on disk."""
        on_disk = sum(
            p.stat().st_size
            for p in (self.path, self.path.with_name(self.path.name + "-wal"))
            if p.exists()
        )
        return CacheInfo(self.path, self.max_bytes, on_disk, self.stats())

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def clear(self) -> CacheStats:
        """Remove every entry, reset the counters and give the space back to the disk.

        Returns:
            What was there before (entries and bytes removed).
        """
        with self._lock:
            with self._write() as db:
                before = self._stats(db)
                db.execute("DELETE FROM responses")
                db.execute("UPDATE meta SET bytes = 0, hits = 0, misses = 0, evictions = 0")
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return before

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()


def _when_unlocked(switch: Callable[[], object]) -> None:
    """Run ``switch`` (the WAL switch), retrying while another process holds the file.

    SQLite answers "database is locked" at once, without its busy timeout, when two
    processes open a new database together and both switch it to WAL.
    """
    from tenacity import retry, retry_if_exception, stop_after_delay, wait_random_exponential

    def locked(e: BaseException) -> bool:
        return isinstance(e, sqlite3.OperationalError) and "locked" in str(e)

    retry(
        retry=retry_if_exception(locked),
        wait=wait_random_exponential(multiplier=0.02, max=0.5),
        stop=stop_after_delay(30),
        reraise=True,
    )(switch)()
