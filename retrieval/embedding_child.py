"""The embedding process's side of :mod:`longdoc.retrieval.embedding_process`.

Run as ``python -m longdoc.retrieval.embedding_child``: it loads the model named by the
first frame, answers with its facts (or the error), then starts each encode as its
frame comes and sends the vectors back from a thread, in order. A module of its own so
that the parent's side imports nothing of the embedders (which choose it).
"""

from __future__ import annotations

import pickle
import queue
import threading
from collections.abc import Callable
from typing import IO, Any

from longdoc.errors import RetrievalError
from longdoc.retrieval.child import reply, run_child

__all__: list[str] = []


def _load(name: str, device: str, bf16: bool) -> tuple[bool, Any]:
    """The child's embedder and its facts, or the error."""
    from longdoc.retrieval.embedding import SentenceTransformerEmbedder

    try:
        embedder = SentenceTransformerEmbedder(name, device, bf16=bf16)
    except RetrievalError as e:
        return False, e
    except Exception as e:  # anything else still reaches the parent as one error
        return False, RetrievalError(f"cannot load embedding model {name!r}: {e!r}")
    facts = {
        "backend": embedder.backend,
        "identity": embedder.identity,
        "dimension": embedder.dimension,
        "max_tokens": embedder.max_tokens,
        "counter": embedder.token_counter,
    }
    return True, (embedder, facts)


def _serve(inp: IO[bytes], out: IO[bytes]) -> None:
    """The child's loop: start each encode as it comes; a thread sends the vectors back."""
    ok, loaded = _load(*pickle.load(inp))
    write = threading.Lock()  # the loop and the sender thread both reply

    def send(frame: tuple[Any, ...]) -> None:
        with write:
            reply(out, frame, "embedding")

    send((True, loaded[1]) if ok else (False, loaded))
    if not ok:
        return
    embedder = loaded[0]
    started: queue.Queue[tuple[int, Callable[[], Any]] | None] = queue.Queue()

    def finish() -> None:  # waits on each encode in turn (the device frees the GIL)
        while (item := started.get()) is not None:
            task, wait = item
            try:
                send((task, True, wait()))
            except Exception as e:  # handed to whoever waits on the vectors
                send((task, False, e))

    sender = threading.Thread(target=finish, daemon=True)
    sender.start()
    while True:
        try:
            task, texts, batch_size = pickle.load(inp)
        except EOFError:
            break
        try:
            started.put((task, embedder.start_encode(texts, batch_size)))
        except Exception as e:
            started.put((task, _raiser(e)))
    started.put(None)
    sender.join()


def _raiser(error: Exception) -> Callable[[], Any]:
    def wait() -> Any:
        raise error

    return wait


if __name__ == "__main__":
    run_child(_serve)
