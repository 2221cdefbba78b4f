"""BM25 over a collection's chunks in SQLite FTS5, kept in step with Chroma incrementally.

The index is one SQLite file (stdlib ``sqlite3``, FTS5, ``bm25()`` ranking) beside the
Chroma data. Writers update it as they write Chroma, O(written chunks): rows are
added *before* their Chroma records and removed *after* them, so the index always
holds at least the collection's records and a crash leaves extra rows, which a
search drops (it reads every hit back from Chroma), never missing ones.

Staleness is decided against Chroma, not against a file beside one client: the
collection metadata carries a write generation (bumped on every write and delete,
see :meth:`~longdoc.retrieval.store.Store.bump_generation`), and the index records
the generation and record count it is in step with. A writer marks the index
"being written by pid P" for its session and, when it ends, records the new
generation only if every bump since it began was its own and the counts agree.
A search rebuilds the index from Chroma (the only O(N) path) when it is out of step
and no live writer holds it: after a crash (the writer's pid is gone), after another
client wrote the collection (server mode: each machine keeps its own mirror), or
when the tokenizer changed.

Tokens are identifier-aware (:func:`tokenize`): ``getUserName``, ``get_user_name``,
``GetUserName`` and ``get-user-name`` all yield ``get``, ``user``, ``name`` plus the
whole identifier, so code and prose queries find each other. They are computed here
and stored joined by spaces; FTS5's ``ascii`` tokenizer with ``-`` and ``_`` as token
characters then splits them at the spaces only, so splitting and stemming stay ours.

A search over 5,000 rows or more leaves out query tokens held by half the rows or more
(read from an ``fts5vocab`` table): ``bm25()`` gives them an IDF of 1e-6, yet OR-ing them in makes
FTS5 score nearly every row. Unfiltered, it ranks and cuts inside FTS5 and joins
``records`` for the rows kept only.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["TOKENIZER_VERSION", "Bm25Index", "Tokenizer", "lexical_text", "tokenize"]

# The record count and write generation of a collection (see Store.bump_generation).
State = Callable[[], tuple[int, int]]
# Every record of a collection as (ids, lexical texts), for a rebuild.
Fetch = Callable[[], tuple[list[str], list[str]]]

_FILE = "lexical.sqlite3"
_STALE = "stale"  # the writer marker of an index a search must rebuild
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records(rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,
                                   doc_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS records_doc ON records(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS terms USING fts5(tokens, tokenize="ascii tokenchars '-_'");
"""
# Process-wide: every Bm25Index on one file shares its lock, so write sessions of one
# process never interleave (other processes are kept apart by the index's file lock).
_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()
_MAX_FILTER = 30_000  # doc ids bound in one query (SQLite allows 32,766); callers re-check
_VOCAB = "terms_vocab"  # the fts5vocab table over ``terms`` (per connection, in temp)
# Below this many rows every query token is kept: pruning is for speed at scale, and a
# small index keeps every matching row for rank fusion, however low its score.
_PRUNE_MIN_ROWS = 5_000

# Bump whenever tokens change: a saved index built by another version is rebuilt.
TOKENIZER_VERSION = 2

# Hand-written splitting: bm25s takes one regex applied after lowercasing, which can
# neither see case boundaries nor yield a whole identifier and its parts together.
_WORD = re.compile(r"\w+(?:-\w+)*")  # an identifier; kebab-case kept as one word
_SEGMENT = re.compile(r"[^\W_]+")  # the letters and digits between underscores
# camelCase / PascalCase / acronym / digit boundaries: HTTPAdapter -> HTTP, Adapter.
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_CACHE_LIMIT = 500_000


def _stemmer() -> Callable[[str], str] | None:
    try:
        import Stemmer  # PyStemmer: optional, improves recall on inflected words

        stem: Callable[[str], str] = Stemmer.Stemmer("english").stemWord
        return stem
    except ImportError:
        return None


def _parts(word: str) -> list[str]:
    """``word``'s sub-words, lowercased (non-ASCII runs are kept whole: no case rules)."""
    return [
        p.lower()
        for seg in _SEGMENT.findall(word)
        for p in (_PART.findall(seg) if seg.isascii() else (seg,))
    ]


