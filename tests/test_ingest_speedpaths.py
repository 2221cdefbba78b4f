"""Ingest speed paths: span counts from one tokenization, worker processes, lean Chroma writes.

Each path must give what the plain one gives: the same chunks with exact counts, the
same stored records, and texts that read back from records of either layout.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from chunk_support import DyingCounter
from retrieval_support import write

from longdoc.config import load_settings
from longdoc.errors import RetrievalError
from longdoc.retrieval import Index, chunk_pool
from longdoc.retrieval.chunk_pool import ChunkPool
from longdoc.retrieval.chunking import Chunker
from longdoc.retrieval.embedding import Embedder, get_embedder
from longdoc.retrieval.lexical import Tokenizer
from longdoc.retrieval.models import LoadedDocument
from longdoc.retrieval.store import PACKED_KEY, TEXT_KEY
from longdoc.retrieval.tokens import TokenCounter

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return get_embedder("all-MiniLM-L6-v2", "torch")


@pytest.fixture(scope="module")
def counter(embedder: Embedder) -> TokenCounter:
    return embedder.token_counter  # type: ignore[attr-defined,no-any-return]


def _doc(text: str, doc_id: str = "d.txt") -> LoadedDocument:
    digest = hashlib.sha256(text.encode()).hexdigest()
    return LoadedDocument(doc_id=doc_id, source=doc_id, text=text, content_hash=digest)


def _chunkers(counter: TokenCounter, size: int, overlap: int) -> tuple[Chunker, Chunker]:
    plain = Chunker(counter.count, 254, chunk_size=size, chunk_overlap=overlap)
    spans = Chunker(counter.count, 254, chunk_size=size, chunk_overlap=overlap, spans=counter.spans)
    return plain, spans


def test_span_counts_split_a_book_as_per_text_counts_do(
    austen_text: str, counter: TokenCounter
) -> None:
    plain, spans = _chunkers(counter, 200, 20)
    doc = _doc(austen_text, "persuasion.txt")
    fast = spans.chunk(doc)
    assert [(c.char_start, c.char_end) for c in fast] == [
        (c.char_start, c.char_end) for c in plain.chunk(doc)
    ]
    assert len(fast) > 300
    assert [c.token_count for c in fast] == counter.count([c.text for c in fast])
    assert spans.signature != plain.signature  # the two ways may differ: stored apart


def test_span_counts_stay_exact_on_hostile_text(counter: TokenCounter) -> None:
    alphabet = [*"abcdefgh", *"éüßñ", *"日本語", *".,;!?-'\"()", " ", " ", "\n", "\n\n", "\t"]
    alphabet += ["\u00ad", "\x00", "\u200b", "unbelievably", "x" * 150, "http://a.b/c?d=e"]
    rng = random.Random(7)
    _plain, spans = _chunkers(counter, 40, 6)
    for _ in range(60):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 2500)))
        chunks = spans.chunk(_doc(text))
        assert [c.token_count for c in chunks] == counter.count([c.text for c in chunks])
        assert all(c.token_count <= 254 for c in chunks)
        assert all(text[c.char_start : c.char_end] == c.text for c in chunks)


def test_exact_counts_are_claimed_only_between_words(counter: TokenCounter) -> None:
    text = "The unbelievably long voyage, in 1851, ended."
    spans = counter.spans(text)
    word = text.index("unbelievably")
    inside = (word + 4, len(text))  # "elievably long ...": cut inside a word
    between = (word, len(text))
    comma = (0, text.index(","))  # ends at punctuation: a word boundary for BERT
    exact = spans.exact([inside, between, comma, (0, len(text))])
    assert exact[0] is None
    assert exact[1:] == counter.count([text[a:b] for a, b in (between, comma, (0, len(text)))])


def test_a_tokenizer_of_another_kind_never_claims_exact_counts() -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"a": 0, "b": 1, "[UNK]": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    spans = TokenCounter(tok).spans("a b a b")
    assert spans([(0, 7), (2, 7)]) == [4, 3]
    assert spans.exact([(0, 7), (2, 7)]) == [None, None]


def _texts(n: int) -> list[str]:
    return [
        "\n\n".join(
            f"Part {i} of file {k}: the survey of region {i} found {i * k} wells and a river."
            for i in range(30 + 7 * k)
        )
        for k in range(n)
    ]


def test_worker_processes_chunk_what_threads_chunk(
    counter: TokenCounter, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plain, spans = _chunkers(counter, 40, 6)
    docs = [_doc(t, f"f{k}.txt") for k, t in enumerate(_texts(4))]
    monkeypatch.setattr(chunk_pool, "PROCESS_AFTER_CHARS", 0)
    tokenizer = Tokenizer()
    with ChunkPool(spans, 2, tokenizer) as pool:
        futures = [pool.submit(d) for d in docs]
        got = [f.result(timeout=120) for f in futures]
        workers = pool.workers
    assert workers and os.getpid() not in workers
    assert [chunks for chunks, _terms in got] == [spans.chunk(d) for d in docs]
    for chunks, terms in got:  # the BM25 terms came along, as the index computes them
        assert terms == [tokenizer.terms(c.text) for c in chunks]
    for pid in workers:  # closed with the pool: nothing left behind
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_worker_killed_mid_document_costs_only_speed(
    counter: TokenCounter, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    dying = DyingCounter(counter, "POISON", os.getpid())
    chunker = Chunker(dying.count, 254, chunk_size=40, chunk_overlap=6)
    texts = _texts(4)
    # The first document: with idle workers it goes to a worker (threads count double).
    texts[0] = texts[0].replace("region 3 ", "region POISON ")
    docs = [_doc(t, f"f{k}.txt") for k, t in enumerate(texts)]
    monkeypatch.setattr(chunk_pool, "PROCESS_AFTER_CHARS", 0)
    logs = caplog.at_level(logging.WARNING, logger="longdoc.retrieval.chunk_pool")
    with logs, ChunkPool(chunker, 2) as pool:
        got = [f.result(timeout=120) for f in [pool.submit(d) for d in docs]]
    assert got == [(chunker.chunk(d), None) for d in docs]
    assert any("chunking process ended" in r.getMessage() for r in caplog.records)


def test_an_ingest_in_worker_processes_stores_the_same_records(
    embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs"
    for k, text in enumerate(_texts(3)):
        write(folder / f"f{k}.txt", text)
    stored = {}
    for label, after in (("threads", 10**12), ("processes", 0)):
        monkeypatch.setattr(chunk_pool, "PROCESS_AFTER_CHARS", after)
        settings = load_settings(data_dir=tmp_path / label, chroma_host=None)
        index = Index(settings=settings, embedder=embedder, chunk_size=40, chunk_overlap=4)
        report = index.ingest(folder)
        assert len(report.added) == 3
        stored[label] = {
            i: (t, {k: v for k, v in m.items() if k != "ingested_at"})
            for i, t, m in index.store.get()
        }
        hits = index.search("wells of region 12 river survey", 1000, mode="bm25")
        # Documents are written as their chunks are ready: equal scores may rank either way,
        # so every hit is compared, in an order of its own.
        stored[f"{label} bm25"] = sorted((-h.score, h.chunk.doc_id, h.chunk.ordinal) for h in hits)
    assert stored["threads"] == stored["processes"] and len(stored["threads"]) > 30
    assert stored["threads bm25"] == stored["processes bm25"] and stored["threads bm25"]


def test_texts_live_in_metadata_and_records_of_the_old_layout_read_the_same(
    embedder: Embedder, tmp_path: Path
) -> None:
    settings = load_settings(data_dir=tmp_path / "data", chroma_host=None)
    index = Index(settings=settings, embedder=embedder, chunk_size=40, chunk_overlap=4)
    index.ingest_text("The Pequod sailed from Nantucket after sperm whales.", "new.txt")
    store = index.store
    raw = store._collection.get(include=["documents", "metadatas"])
    assert raw["documents"] == [None] and TEXT_KEY in raw["metadatas"][0]  # no Chroma document
    # Only what filters read stays a Chroma key; the rest is one packed JSON value.
    assert set(raw["metadatas"][0]) == {"doc_id", "ordinal", PACKED_KEY, TEXT_KEY}
    (_i, _t, flat), *_ = store.get()
    assert flat["doc_hash"] and flat["char_end"] > 0 and PACKED_KEY not in flat
    with pytest.raises(RetrievalError, match="doc_hash"):
        list(store.get(where={"$and": [{"doc_id": "new.txt"}, {"doc_hash": "x"}]}))
    old = "Sourdough needs a fed starter and a hot Dutch oven."
    store._collection.upsert(  # as versions before this one wrote records
        ids=["old"],
        documents=[old],
        metadatas=[{"doc_id": "old.txt"}],
        embeddings=np.asarray(embedder.encode([old]), dtype=np.float32),
    )
    rows = {i: (t, m) for i, t, m in store.get()}
    assert rows["old"] == (old, {"doc_id": "old.txt"})
    assert rows[raw["ids"][0]][0] == "The Pequod sailed from Nantucket after sperm whales."
    assert all(TEXT_KEY not in m for _t, m in rows.values())
    (best, _score), *_ = store.query("bread starter oven", k=2)
    assert best.id == "old" and best.text == old
    (whale, _score), *_ = store.query("whaling ship", k=2)
    assert whale.text.startswith("The Pequod") and TEXT_KEY not in whale.metadata


_KILLED_PARENT = """
import sys
from longdoc.retrieval import chunk_pool
from longdoc.retrieval.chunking import Chunker
from longdoc.retrieval.embedding import get_embedder
from longdoc.retrieval.models import LoadedDocument

