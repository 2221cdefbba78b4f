"""Several processes on one index: writers take turns, BM25 stays right (embedded, server)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from retrieval_support import chroma_server, write

from longdoc.config import load_settings
from longdoc.retrieval import Index
from longdoc.retrieval.index import WAITING

# One distinct topic per file, so BM25 and dense search can each find every one.
TOPICS = [
    "Volcanic basalt columns cool into hexagonal pillars along the rugged coastline.",
    "The violinist tuned her instrument before the orchestra rehearsed the symphony.",
    "Honeybees perform a waggle dance to tell the hive where nectar flowers grow.",
    "Glaciers carve deep fjords as compacted snow slides slowly toward the sea.",
    "A sourdough starter needs regular feeding with flour and water to stay lively.",
    "Astronomers measured the redshift of distant quasars with a large telescope.",
    "The blacksmith quenched the glowing horseshoe in a bucket of cold water.",
    "Migrating cranes rest in wetlands before crossing the mountain passes.",
]
KEYWORDS = [
    "basalt",
    "violinist",
    "honeybees",
    "fjords",
    "sourdough",
    "quasars",
    "blacksmith",
    "cranes",
]


def _folders(root: Path) -> list[Path]:
    """Two folders of four small files each (a few chunks per file)."""
    out = []
    for f in range(2):
        folder = root / f"part{f}"
        for i in range(4):
            n = 4 * f + i
            write(folder / f"topic{n}.txt", (TOPICS[n] + " ") * 6)
        out.append(folder)
    return out


def _ingest(folder: Path, env: dict[str, str], cwd: Path) -> Any:
    log = (cwd / f"{folder.name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "longdoc", "ingest", str(folder)],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait(done: Any, what: str, procs: list[Any], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if any(p.poll() not in (None, 0) for p in procs):
            raise AssertionError(f"a writer failed before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling files another process writes: no event to wait on


def _check_everything_found(index: Index) -> None:
    docs = index.list_documents()
    assert [d.doc_id for d in docs] == sorted(f"part{n // 4}/topic{n}.txt" for n in range(8))
    assert sum(d.chunks for d in docs) == index.store.count()
    for d in docs:
        assert len(index.read_document(d.doc_id)) == d.chunks
    for n, word in enumerate(KEYWORDS):
        want = f"part{n // 4}/topic{n}.txt"
        assert index.search(word, 1, mode="bm25")[0].chunk.doc_id == want, word
        assert index.search(TOPICS[n], 1, mode="dense")[0].chunk.doc_id == want, word
        hits = index.search(word, 5, mode="hybrid")
        assert len({h.id for h in hits}) == len(hits)


@pytest.mark.slow
def test_two_ingest_processes_on_one_embedded_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "LONGDOC_DATA_DIR": str(data)}
    env.pop("LONGDOC_CHROMA_HOST", None)
    folders = _folders(tmp_path / "docs")
    # The lock path Index uses; no Index opens the data dir here until the writers are done.
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", str(data / "chroma")).strip("_")
    lock = FileLock(str(data / "bm25" / slug / "documents" / "write.lock"))
    # Hold the writer lock so both processes meet it, then let them race each other.
    with lock:
        procs = [_ingest(f, env, tmp_path) for f in folders]
        logs = [tmp_path / f"{f.name}.log" for f in folders]
        _wait(lambda: all(WAITING in p.read_text() for p in logs), "both to wait", procs)
    for p in procs:
        assert p.wait(120) == 0, [log.read_text() for log in logs]
    assert all(log.read_text().count(WAITING) == 1 for log in logs)  # said once, not per poll
    index = Index(settings=load_settings(data_dir=data, chroma_host=None))
    assert index._file_lock is not None and Path(index._file_lock.lock_file) == Path(lock.lock_file)
    _check_everything_found(index)


@pytest.mark.slow
def test_two_writers_and_a_searcher_on_one_chroma_server(tmp_path: Path) -> None:
    folders = _folders(tmp_path / "docs")
    with chroma_server(tmp_path / "server") as port:

        def settings(name: str) -> dict[str, str]:  # each client its own machine's data dir
            return {
                "LONGDOC_DATA_DIR": str(tmp_path / name),
                "LONGDOC_CHROMA_HOST": "127.0.0.1",
                "LONGDOC_CHROMA_PORT": str(port),
            }

        searcher = Index(
            settings=load_settings(
                data_dir=tmp_path / "searcher", chroma_host="127.0.0.1", chroma_port=port
            )
        )
        searcher.ingest_text("Lighthouses guide ships past the reef at night.", "lighthouse")
        assert searcher.search("lighthouses", 1, mode="bm25")[0].chunk.doc_id == "lighthouse"
        procs = [
            _ingest(f, {**os.environ, **settings(f"writer{i}")}, tmp_path)
            for i, f in enumerate(folders)
        ]
        while any(p.poll() is None for p in procs):  # searches while both write
            hits = searcher.search("lighthouses reef", 3, mode="hybrid")
            assert hits and hits[0].chunk.doc_id == "lighthouse"
        assert [p.wait(120) for p in procs] == [0, 0]
        searcher.delete_document("lighthouse")
        _check_everything_found(searcher)
        # A writer's own mirror catches up with the other writer's documents too.
        writer = Index(
            settings=load_settings(
                data_dir=tmp_path / "writer0", chroma_host="127.0.0.1", chroma_port=port
            )
        )
        _check_everything_found(writer)


def test_bm25_follows_writes_incrementally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding a document writes its rows only: no refetch of the collection, no rebuild."""
    index = Index("incremental", settings=load_settings(data_dir=tmp_path, chroma_host=None))
    for n in range(4):
        index.ingest_text((TOPICS[n] + " ") * 6, f"t{n}")
    assert index.search("basalt", 1, mode="bm25")[0].chunk.doc_id == "t0"

    def refetch() -> Any:
        raise AssertionError("the whole collection was read for BM25")

    monkeypatch.setattr(index.searcher, "lexical_texts", refetch)
    index.ingest_text((TOPICS[4] + " ") * 6, "t4")
    assert index.search("sourdough", 1, mode="bm25")[0].chunk.doc_id == "t4"
    index.delete_document("t0")
    assert all(h.chunk.doc_id != "t0" for h in index.search("basalt", 3, mode="bm25"))
    monkeypatch.undo()


