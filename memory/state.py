"""The durable state of every memory session, in one SQLite file.

SQLite is the journal: an item is committed here (with its ordinal) before it
is embedded or summarized, and the summaries record how many items they cover.
A process killed at any point leaves a consistent file; the next call finishes
the pending work (embedding, summarizing, folding) exactly once. Each write is
one transaction, so a summary and the count it covers change together.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from longdoc.memory.types import Episode

__all__ = ["MemoryState"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    items INTEGER NOT NULL DEFAULT 0,
    embedded_through INTEGER NOT NULL DEFAULT 0,
    level1 TEXT NOT NULL DEFAULT '',
    level1_through INTEGER NOT NULL DEFAULT 0,
    level2 TEXT NOT NULL DEFAULT '',
    level2_through INTEGER NOT NULL DEFAULT 0,
    pruned_through INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS episodes (
    session_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    ts REAL NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    item_key TEXT,
    last_retrieved INTEGER,
    PRIMARY KEY (session_id, ordinal)
);
CREATE UNIQUE INDEX IF NOT EXISTS episodes_key ON episodes(session_id, item_key);
CREATE TABLE IF NOT EXISTS summaries (
    session_id TEXT NOT NULL,
    level INTEGER NOT NULL,
    through INTEGER NOT NULL,
    text TEXT NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (session_id, level, through)
);
"""

_EP_COLS = "session_id, ordinal, role, text, ts, source, last_retrieved"


def _episode(row: Sequence[Any]) -> Episode:
    sid, ordinal, role, text, ts, source, last = row
    return Episode(
        session_id=sid,
        ordinal=ordinal,
        role=role,
        text=text,
        timestamp=ts,
        source=source,
        last_retrieved=last,
    )


