"""A torch embedder run in a process of its own: on a GPU, its launches share no GIL.

On a GPU the embedder is cheap and starting its work is not: eager PyTorch lets go of
the GIL and takes it back around each of the ~3,000 operations of 4,400 chunks, and
Chroma's embedded writes hold it for a whole write (0.3-0.5 s each). In one process
the two serialise (measured on an H200: starting those batches took 0.28 s alone and
1.6-2.1 s inside an ingest). :class:`ProcessEmbedder` runs the
:class:`~longdoc.retrieval.embedding.SentenceTransformerEmbedder` in a child, so this
process only pickles texts out and vectors in.

The child is ``python -m longdoc.retrieval.embedding_child``, fed pickled frames over
a pipe. Hand-written rather than :mod:`multiprocessing`, for the reasons given in
:mod:`longdoc.retrieval.chunk_pool` (spawn re-imports the caller's ``__main__``, fork
copies locks held by Chroma's and torch's threads). The child exits when its pipe
closes, so a killed parent leaves none behind. A child that dies fails the encodes in
hand with :class:`~longdoc.errors.EmbeddingProcessError`; the next encode starts a new
one.
"""

from __future__ import annotations

import atexit
import pickle
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from longdoc.errors import EmbeddingProcessError
from longdoc.retrieval.child import FramedChild, read_reply

if TYPE_CHECKING:
    import numpy as np

    from longdoc.retrieval.tokens import TokenCounter

__all__ = ["ProcessEmbedder"]

_PROTOCOL = pickle.HIGHEST_PROTOCOL


class _Child(FramedChild):
    """One embedding process: the model is loaded first, then ``(task, texts, batch)``."""

    def __init__(self, name: str, device: str, bf16: bool) -> None:
        super().__init__("longdoc.retrieval.embedding_child", name="longdoc-embed")
        self._task = 0
        self.info = self._hello(name, device, bf16)
        self.start()

    def _hello(self, name: str, device: str, bf16: bool) -> dict[str, Any]:
        """Have the child load the model: its facts, or the error that kept it from loading."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            pickle.dump((name, device, bf16), self.proc.stdin, protocol=_PROTOCOL)
            self.proc.stdin.flush()
            ok, payload = read_reply(self.proc.stdout)
        except Exception as e:  # a broken pipe or EOF: it died (an abort, out of memory)
            self.close()
            raise EmbeddingProcessError(
                f"the embedding process for {name!r} ended while loading the model",
                exit_code=self.proc.poll(),
            ) from e
        if not ok:
            self.close()
            raise payload
        return dict(payload)

    def submit(self, texts: list[str], batch_size: int) -> Future[Any]:
        """Send ``texts`` to be encoded; the future gives their vectors or the error."""
        future: Future[Any] = Future()
        with self.lock:
            self._task += 1
            task = self._task
        frame = pickle.dumps((task, texts, batch_size), protocol=_PROTOCOL)
        if not self.post(task, None, future, frame):
            raise self._ended()
        return future

    def lost(self, work: list[tuple[Any, Future[Any]]]) -> None:
        if work:
            ended = self._ended()
            for _item, future in work:
                future.set_exception(ended)

    def _ended(self) -> EmbeddingProcessError:
        code = self.proc.wait()
        return EmbeddingProcessError(
            f"the embedding process ended (exit code {code}); the next encode starts a new one",
            exit_code=code,
        )


class ProcessEmbedder:
    """A :class:`~longdoc.retrieval.embedding.SentenceTransformerEmbedder` in a child process.

    Token counts are computed here, with the child's tokenizer (it pickles); only
    encodes cross the pipe. :meth:`start_encode` sends the texts and returns at once.

    Args:
        name: model name or local path.
        device: ``cpu``, ``cuda`` or ``mps`` (already resolved).
        bf16: on a CPU, encode under bf16 autocast.

    Raises:
        RetrievalError: the model cannot be loaded.
        EmbeddingProcessError: the child ended while loading it.
    """

    def __init__(self, name: str, device: str = "cuda", bf16: bool = False) -> None:
        self.name, self.device, self._bf16 = name, device, bf16
        self._lock = threading.Lock()
        self._child: _Child | None = None
        info = self._running().info
        self.backend: str = info["backend"]
        self.identity: str = info["identity"]
        self.dimension: int = info["dimension"]
        self.max_tokens: int = info["max_tokens"]
        self.token_counter: TokenCounter = info["counter"]
        atexit.register(self.close)  # waits for the child's exit, not only its pipe's close

    @property
    def pid(self) -> int | None:
        """The child's process id (None once closed)."""
        return self._child.proc.pid if self._child is not None else None

    def _running(self) -> _Child:
        with self._lock:
            if self._child is None or not self._child.alive:
                if self._child is not None:
                    self._child.close()
                self._child = _Child(self.name, self.device, self._bf16)
            return self._child

    def tokenize(self, text: str) -> list[int]:
        """Token ids of one text, special tokens excluded."""
        return self.token_counter.ids(text)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, special tokens excluded."""
        return self.token_counter.count(texts)

    def start_encode(self, texts: Sequence[str], batch_size: int = 64) -> Callable[[], np.ndarray]:
        """Send ``texts`` to the child; the function returned waits for their vectors."""
        if not texts:
            import numpy as np

            empty = np.zeros((0, self.dimension), dtype=np.float32)
            return lambda: empty
        future = self._running().submit(list(texts), batch_size)
        return future.result

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        return self.start_encode(texts, batch_size)()

    def close(self) -> None:
        """Stop the child; a later encode starts another."""
        with self._lock:
            child, self._child = self._child, None
        if child is not None:
            child.close()
