"""The response cache: LRU size cap, `longdoc cache info|clear`, two writer processes."""

from __future__ import annotations

import itertools
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from gateway_support import make_gateway

from longdoc.agents.gateway.cache import ResponseCache, cache_key, cache_path
from longdoc.agents.gateway.types import Completion
from longdoc.cli import main
from longdoc.errors import CacheError
from longdoc.testing.fake_openai import FakeOpenAI


def _completion(text: str) -> Completion:
    return Completion(text=text, model="openai/fake", prompt_tokens=3, completion_tokens=2)


def _size(key: str, completion: Completion) -> int:
    return len(key.encode()) + len(completion.model_dump_json().encode())


def _true_bytes(path: Path) -> tuple[int, int]:
    """The byte total kept in ``meta`` and the one recomputed from the rows."""
    with sqlite3.connect(path) as db:
        kept = db.execute("SELECT bytes FROM meta").fetchone()[0]
        summed = db.execute("SELECT COALESCE(SUM(size), 0) FROM responses").fetchone()[0]
    return int(kept), int(summed)


def test_least_recently_used_entry_goes_first_and_reads_refresh(tmp_path: Path) -> None:
    entry = _completion("x" * 100)
    cap = 3 * _size("a", entry)
    cache = ResponseCache(tmp_path / "c.sqlite3", max_bytes=cap)
    for key in ("a", "b", "c"):
        cache.put(key, entry)
    assert cache.get("a") == entry  # a is now the most recent: b is the oldest
    cache.put("d", entry)
    assert [k for k in "abcd" if cache.get(k) is not None] == ["a", "c", "d"]
    stats = cache.stats()
    assert (stats.entries, stats.bytes, stats.evictions) == (3, cap, 1)
    assert (stats.hits, stats.misses) == (4, 1)
    cache.put("d", entry)  # replacing an entry does not count it twice
    assert cache.stats().bytes == cap and len(cache) == 3
    cache.put("huge", _completion("y" * cap))  # larger than the whole cap: not stored
    assert cache.get("huge") is None and len(cache) == 3
    cache.close()
    assert _true_bytes(tmp_path / "c.sqlite3") == (cap, cap)


def test_a_cache_from_before_the_cap_keeps_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    key = cache_key("m", [{"role": "user", "content": "hi"}], {"max_tokens": 4})
    with sqlite3.connect(path) as db:  # the schema of the cache without a cap
        db.execute(
            "CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
            "completion TEXT NOT NULL, created REAL NOT NULL)"
        )
        db.execute(
            "INSERT INTO responses VALUES (?, ?, ?, 0)",
            (key, "m", _completion("old").model_dump_json()),
        )
    cache = ResponseCache(path, max_bytes=10_000)
    assert cache.get(key) == _completion("old")
    assert cache.stats().bytes == _size(key, _completion("old"))
    cache.close()


