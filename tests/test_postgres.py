"""A shared checkpointer: LONGDOC_CHECKPOINT_URL puts every workflow's checkpoints in Postgres.

The slow tests start a throwaway PostgreSQL server (Debian's ``postgresql`` package,
which ``make test`` installs when missing) on a temporary data dir and a free port,
and stop it after. They skip, saying why, only when PostgreSQL is not installed or
does not start.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from longdoc.cli import main
from longdoc.config import load_settings
from longdoc.errors import CheckpointStoreError, ConfigError
from longdoc.testing.fake_openai import FakeOpenAI
from longdoc.testing.reader import PART, ExtractiveReader

FILLER = "The rain fell on the quiet town and nobody went outside that day. "
FACT = "The treasure is buried under the old mill."
QUESTION = "Where is the treasure?"
HELD_PART = 3  # the worker call in flight when the first process is killed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postgres_bin() -> Path | None:
    """The folder of PostgreSQL's programs: the one of initdb on PATH, else Debian's newest."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent  # links into /usr/lib/postgresql/<v>/bin
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts[-3])
    return found[-1].parent if found else None


def _pg(
    bindir: Path, program: str, *args: str, user: str | None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bindir / program), *args], user=user, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """The URL of a database on a PostgreSQL server of its own, stopped after the module."""
    pytest.importorskip(
        "langgraph.checkpoint.postgres", reason="the postgres extra is not installed"
    )
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (make test installs Debian's postgresql)")
    # The server refuses to run as root: then it runs as the package's postgres user,
    # in a folder of its own outside pytest's (root-only) temporary folders.
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="longdoc-pg-"))
    try:
        if user is not None:
            try:
                pwd.getpwnam(user)
            except KeyError:
                pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
            shutil.chown(root, user)
        db, port = root / "db", _free_port()
        done = _pg(bindir, "initdb", "-D", str(db), "-U", "postgres", "--auth=trust",
                   "-E", "UTF8", "--no-sync", user=user)  # fmt: skip
        if done.returncode != 0:
            pytest.skip(f"initdb failed: {done.stderr.strip()[-500:]}")
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        done = _pg(bindir, "pg_ctl", "-D", str(db), "-l", str(root / "log"), "-w", "-t", "30",
                   "-o", options, "start", user=user)  # fmt: skip
        if done.returncode != 0:
            log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
            pytest.skip(f"PostgreSQL did not start: {done.stderr.strip()} {log[-500:]}")
        try:
            import psycopg

            server = f"postgresql://postgres@127.0.0.1:{port}"
            with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
                conn.execute("CREATE DATABASE longdoc")
            yield f"{server}/longdoc"
        finally:
            _pg(bindir, "pg_ctl", "-D", str(db), "-m", "immediate", "-w", "stop", user=user)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _part_of(request: dict[str, Any]) -> int | None:
    """The document part a worker request reads (None for the manager)."""
    found = PART.search(request["messages"][-1]["content"])
    return int(found.group(1)) if found else None


