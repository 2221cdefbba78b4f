"""The embedder in a process of its own: same vectors and counts, loud when it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from kill_support import readable

from longdoc.errors import EmbeddingProcessError, RetrievalError
from longdoc.retrieval import Index, embedding
from longdoc.retrieval.embedding import SentenceTransformerEmbedder, get_embedder
from longdoc.retrieval.embedding_process import ProcessEmbedder

NAME = "all-MiniLM-L6-v2"
TEXTS = ["Call me Ishmael.", "  The whale, the whale!  ", "", "It was the best of times."] * 9


@pytest.fixture(scope="module")
def apart() -> Iterator[ProcessEmbedder]:
    embedder = ProcessEmbedder(NAME, "cpu")
    yield embedder
    embedder.close()


@pytest.mark.slow
def test_it_gives_the_vectors_counts_and_identity_of_the_embedder_here(
    apart: ProcessEmbedder,
) -> None:
    here = get_embedder(NAME, "torch", Path("unused"), "cpu", "off")
    assert isinstance(here, SentenceTransformerEmbedder)
    assert (apart.identity, apart.dimension, apart.max_tokens) == (
        here.identity,
        here.dimension,
        here.max_tokens,
    )
    assert apart.count_tokens(TEXTS) == here.count_tokens(TEXTS)
    assert apart.tokenize(TEXTS[0]) == here.tokenize(TEXTS[0])
    np.testing.assert_allclose(apart.encode(TEXTS, 8), here.encode(TEXTS, 8), atol=1e-6)


@pytest.mark.slow
def test_encodes_started_together_come_back_each_to_its_own(apart: ProcessEmbedder) -> None:
    waits = [apart.start_encode(TEXTS[i : i + 5], 4) for i in range(0, 20, 5)]
    whole = apart.encode(TEXTS[:20], 4)
    got = np.concatenate([wait() for wait in reversed(waits)][::-1])
    np.testing.assert_allclose(got, whole, atol=1e-6)
    assert apart.encode([], 4).shape == (0, 384)


@pytest.mark.slow
def test_a_killed_process_fails_the_encode_loudly_and_the_next_starts_another(
    apart: ProcessEmbedder,
) -> None:
    first = apart.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    with pytest.raises(EmbeddingProcessError) as err:
        apart.encode(TEXTS[:2], 2)
    assert err.value.exit_code == -signal.SIGKILL
    assert "exit code -9" in str(err.value)
    assert apart.encode(TEXTS[:2], 2).shape == (2, 384)
    assert apart.pid not in (None, first)


@pytest.mark.slow
def test_a_model_that_cannot_load_is_one_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(RetrievalError) as err:
        ProcessEmbedder(str(tmp_path / "no-such-model"), "cpu")
    assert "no-such-model" in str(err.value)
    assert not isinstance(err.value, EmbeddingProcessError)


@pytest.mark.slow
def test_the_process_ends_when_closed_and_when_its_parent_dies() -> None:
    embedder = ProcessEmbedder(NAME, "cpu")
    child = embedder.pid
    assert child is not None
    exited = os.pidfd_open(child)
    embedder.close()
    assert readable(exited, 30)
    os.close(exited)
    script = (
        "import os\n"
        "from longdoc.retrieval.embedding_process import ProcessEmbedder\n"
        f"e = ProcessEmbedder({NAME!r}, 'cpu')\n"
        "print(e.pid, flush=True)\n"
        "input()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    orphan = int(parent.stdout.readline())
    exited = os.pidfd_open(orphan)
    assert not readable(exited, 0)  # alive while its parent is
    parent.kill()
    parent.wait()
    # Its pipe closed with the parent: it exits by itself.
    assert readable(exited, 30)
    os.close(exited)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []

    def record(kind: str) -> object:
        def made(name: str, device: str, bf16: bool = False) -> SimpleNamespace:
            calls.append((kind, device))
            return SimpleNamespace(dimension=384)

        return made

    monkeypatch.setattr(embedding, "_CACHE", {})
    monkeypatch.setattr(embedding, "SentenceTransformerEmbedder", record("here"))
    monkeypatch.setattr("longdoc.retrieval.embedding_process.ProcessEmbedder", record("apart"))
    return calls


def test_auto_embeds_apart_on_a_gpu_only(
    recorded: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    get_embedder(NAME, "auto", tmp_path, "cuda", "auto")
    get_embedder(NAME, "torch", tmp_path, "cpu", "auto")
    get_embedder(NAME, "torch", tmp_path, "cpu", "on")
    get_embedder(NAME, "torch", tmp_path, "cuda", "off")
    assert recorded == [("apart", "cuda"), ("here", "cpu"), ("apart", "cpu"), ("here", "cuda")]


def test_an_index_passes_its_device_and_process_settings(
    recorded: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LONGDOC_EMBEDDING_PROCESS", "off")  # the Index's own settings win
    Index("apart", embedding_device="cuda", embedding_process="auto")  # opening asks the dimension
    assert recorded == [("apart", "cuda")]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="pipe sizes are set on Linux only")
def test_its_pipes_hold_a_batch_of_vectors(apart: ProcessEmbedder) -> None:
    import fcntl

    from longdoc.retrieval.child import PIPE_BYTES

    apart.encode(TEXTS[:1])  # a child is running (an earlier test may have killed one)
    child = apart._child
    assert child is not None and child.proc.stdin is not None and child.proc.stdout is not None
    for pipe in (child.proc.stdin, child.proc.stdout):
        assert fcntl.fcntl(pipe.fileno(), fcntl.F_GETPIPE_SZ) == PIPE_BYTES
    assert PIPE_BYTES >= 600 * 384 * 4  # a book's worth of float32 vectors in one write


def test_a_reply_that_does_not_pickle_travels_as_one_error_saying_what_failed() -> None:
    import io
    import threading

    from longdoc.retrieval.child import read_reply, reply

    out = io.BytesIO()
    reply(out, (7, False, RuntimeError(threading.Lock())), "chunking")  # a lock: no pickle
    reply(out, (7, True, [1, 2]), "chunking")
    out.seek(0)
    task, ok, error = read_reply(out)
    assert (task, ok) == (7, False) and isinstance(error, RetrievalError)
    assert str(error).startswith("chunking failed: ")
    assert read_reply(out) == (7, True, [1, 2])


def test_replies_larger_than_the_pipe_arrive_whole_and_a_torn_one_is_an_eof() -> None:
    import threading

    from longdoc.retrieval.child import read_reply, reply

    vectors = np.arange(2_000 * 384, dtype=np.float32).reshape(2_000, 384)  # 3 MB
    texts = [f"chunk {i} " * 40 for i in range(3_000)]  # many small strings: pickle frames
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "rb") as inp, os.fdopen(write_fd, "wb") as out:

        def send() -> None:
            reply(out, (1, True, vectors), "embedding")
            reply(out, (2, True, texts), "chunking")
            out.write(b"\x10\x00\x00\x00\x00\x00\x00\x00abc")  # 16 bytes promised, 3 sent
            out.close()

        sender = threading.Thread(target=send)
        sender.start()
        task, ok, got = read_reply(inp)
        assert (task, ok) == (1, True) and np.array_equal(got, vectors)
        assert read_reply(inp) == (2, True, texts)
        with pytest.raises(EOFError, match="13 bytes short of a frame"):
            read_reply(inp)
        sender.join()