chunk_pool.PROCESS_AFTER_CHARS = 0
counter = get_embedder("all-MiniLM-L6-v2", "torch").token_counter
chunker = Chunker(counter.count, 254, chunk_size=40, chunk_overlap=6, spans=counter.spans)
pool = chunk_pool.ChunkPool(chunker, 2)
doc = LoadedDocument(doc_id="d", source="d", text="One sentence. " * 400, content_hash="x")
pool.submit(doc).result(timeout=120)
print(*pool.workers, flush=True)
sys.stdin.read()  # until the test kills this process
"""


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")  # exited; a zombie waits for a reaper that may not come


def test_chunking_workers_exit_when_the_ingest_is_killed() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_PARENT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    workers = [int(p) for p in child.stdout.readline().split()]
    assert workers and not any(_gone(p) for p in workers)
    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 60  # a poll with a deadline, not a timed sleep
    while not all(_gone(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(p) for p in workers)


def test_the_bm25_tokenizer_travels_without_bm25s_and_a_custom_stemmer_stays_home() -> None:
    import pickle

    tokenizer = Tokenizer()
    code = (
        "import pickle, sys; t = pickle.loads(sys.stdin.buffer.read()); "
        "print(t.terms('The running whales of getUserName'), 'bm25s' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(tokenizer), capture_output=True, check=True
    )
    assert out.stdout.decode().split() == [
        *tokenizer.terms("The running whales of getUserName").split(),
        "False",
    ]
    with pytest.raises(TypeError, match="custom stemmer"):
        pickle.dumps(Tokenizer(stem=str.lower))
