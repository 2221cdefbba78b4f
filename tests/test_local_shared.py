"""One embedded llama.cpp server shared by the longdoc processes of a data dir.

The slow tests run real client processes (a Gateway each, on the real SmolLM2 server)
and kill them, and the server, with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from kill_support import readable

from longdoc.agents.gateway.local import (
    REGISTRY_FOLDER,
    ServerFiles,
    ServerShape,
    live_leases,
    write_entry,
)
from longdoc.agents.gateway.local_serve import still_wanted

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

# A user process; each line on stdin makes one call, answered by a JSON line. With the
# argument "gateway" it calls through a Gateway (litellm, the user's path), else it joins
# the server itself and posts to it (no litellm import: a quicker start).
CLIENT = """
import json, os, sys, urllib.request
from longdoc.agents.gateway.local import get_local_server
from longdoc.config import load_settings

settings = load_settings(local_threads=1, max_concurrency=2, context_window=1024)
shape = {"slots": 2, "slot_context": 1024, "threads": 1, "data_dir": settings.data_dir}
if sys.argv[1] == "gateway":
    from longdoc.agents.gateway import Gateway
    gateway = Gateway(settings)  # the server is joined at the first call, not here

def call():
    if sys.argv[1] == "gateway":
        reply = gateway.complete("Say yes.", max_tokens=4, cache=False,
                                 extra_body={"ignore_eos": True})
        return gateway.endpoint.api_base, reply.completion_tokens, reply.finish_reason
    server = get_local_server(None, **shape)
    body = {"model": server.alias, "messages": [{"role": "user", "content": "Say yes."}],
            "max_tokens": 4, "ignore_eos": True}
    request = urllib.request.Request(server.api_base + "/chat/completions",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    reply = json.loads(opener.open(request, timeout=120).read())
    choice = reply["choices"][0]
    return server.api_base, reply["usage"]["completion_tokens"], choice["finish_reason"]

for _ in sys.stdin:
    api_base, tokens, finish = call()
    server = get_local_server(None, **shape)
    print(json.dumps({"server": server.pid, "api_base": api_base, "tokens": tokens,
                      "finish": finish}), flush=True)
"""


def _alive(pid: int) -> bool:
    # Independent of the code under test: a zombie (exited, not yet reaped) is gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _servers_of(folder: Path) -> list[int]:
    """Live server processes whose registry folder is ``folder``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = b"longdoc.agents.gateway.local_serve" in argv and str(folder).encode() in argv
        if ours and _alive(int(proc.name)):
            pids.append(int(proc.name))
    return sorted(pids)


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting until {what}")
        time.sleep(0.05)  # a poll interval, not a wait for an outcome


class Client:
    """A longdoc user process driven through its stdin."""

    def __init__(self, cwd: Path, name: str, *, gateway: bool) -> None:
        self.log = cwd / f"{name}.stderr"
        with self.log.open("wb") as err:
            # cwd outside the repository root: its folders must not shadow packages
            self.proc = subprocess.Popen(
                [sys.executable, "-c", CLIENT, "gateway" if gateway else "plain"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=cwd,
            )

    def _pipe(self, which: str) -> IO[bytes]:
        pipe = getattr(self.proc, which)
        assert pipe is not None
        return pipe  # type: ignore[no-any-return]

    def call(self, timeout: float = 180.0) -> dict[str, Any]:
        self._pipe("stdin").write(b"call\n")
        self._pipe("stdin").flush()
        ready = readable(self._pipe("stdout"), timeout)
        line = self._pipe("stdout").readline() if ready else b""
        if not line:
            self.kill()
            pytest.fail(f"client gave no answer: {self.log.read_text()[-2000:]}")
        reply: dict[str, Any] = json.loads(line)
        assert reply["tokens"] == 4 and reply["finish"] == "length"  # a real completion
        return reply

    def exit(self) -> None:
        self._pipe("stdin").close()
        assert self.proc.wait(timeout=60) == 0, self.log.read_text()[-2000:]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)


@pytest.fixture
def folder() -> Path:
    return Path(os.environ["LONGDOC_DATA_DIR"]) / REGISTRY_FOLDER


@pytest.fixture
def clients(tmp_path: Path, folder: Path) -> Iterator[Callable[..., Client]]:
    started: list[Client] = []

    def start(*, gateway: bool = False) -> Client:
        started.append(Client(tmp_path, f"client{len(started)}", gateway=gateway))
        return started[-1]

    yield start
    for client in started:  # a failing test leaves no process behind
        if client.proc.poll() is None:
            client.kill()
    for pid in _servers_of(folder):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
@needs_proc
def test_two_processes_share_one_server_and_the_last_out_stops_it(
    clients: Callable[..., Client], folder: Path
) -> None:
    # started together, they race for the lock: one a Gateway (the user's path), one plain
    users = [clients(gateway=True), clients()]
    replies = [user.call() for user in users]
    server = replies[0]["server"]
    assert replies[1]["server"] == server and replies[0]["api_base"] == replies[1]["api_base"]
    assert _servers_of(folder) == [server]  # exactly one llama.cpp ran
    (starter,) = [u for u in users if u.proc.pid == _parent(server)]
    (other,) = [u for u in users if u is not starter]
    starter.kill()  # SIGKILL the user that started the server while the other uses it
    assert other.call()["server"] == server
    assert _servers_of(folder) == [server]
    other.exit()
    _wait_until(lambda: not _servers_of(folder), "the last user's server is gone")
    assert not list(folder.glob("*.json")) and not list(folder.glob("*.leases/*"))


@pytest.mark.slow
@needs_proc
def test_after_everyone_is_killed_the_next_user_starts_a_fresh_server(
    clients: Callable[..., Client], folder: Path
) -> None:
    first, second, third = clients(), clients(), clients()  # the third waits to call
    old = first.call()["server"]
    assert second.call()["server"] == old
    for client in (first, second):
        client.kill()
    os.kill(old, signal.SIGKILL)  # the server too: its registry entry stays behind
    _wait_until(lambda: not _alive(old), "the killed server is gone")
    (entry,) = folder.glob("*.json")
    assert json.loads(entry.read_text())["pid"] == old
    fresh = third.call()["server"]  # no hanging on the dead port
    assert fresh != old and _servers_of(folder) == [fresh]
    third.kill()  # its only user killed: the server notices and exits by itself
    _wait_until(lambda: not _servers_of(folder), "the unused server exits by itself")
    assert not list(folder.glob("*.json"))


def _dead_pid(tmp_path: Path) -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"], cwd=tmp_path)
    proc.wait()
    return proc.pid


def test_leases_of_dead_processes_are_pruned(tmp_path: Path) -> None:
    files = ServerFiles(tmp_path, "k")
    files.leases.mkdir()
    dead = _dead_pid(tmp_path)
    for pid in (os.getpid(), dead):
        files.lease(pid).touch()
    assert live_leases(files) == [os.getpid()]
    assert not files.lease(dead).exists()


def test_a_server_runs_while_it_is_registered_and_used(tmp_path: Path) -> None:
    files = ServerFiles(tmp_path, "k")
    files.leases.mkdir()
    me = os.getpid()
    write_entry(files, {"pid": me, "address": "http://127.0.0.1:1"})
    files.lease(me).touch()
    assert still_wanted(files, me, wait=1.0)
    assert not still_wanted(files, me + 1, wait=1.0)  # the entry names another server
    files.lease(me).unlink()
    files.lease(_dead_pid(tmp_path)).touch()
    assert not still_wanted(files, me, wait=1.0)  # only a dead user is left
    assert not files.registry.exists()  # withdrawn: nobody will join it any more
    assert not still_wanted(ServerFiles(tmp_path / "gone", "k"), me, wait=1.0)


def test_settings_that_differ_never_share_a_server(tmp_path: Path) -> None:
    model, other = tmp_path / "a.gguf", tmp_path / "b.gguf"
    model.write_bytes(b"GGUF one")
    other.write_bytes(b"GGUF two")
    base = ServerShape(model, slots=2, slot_context=1024, threads=1)
    shapes = [
        base,
        ServerShape(other, 2, 1024, 1),
        ServerShape(model, 4, 1024, 1),
        ServerShape(model, 2, 2048, 1),
        ServerShape(model, 2, 1024, 0),
    ]
    assert len({shape.key() for shape in shapes}) == len(shapes)
    before = base.key()
    assert ServerShape(model, 2, 1024, 1).key() == before
    model.write_bytes(b"GGUF one, replaced")  # new weights under the same name
    assert base.key() != before