class Tokenizer:
    """Identifier-aware BM25 tokens, the same for documents and queries.

    Every word is split at ``_``, ``-``, case changes (acronyms included) and
    digit boundaries; each sub-word of two characters or more that is not an
    English stopword is stemmed (when PyStemmer is installed), as bm25s does for
    prose. A word made of several sub-words also yields itself, lowercased and
    unstemmed (``parseURLString`` -> ``parseurlstring``, ``pars``, ``url``, ``string``).

    Args:
        stem: a one-word stemmer; default PyStemmer's English one when installed.
        stopwords: words left out; default bm25s's English list.
    """

    def __init__(
        self, stem: Callable[[str], str] | None = None, stopwords: Collection[str] | None = None
    ) -> None:
        if stopwords is None:
            from bm25s.stopwords import STOPWORDS_EN

            stopwords = STOPWORDS_EN
        self._stem = stem if stem is not None else _stemmer()
        self._stopwords = frozenset(stopwords)
        self._words: dict[str, tuple[str, ...]] = {}  # word -> tokens; words repeat a lot

    @property
    def identity(self) -> dict[str, Any]:
        """What decides the tokens: saved with an index, compared on load."""
        return {"version": TOKENIZER_VERSION, "stemmer": "english" if self._stem else None}

    def word(self, word: str) -> tuple[str, ...]:
        """The tokens of one word (see the class docstring)."""
        tokens = self._words.get(word)
        if tokens is None:
            parts = _parts(word)
            kept = [p for p in parts if len(p) > 1 and p not in self._stopwords]
            stemmed = [self._stem(p) for p in kept] if self._stem else kept
            tokens = tuple([word.lower(), *stemmed] if len(parts) > 1 else stemmed)
            if len(self._words) >= _CACHE_LIMIT:
                self._words.clear()
            self._words[word] = tokens
        return tokens

    def __call__(self, text: str) -> list[str]:
        """The tokens of ``text``, in order."""
        return [t for w in _WORD.findall(text) for t in self.word(w)]

    def terms(self, text: str) -> str:
        """The tokens of ``text`` as the index stores them (joined by spaces)."""
        return " ".join(self(text))

    def __getstate__(self) -> dict[str, Any]:
        # Chunking workers get a copy (see chunk_pool): PyStemmer's stemmer does not
        # pickle, so only the default one travels, rebuilt on arrival; the stopwords
        # travel as words, so a worker need not import bm25s (which imports jax where
        # it is installed: seconds per worker on a GPU machine).
        default = _stemmer()
        custom = default is None or getattr(self._stem, "__qualname__", None) != getattr(
            default, "__qualname__", None
        )
        if self._stem is not None and custom:
            raise TypeError("a Tokenizer with a custom stemmer does not pickle")
        return {"stemmed": self._stem is not None, "stopwords": sorted(self._stopwords)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(stopwords=state["stopwords"])  # type: ignore[misc]
        if not state["stemmed"]:
            self._stem = None


def tokenize(text: str) -> list[str]:
    """The BM25 tokens of ``text`` (a fresh :class:`Tokenizer`; keep one to reuse its cache)."""
    return Tokenizer()(text)


def lexical_text(text: str | None, metadata: Mapping[str, Any]) -> str:
    """What BM25 indexes for a stored chunk: its header (when any), then its text."""
    header = metadata.get("header") or ""
    return f"{header}\n{text}" if header else (text or "")


def _doc_id(record_id: str) -> str:
    """The document id inside a chunk record id (``<doc_id>::<version>::<ordinal>``)."""
    return record_id.rsplit("::", 2)[0]


def _alive(writer: Mapping[str, Any]) -> bool:
    """Whether the process that marked the index as being written still runs."""
    if writer.get("host") != socket.gethostname():
        return True  # another machine's process: it cannot be probed, trust it
    try:
        os.kill(int(writer["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Bm25Index:
    """The BM25 index of one collection, in a SQLite FTS5 file kept in step with Chroma.

    Writers open a :meth:`writing` session and call :meth:`add` before writing
    records to Chroma, :meth:`remove` after deleting them, and :meth:`bumped` after
    each bump of the collection's generation. Readers call :meth:`ranked`.

    Args:
        folder: where the index file lives (created on demand).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / _FILE
        self._tokenizer = Tokenizer()
        with _LOCKS_GUARD:
            self._lock = _LOCKS.setdefault(str(self.path.resolve()), threading.RLock())
        self._conn: sqlite3.Connection | None = None
        # Inside a write session its writes may also come from a helper thread of the
        # writer (the ingest's producer): they take turns on the connection under this.
        self._session_conn = threading.Lock()
        self._session: dict[str, int] | None = None  # started generation, own bumps, depth
        self._rows: tuple[tuple[int, int], int] | None = None  # (data version, changes), rows

    # --- storage ------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            # One connection used under self._lock from whichever thread holds it (and,
            # for a session's writes, under self._session_conn: see _session_txn).
            conn = sqlite3.connect(
                self.path, timeout=60, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            conn.executescript(_SCHEMA)
            # Per connection, in temp: document frequencies, read to prune a query's tokens.
            conn.execute(f"CREATE VIRTUAL TABLE temp.{_VOCAB} USING fts5vocab(main, terms, row)")
            self._conn = conn
        return self._conn

    @contextmanager
    def _txn(self) -> Iterator[sqlite3.Connection]:
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _meta(self, conn: sqlite3.Connection) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}

    @staticmethod
    def _set(conn: sqlite3.Connection, **values: Any) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
            [(k, json.dumps(v)) for k, v in values.items()],
        )

    def _insert(
        self,
        conn: sqlite3.Connection,
        ids: Sequence[str],
        texts: Sequence[str],
        terms: Sequence[str] | None = None,
    ) -> None:
        if not ids:
            return
        if terms is None:
            terms = [self._tokenizer.terms(t) for t in texts]
        # Rowids are chosen here, not by SQLite, so both tables share them (we hold the
        # write transaction: nobody else takes one). Each table takes one statement over
        # a JSON array, which SQLite runs without the GIL from start to end: executemany
        # takes the GIL back for every row, so beside a Chroma write (which holds the GIL
        # throughout) it would wait for that write at every row.
        (top,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM records").fetchone()
        conn.execute(
            "INSERT INTO records(rowid, id, doc_id)"
            " SELECT ? + key, json_extract(value, '$[0]'), json_extract(value, '$[1]')"
            " FROM json_each(?)",
            (top + 1, json.dumps([(i, _doc_id(i)) for i in ids])),
        )
        conn.execute(
            "INSERT INTO terms(rowid, tokens) SELECT ? + key, value FROM json_each(?)",
            (top + 1, json.dumps(list(terms))),
        )

    @staticmethod
    def _delete(conn: sqlite3.Connection, ids: Sequence[str]) -> None:
        given = "SELECT value FROM json_each(?)"
        bound = (json.dumps(list(ids)),)
        conn.execute(
            f"DELETE FROM terms WHERE rowid IN (SELECT rowid FROM records WHERE id IN ({given}))",
            bound,
        )
        conn.execute(f"DELETE FROM records WHERE id IN ({given})", bound)

    # --- keeping in step ----------------------------------------------------------------
    def _usable(self, meta: Mapping[str, Any], state: State) -> bool:
        """Whether the index may be read as it is (in step, or a live writer's superset)."""
        if meta.get("tokenizer") != self._tokenizer.identity:
            return False
        writer = meta.get("writer")
        if writer == _STALE:
            return False
        if writer:
            return _alive(writer)
        return tuple(state()) == (meta.get("generation"), meta.get("count"))

    def ensure(self, state: State, fetch: Fetch) -> None:
        """Rebuild the index from Chroma when it is out of step and no writer holds it.

        Args:
            state: returns the collection's ``(generation, count)`` now.
            fetch: returns ``(ids, texts)`` of every record, for a rebuild.
        """
        with self._lock:
            before = self._meta(self._db())
            if self._usable(before, state):
                return
            generation, _count = state()
            ids, texts = fetch()
            with self._txn() as conn:
                if self._meta(conn) != before:
                    return  # another process changed it meanwhile: its state stands
                self._replace(conn, ids, texts, generation)

    def rebuild(self, ids: list[str], texts: list[str], generation: int = -1) -> None:
        """Replace the whole index by ``texts`` under ``ids`` (in step with ``generation``)."""
        with self._lock, self._txn() as conn:
            self._replace(conn, ids, texts, generation)

    def _replace(
        self, conn: sqlite3.Connection, ids: list[str], texts: list[str], generation: int
    ) -> None:
        conn.execute("DELETE FROM records")
        conn.execute("DELETE FROM terms")
        self._insert(conn, ids, texts)
        self._set(
            conn,
            tokenizer=self._tokenizer.identity,
            generation=generation,
            count=len(ids),
            writer="",
        )

    def mark_stale(self) -> None:
        """Make the next search rebuild the index from Chroma."""
        with self._lock, self._txn() as conn:
            self._set(conn, writer=_STALE)

    # --- writing ------------------------------------------------------------------------
    @contextmanager
    def writing(self, state: State, fetch: Fetch) -> Iterator[None]:
        """A write session: brought in step first, marked as written by this process.

        At the end the index records the collection's new generation when every bump
        since the start was this session's and it holds as many records as Chroma;
        otherwise it is marked stale and the next search rebuilds it. Sessions nest.

        Args:
            state: returns the collection's ``(generation, count)`` now.
            fetch: returns ``(ids, texts)`` of every record, for a rebuild.
        """
        with self._lock:
            if self._session is not None:  # nested (an ingest's prune deletes)
                yield
                return
            self.ensure(state, fetch)
            with self._txn() as conn:
                start = self._meta(conn)
                self._set(conn, writer={"pid": os.getpid(), "host": socket.gethostname()})
            in_step = start.get("writer") == "" and start.get("generation") is not None
            self._session = {"start": int(start.get("generation", -1)), "bumps": 0}
            try:
                yield
            finally:
                session, self._session = self._session, None
                self._finish(session, in_step, state)

    def _finish(self, session: Mapping[str, int], in_step: bool, state: State) -> None:
        generation, count = state()
        with self._txn() as conn:
            (rows,) = conn.execute("SELECT count(*) FROM records").fetchone()
            ok = in_step and generation == session["start"] + session["bumps"] and rows == count
            if ok:
                self._set(conn, generation=generation, count=count, writer="")
            else:
                self._set(conn, writer=_STALE)

    @contextmanager
    def _session_txn(self) -> Iterator[sqlite3.Connection]:
        """A transaction of the open write session, from its thread or a helper of it.

        Not under ``self._lock``: the session's thread holds that for the whole session,
        and a helper it started (joined before the session ends) writes meanwhile.
        """
        self._require_session()
        with self._session_conn, self._txn() as conn:
            yield conn

    def _require_session(self) -> None:
        if self._session is None:
            raise RuntimeError("Bm25Index writes need a writing() session")

    @property
    def tokenizer(self) -> Tokenizer:
        """The tokenizer of this index's terms (see :meth:`add`)."""
        return self._tokenizer

    def add(
        self, ids: Sequence[str], texts: Sequence[str], terms: Sequence[str] | None = None
    ) -> None:
        """Index records about to be written to Chroma (replacing rows of the same ids).

        May be called from a thread the session's thread started and joins before the
        session ends (the ingest's producer does, so these writes run while Chroma's
        hold the GIL: SQLite does them in one statement per table, without it).

        Args:
            ids: record ids.
            texts: their lexical texts (see :func:`lexical_text`).
            terms: the same texts already tokenized by :attr:`tokenizer`'s
                :meth:`~Tokenizer.terms` (the ingest does so while chunking).
        """
        with self._session_txn() as conn:
            self._delete(conn, ids)
            self._insert(conn, ids, texts, terms)

    def remove(self, ids: Sequence[str]) -> None:
        """Drop the rows of records just deleted from Chroma (from the session's threads)."""
        with self._session_txn() as conn:
            self._delete(conn, ids)

    def bumped(self) -> None:
        """Count one bump of the collection's generation by this session."""
        with self._lock:
            self._require_session()
            assert self._session is not None
            self._session["bumps"] += 1

    # --- reading ------------------------------------------------------------------------
    def ranked(
        self,
        query: str,
        *,
        state: State,
        fetch: Fetch,
        limit: int | None = None,
        offset: int = 0,
        doc_ids: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        """:meth:`ensure`, then :meth:`scores`.

        Args:
            query: the text to score the records against.
            state: returns the collection's ``(generation, count)`` now.
            fetch: returns ``(ids, texts)`` of every record, for a rebuild.
            limit: at most this many; default all matching (less those matched only by
                tokens in half the rows or more: see :meth:`scores`).
            offset: skip this many best ones first.
            doc_ids: only records of these documents.

        Returns:
            ``(id, score)`` for every matching record, best first.
        """
        with self._lock:
            self.ensure(state, fetch)
            return self.scores(query, limit=limit, offset=offset, doc_ids=doc_ids)

    def scores(
        self,
        query: str,
        *,
        limit: int | None = None,
        offset: int = 0,
        doc_ids: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        """``(id, score)`` of the records matching ``query``, best first (see :meth:`ranked`).

        Query tokens that no row holds are left out (they add nothing to any score), and
        so are those held by half the rows or more, unless every token is such: FTS5's
        ``bm25()`` clamps their IDF to 1e-6, so they add at most ~2e-6 to a score but
        make the query visit nearly every row. "All matching" therefore leaves out rows
        matched by such ubiquitous tokens only (their scores would be ~1e-6).
        """
        tokens = self._tokenizer(query)
        if not tokens or (doc_ids is not None and not doc_ids):
            return []
        with self._lock:
            conn = self._db()
            tokens = self._informative(conn, tokens)
            if not tokens:
                return []
            sql, params = self._ranking_sql(tokens, limit=limit, offset=offset, doc_ids=doc_ids)
            rows = conn.execute(sql, params).fetchall()
        return [(i, -float(s)) for i, s in rows]  # FTS5's bm25() is lower-is-better

    def _informative(self, conn: sqlite3.Connection, tokens: list[str]) -> list[str]:
        """``tokens`` (order and repeats kept: both weigh in bm25) less those that barely score."""
        unique = sorted(set(tokens))
        df: dict[str, int] = {}
        for i in range(0, len(unique), 500):  # under SQLite's limit on bound parameters
            part = unique[i : i + 500]
            marks = ",".join("?" * len(part))
            sql = f"SELECT term, doc FROM temp.{_VOCAB} WHERE term IN ({marks})"
            df.update(conn.execute(sql, part).fetchall())
        present = [t for t in tokens if df.get(t, 0) > 0]
        rows = self._row_count(conn)
        if rows < _PRUNE_MIN_ROWS:
            return present
        # bm25's IDF log((N - n + 0.5) / (n + 0.5)) is <= 0, so clamped to 1e-6, when 2n >= N.
        telling = [t for t in present if 2 * df[t] < rows]
        return telling or present

    def _row_count(self, conn: sqlite3.Connection) -> int:
        """How many rows the index holds (cached until any connection writes the file)."""
        (version,) = conn.execute("PRAGMA data_version").fetchone()
        key = (int(version), conn.total_changes)
        if self._rows is None or self._rows[0] != key:
            (count,) = conn.execute("SELECT count(*) FROM records").fetchone()
            self._rows = (key, int(count))
        return self._rows[1]

    @staticmethod
    def _ranking_sql(
        tokens: list[str], *, limit: int | None, offset: int, doc_ids: Collection[str] | None
    ) -> tuple[str, list[Any]]:
        """The query ranking ``tokens`` (OR-ed): ranked and cut inside FTS5 when unfiltered."""
        match = " OR ".join(f'"{t}"' for t in tokens)  # tokens hold no quote: \w and -
        page = [-1 if limit is None else limit, offset]
        if doc_ids is None or len(doc_ids) > _MAX_FILTER:
            # records is joined for the kept rows only, not for every match before the cut.
            sql = (
                "SELECT r.id, t.score FROM (SELECT rowid, bm25(terms) AS score FROM terms "
                "WHERE terms MATCH ? ORDER BY score, rowid LIMIT ? OFFSET ?) t "
                "JOIN records r ON r.rowid = t.rowid ORDER BY t.score, t.rowid"
            )
            return sql, [match, *page]
        marks = ",".join("?" * len(doc_ids))
        sql = (
            "SELECT r.id, bm25(terms) FROM terms JOIN records r ON r.rowid = terms.rowid "
            f"WHERE terms MATCH ? AND r.doc_id IN ({marks}) "
            "ORDER BY bm25(terms), r.rowid LIMIT ? OFFSET ?"
        )
        return sql, [match, *sorted(doc_ids), *page]