class MemoryState:
    """Sessions, journaled episodes and summaries in ``path`` (WAL mode).

    Args:
        path: the SQLite file; its folder is created.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One connection shared by the sync API and worker threads; the lock
        # serialises use, which SQLite needs for one connection anyway.
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    # --- sessions -------------------------------------------------------------------
    def session(self, session_id: str) -> dict[str, Any]:
        """The session's row, created empty when new."""
        with self._lock:
            cur = self._conn.execute("SELECT * FROM sessions WHERE session_id = ?", (session_id,))
            row = cur.fetchone()
            if row is not None:  # the common case: a read, no write lock taken
                return dict(zip([d[0] for d in cur.description], row, strict=True))
            with self._tx() as c:
                c.execute(
                    "INSERT OR IGNORE INTO sessions(session_id, created) VALUES (?, ?)",
                    (session_id, time.time()),
                )
            return self.session(session_id)

    def sessions(self) -> list[str]:
        """Every session id, oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT session_id FROM sessions ORDER BY created").fetchall()
        return [r[0] for r in rows]

    def set_fields(self, session_id: str, **fields: Any) -> None:
        """Update some columns of a session in one transaction."""
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as c:
            c.execute(
                f"UPDATE sessions SET {cols} WHERE session_id = ?",
                (*fields.values(), session_id),
            )

    def delete_session(self, session_id: str) -> None:
        """Remove a session and everything it holds."""
        with self._tx() as c:
            for table in ("episodes", "summaries", "sessions"):
                c.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))

    # --- episodes -------------------------------------------------------------------
    def append(
        self, session_id: str, items: Sequence[tuple[str, str, str, str | None]]
    ) -> list[Episode]:
        """Journal new items ``(text, role, source, key)``; a key already present is skipped.

        Returns:
            The episodes written now, with their ordinals (not the skipped ones).
        """
        out: list[Episode] = []
        with self._tx() as c:
            (n,) = c.execute(
                "SELECT items FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
            for text, role, source, key in items:
                if (
                    key is not None
                    and c.execute(
                        "SELECT 1 FROM episodes WHERE session_id = ? AND item_key = ?",
                        (session_id, key),
                    ).fetchone()
                ):
                    continue
                ep = Episode(
                    session_id=session_id, ordinal=n, role=role, text=text,
                    timestamp=time.time(), source=source,
                )  # fmt: skip
                c.execute(
                    "INSERT INTO episodes(session_id, ordinal, role, text, ts, source, item_key)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (session_id, n, role, text, ep.timestamp, source, key),
                )
                out.append(ep)
                n += 1
            c.execute("UPDATE sessions SET items = ? WHERE session_id = ?", (n, session_id))
        return out

    def has_key(self, session_id: str, key: str) -> bool:
        """Whether an item with this key was journaled."""
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM episodes WHERE session_id = ? AND item_key = ?", (session_id, key)
            ).fetchone()
        return row is not None

    def ordinal_of(self, session_id: str, key: str) -> int:
        """The ordinal of the item journaled with ``key`` (-1 when none is stored)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT ordinal FROM episodes WHERE session_id = ? AND item_key = ?",
                (session_id, key),
            ).fetchone()
        return int(row[0]) if row else -1

    def episodes(
        self,
        session_id: str,
        start: int = 0,
        stop: int | None = None,
        ordinals: Sequence[int] | None = None,
    ) -> list[Episode]:
        """Stored (not pruned) episodes by ordinal range or list, in order."""
        with self._lock:
            if ordinals is not None:
                marks = ",".join("?" * len(ordinals))
                rows = self._conn.execute(
                    f"SELECT {_EP_COLS} FROM episodes WHERE session_id = ? "
                    f"AND ordinal IN ({marks}) ORDER BY ordinal",
                    (session_id, *ordinals),
                ).fetchall()
            else:
                rows = self._conn.execute(
                    f"SELECT {_EP_COLS} FROM episodes WHERE session_id = ? "
                    "AND ordinal >= ? AND ordinal < ? ORDER BY ordinal",
                    (session_id, start, stop if stop is not None else 2**62),
                ).fetchall()
        return [_episode(r) for r in rows]

    def bookkeeping(self, session_id: str) -> list[tuple[int, int | None, str]]:
        """``(ordinal, last_retrieved, role)`` of every stored episode, for pruning."""
        with self._lock:
            return list(
                self._conn.execute(
                    "SELECT ordinal, last_retrieved, role FROM episodes WHERE session_id = ?",
                    (session_id,),
                )
            )

    def count_episodes(self, session_id: str) -> int:
        """Stored (not pruned) episodes of a session."""
        with self._lock:
            (n,) = self._conn.execute(
                "SELECT COUNT(*) FROM episodes WHERE session_id = ?", (session_id,)
            ).fetchone()
        return int(n)

    def mark_retrieved(self, session_id: str, ordinals: Sequence[int], now: int) -> None:
        """Record that these episodes were retrieved when the session had ``now`` items."""
        with self._tx() as c:
            c.executemany(
                "UPDATE episodes SET last_retrieved = ? WHERE session_id = ? AND ordinal = ?",
                [(now, session_id, o) for o in ordinals],
            )

    def delete_episodes(self, session_id: str, ordinals: Sequence[int]) -> None:
        """Remove episodes (pruning or forgetting); their item keys go with them."""
        with self._tx() as c:
            c.executemany(
                "DELETE FROM episodes WHERE session_id = ? AND ordinal = ?",
                [(session_id, o) for o in ordinals],
            )

    # --- summaries ------------------------------------------------------------------
    def record_summary(self, session_id: str, level: int, through: int, text: str) -> None:
        """Keep a summary in the history (level 1 at a block's end, every level 2)."""
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO summaries VALUES (?, ?, ?, ?, ?)",
                (session_id, level, through, text, time.time()),
            )

    def commit_fold(self, session_id: str, through: int, level1_final: str, level2: str) -> None:
        """Close a block: keep its last level-1 summary, store the new level 2, reset level 1."""
        now = time.time()
        with self._tx() as c:
            c.executemany(
                "INSERT OR REPLACE INTO summaries VALUES (?, ?, ?, ?, ?)",
                [
                    (session_id, 1, through, level1_final, now),
                    (session_id, 2, through, level2, now),
                ],
            )
            c.execute(
                "UPDATE sessions SET level2 = ?, level2_through = ?, level1 = '', "
                "level1_through = ? WHERE session_id = ?",
                (level2, through, through, session_id),
            )

    def history(self, session_id: str, level: int) -> list[tuple[int, str]]:
        """``(items covered, text)`` of the recorded summaries of a level, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT through, text FROM summaries WHERE session_id = ? AND level = ? "
                "ORDER BY through",
                (session_id, level),
            ).fetchall()
        return [(int(t), str(x)) for t, x in rows]