def _checkpoint_rows(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM checkpoints").fetchone()
    assert row is not None
    return int(row[0])


def _ask(cli: list[str], data_dir: Path, url: str | None, capsys: pytest.CaptureFixture[str],
         monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:  # fmt: skip
    """Run the CLI in this process as a machine with ``data_dir``; its JSON result."""
    monkeypatch.setenv("LONGDOC_DATA_DIR", str(data_dir))
    if url is None:
        monkeypatch.delenv("LONGDOC_CHECKPOINT_URL", raising=False)
    else:
        monkeypatch.setenv("LONGDOC_CHECKPOINT_URL", url)
    capsys.readouterr()
    assert main(cli) == 0, capsys.readouterr().err
    return dict(json.loads(capsys.readouterr().out))


@pytest.mark.slow
def test_a_chain_killed_on_one_machine_resumes_on_another_through_postgres(
    postgres_url: str,
    server: FakeOpenAI,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    reader = ExtractiveReader("treasure")
    arrived, release = threading.Event(), threading.Event()

    def respond(request: dict[str, Any]) -> str:
        if _part_of(request) == HELD_PART and not release.is_set():
            arrived.set()
            release.wait(60)  # held until the first process is killed
        return reader(request["messages"], {})

    server.responder = respond
    paragraphs = [FILLER * 30 for _ in range(8)]
    paragraphs[6] = FILLER * 15 + FACT + " " + FILLER * 14
    doc = tmp_path / "doc.txt"
    doc.write_text("\n\n".join(paragraphs), encoding="utf-8")
    cli = ["ask", QUESTION, "--file", str(doc), "--strategy", "chain", "--json",
           "--notes-tokens", "48", "--answer-tokens", "48"]  # fmt: skip
    # No response cache: only the checkpoints can spare a finished call.
    monkeypatch.setenv("LONGDOC_CACHE", "false")
    machine_a, machine_b = tmp_path / "machine-a", tmp_path / "machine-b"
    env = {**os.environ, "LONGDOC_DATA_DIR": str(machine_a), "LONGDOC_CHECKPOINT_URL": postgres_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "longdoc", *cli], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        if not arrived.wait(60):
            proc.kill()
            pytest.fail(f"the chain never reached part {HELD_PART}: {proc.communicate()[1]!r}")
        proc.kill()  # SIGKILL: no handler runs, nothing is flushed on the way out
        proc.wait(30)
    finally:
        release.set()
    first = [_part_of(r) for r in server.requests]
    assert first == list(range(1, HELD_PART + 1))  # parts 1-2 finished, part 3 in flight
    assert _checkpoint_rows(postgres_url) >= HELD_PART - 1
    assert not (machine_a / "checkpoints.sqlite3").exists()

    setups: list[object] = []
    real_setup = AsyncPostgresSaver.setup

    async def counted_setup(self: AsyncPostgresSaver) -> None:
        setups.append(self)
        await real_setup(self)

    monkeypatch.setattr(AsyncPostgresSaver, "setup", counted_setup)
    before = len(server.requests)
    resumed = _ask(cli, machine_b, postgres_url, capsys, monkeypatch)
    again = [_part_of(r) for r in server.requests[before:]]
    total = resumed["parts"]
    assert total >= HELD_PART + 2 and resumed["resumed"]
    # 0 finished worker calls repeated: the resumed run starts at the one in flight
    assert again == [*range(HELD_PART, total + 1), None]
    assert FACT in resumed["answer"]
    assert not (machine_b / "checkpoints.sqlite3").exists()

    before = len(server.requests)
    finished = _ask(cli, machine_b, postgres_url, capsys, monkeypatch)
    assert len(server.requests) == before and finished["answer"] == resumed["answer"]
    assert len(setups) == 1  # the tables are set up once per process

    # Without the setting: SQLite under the data dir, as before, and the same answer
    uninterrupted = _ask(cli, tmp_path / "machine-c", None, capsys, monkeypatch)
    assert uninterrupted["answer"] == resumed["answer"] and not uninterrupted["resumed"]
    assert (tmp_path / "machine-c" / "checkpoints.sqlite3").is_file()


def test_the_checkpoint_url_must_be_postgres_and_stays_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LONGDOC_CHECKPOINT_URL", "mysql://root:hunter2@db/x")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "checkpoint_url (LONGDOC_CHECKPOINT_URL)" in str(info.value)
    assert "hunter2" not in str(info.value)
    monkeypatch.setenv("LONGDOC_CHECKPOINT_URL", "")
    assert load_settings().checkpoint_url is None  # empty = SQLite under the data dir
    monkeypatch.setenv("LONGDOC_CHECKPOINT_URL", "postgresql://u:hunter2@db:5432/x")
    url = load_settings().checkpoint_url
    assert url is not None and "hunter2" not in str(url)
    assert url.get_secret_value() == "postgresql://u:hunter2@db:5432/x"


def test_an_unreachable_database_is_one_clear_error_without_its_password() -> None:
    pytest.importorskip(
        "langgraph.checkpoint.postgres", reason="the postgres extra is not installed"
    )
    from longdoc.workflows.base import postgres_checkpointer

    url = f"postgresql://u:hunter2@127.0.0.1:{_free_port()}/x?connect_timeout=5"

    async def open_it() -> None:
        async with postgres_checkpointer(url):
            raise AssertionError("connected to a closed port")

    with pytest.raises(CheckpointStoreError) as info:
        asyncio.run(open_it())
    assert info.value.url.startswith("postgresql://u:***@127.0.0.1:")
    assert "hunter2" not in str(info.value) and "LONGDOC_CHECKPOINT_URL" in str(info.value)
    assert re.search(r"refused|connect", info.value.problem, re.I)