def test_a_writer_killed_midway_leaves_bm25_stale_then_repaired(tmp_path: Path) -> None:
    """Rows of a crashed session are never trusted: the next search rebuilds from Chroma."""
    import sqlite3

    index = Index("crashy", settings=load_settings(data_dir=tmp_path, chroma_host=None))
    index.ingest_text((TOPICS[0] + " ") * 6, "t0")
    with sqlite3.connect(index.bm25.path) as db:  # what a killed writer leaves behind
        db.execute(
            "UPDATE meta SET value = ? WHERE key = 'writer'",
            (json.dumps({"pid": 999_999_999, "host": socket.gethostname()}),),
        )
        db.execute("UPDATE terms SET tokens = 'garbage'")
    assert index.search("basalt", 1, mode="bm25")[0].chunk.doc_id == "t0"


@pytest.mark.slow
def test_processes_opening_a_new_data_dir_at_once_all_open_it(tmp_path: Path) -> None:
    # Each would create Chroma's tables and the collection: they take turns doing so.
    data = tmp_path / "fresh"
    env = {**os.environ, "LONGDOC_DATA_DIR": str(data)}
    env.pop("LONGDOC_CHROMA_HOST", None)
    code = "from longdoc.retrieval import Index; print(Index().store.count())"
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    cmd = [sys.executable, "-c", code]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, env=env, **pipes) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-400:] for _out, err in outs]
    assert [out.strip() for out, _err in outs] == ["0", "0", "0"]