def test_gateway_cache_obeys_the_size_setting(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The server's completions are ~190 bytes with the key: 0.0005 MB holds two.
    monkeypatch.setenv("LONGDOC_CACHE_MAX_MB", "0.0005")
    gw = make_gateway(server)
    for prompt in ("one", "two", "three"):
        gw.complete(prompt)
    assert gw.complete("three").cached and gw.complete("two").cached
    assert not gw.complete("one").cached  # the least recently used: evicted
    gw.close()
    assert len(server.requests) == 4
    cache = ResponseCache(cache_path(tmp_path / "data"))
    assert cache.max_bytes == 524 and 0 < cache.stats().bytes <= 524
    cache.close()


def test_cache_info_and_clear_on_the_command_line(
    server: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cache_path(tmp_path / "data")
    assert main(["cache", "info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 0
    assert not path.exists()  # looking creates nothing
    gw = make_gateway(server)
    gw.complete("remember me")
    gw.complete("remember me")
    gw.close()
    assert main(["cache", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["entries"], info["hits"], info["misses"], info["path"]) == (1, 1, 1, str(path))
    assert 0 < info["bytes"] < info["max_bytes"] == 1024 * 1024 * 1024
    assert main(["cache", "info"]) == 0
    assert "entries    1" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert capsys.readouterr().out.startswith("removed 1 entries (")
    assert main(["cache", "info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 0
    assert not make_gateway(server).complete("remember me").cached


def test_an_unreadable_cache_is_named_and_clear_removes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cache_path(tmp_path / "data")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database at all " * 100)
    with pytest.raises(CacheError) as caught:
        ResponseCache(path, max_bytes=1000)
    assert caught.value.path == path
    assert main(["cache", "info"]) == 2
    assert str(path) in capsys.readouterr().err.replace("\n", "")  # rich wraps lines
    assert main(["cache", "clear"]) == 0
    assert "removed the unreadable cache file" in capsys.readouterr().out
    assert not path.exists()


# Each writer prints "ready", waits for "go" on stdin (a barrier without sleeps), then
# writes its keys, reading each back and re-reading an older one (recency writes too).
# Halfway it meets the other at a second barrier: SQLite's busy handler may let one
# writer hold the lock for a whole burst, and the barrier makes the writes interleave.
_WRITER = """
import sys
from pathlib import Path
from longdoc.agents.gateway.cache import ResponseCache
from longdoc.agents.gateway.types import Completion
path, name, count, cap = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cache = ResponseCache(path, max_bytes=cap)
def barrier(name):
    print(name, flush=True)
    assert sys.stdin.readline().strip() == "go"
barrier("ready")
for i in range(count):
    if i == count // 2:
        barrier("half")
    key = f"{name}-{i}"
    cache.put(key, Completion(text=f"{key} " * 20, model="m"))
    # Under a small cap the other writer may evict it meanwhile; under a big one, never.
    assert cache.get(key) is not None or cap < 10**6
    cache.get(f"{name}-{i // 2}")
cache.close()
print("done", flush=True)
"""


def _write_at_once(path: Path, count: int, cap: int) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), name, str(count), str(cap)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=path.parent,  # not the repository root, whose folders shadow packages
        )
        for name in ("p", "q")
    ]
    for point in ("ready", "half"):
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == point
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert (p.returncode, out.strip()) == (0, "done")


@pytest.mark.slow
def test_two_writer_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    ResponseCache(path, max_bytes=10**9).close()  # both writers open an existing cache
    _write_at_once(path, count=300, cap=10**9)
    cache = ResponseCache(path, max_bytes=10**9)
    for name in ("p", "q"):
        for i in range(300):
            hit = cache.get(f"{name}-{i}")
            assert hit is not None and hit.text == f"{name}-{i} " * 20
    assert len(cache) == 600
    cache.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        order = [k[0] for (k,) in db.execute("SELECT key FROM responses ORDER BY rowid")]
    switches = sum(a != b for a, b in itertools.pairwise(order))
    assert switches >= 2  # the writes interleaved (one writer after the other gives 1)
    kept, summed = _true_bytes(path)
    assert kept == summed


@pytest.mark.slow
def test_two_writer_processes_keep_the_cap_and_the_totals(tmp_path: Path) -> None:
    path = tmp_path / "capped.sqlite3"
    cap = 20_000  # ~60 of the 600 entries fit: both writers evict all the time
    _write_at_once(path, count=300, cap=cap)
    kept, summed = _true_bytes(path)
    assert kept == summed and 0.9 * cap < summed <= cap
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ticks = [t for (t,) in db.execute("SELECT tick FROM responses")]
    assert len(ticks) == len(set(ticks))  # one logical clock across both processes


@pytest.mark.slow
def test_a_writer_killed_mid_write_leaves_a_consistent_cache(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite3"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), "p", "4000", "100000"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert writer.stdin is not None and writer.stdout is not None
    for point in ("ready", "half"):
        assert writer.stdout.readline().strip() == point
        writer.stdin.write("go\n")
        writer.stdin.flush()
    writer.send_signal(signal.SIGKILL)  # in the second half: between or inside transactions
    writer.wait(timeout=30)
    kept, summed = _true_bytes(path)  # counters and rows changed together, or not at all
    assert kept == summed <= 100_000
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        keys = [k for (k,) in db.execute("SELECT key FROM responses")]
    cache = ResponseCache(path, max_bytes=100_000)
    for key in keys:  # every entry left is whole
        hit = cache.get(key)
        assert hit is not None and hit.text == f"{key} " * 20
    stats = cache.stats()
    assert stats.evictions > 0 and stats.entries == len(keys) > 0
    cache.close()
