"""Chunking: verbatim offsets on whole books, code along syntax, nothing truncated."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.node_parser import SentenceSplitter

from longdoc.config import load_settings
from longdoc.retrieval import Index, chunking
from longdoc.retrieval.chunking import Chunker
from longdoc.retrieval.embedding import Embedder, get_embedder
from longdoc.retrieval.loading import load_file
from longdoc.retrieval.models import Chunk, LoadedDocument

pytestmark = pytest.mark.slow

CODE = '''"""A module."""

import os

LIMIT = 3


def top(x):
    """Top-level function."""
    return x + 1


class Shape:
    """A shape."""

    sides = 0

    def area(self):
        return 0

    @property
    def name(self):
        return "shape"


async def fetch(url):
    return url
'''


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return get_embedder("all-MiniLM-L6-v2", "torch")


@pytest.fixture(scope="module")
def chunker(embedder: Embedder) -> Chunker:
    return Chunker(embedder.count_tokens, embedder.max_tokens, chunk_size=200, chunk_overlap=20)


def _doc(text: str, doc_id: str = "d", language: str | None = None) -> LoadedDocument:
    return LoadedDocument(
        doc_id=doc_id, source=doc_id, text=text, kind="code" if language else "prose",
        language=language, content_hash=hashlib.sha256(text.encode()).hexdigest(),
    )  # fmt: skip


def _check_offsets(doc: LoadedDocument, chunks: list[Chunk]) -> None:
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert doc.text[c.char_start : c.char_end] == c.text
        assert c.content_hash == hashlib.sha256(c.text.encode()).hexdigest()
        assert c.doc_id == doc.doc_id and c.source == doc.source
    starts = [c.char_start for c in chunks]
    assert starts == sorted(starts)


def _not_truncated(embedder: Embedder, chunks: list[Chunk]) -> None:
    # Counted with the model's own tokenizer, special tokens included, against
    # the length the SentenceTransformer truncates at.
    model = embedder.model  # type: ignore[attr-defined]
    ids = model.tokenizer([c.embed_text for c in chunks])["input_ids"]
    assert max(len(i) for i in ids) <= model.max_seq_length
    for c, i in zip(chunks, ids, strict=True):
        assert c.token_count == len(i) - 2


def test_whole_book_offsets_and_limits(
    austen_text: str, chunker: Chunker, embedder: Embedder
) -> None:
    doc = _doc(austen_text, "persuasion.txt")
    chunks = chunker.chunk(doc)
    assert len(chunks) > 300
    _check_offsets(doc, chunks)
    _not_truncated(embedder, chunks)
    assert max(c.token_count for c in chunks) <= 200 + 4
    # Coverage: the chunks overlap a little and leave no text out.
    for a, b in itertools.pairwise(chunks):
        assert b.char_start <= a.char_end + 3 or not austen_text[a.char_end : b.char_start].strip()


def test_moby_dick_offsets_after_gutenberg_strip(shared_data: Path, chunker: Chunker) -> None:
    doc = load_file(shared_data / "books" / "moby_dick.txt")
    assert isinstance(doc, LoadedDocument)
    chunks = chunker.chunk(doc)
    _check_offsets(doc, chunks)
    assert chunks[0].text.startswith("Moby Dick; Or, The Whale")


def test_large_chunk_size_is_capped_by_the_embedder(embedder: Embedder, austen_text: str) -> None:
    big = Chunker(embedder.count_tokens, embedder.max_tokens, chunk_size=1024, chunk_overlap=100)
    doc = _doc(austen_text[:60000])
    chunks = big.chunk(doc)
    _check_offsets(doc, chunks)
    _not_truncated(embedder, chunks)


def test_one_huge_line_is_cut_within_limits(chunker: Chunker, embedder: Embedder) -> None:
    line = " ".join(f"v{i}=f({i});" for i in range(1500))  # one line of ~9000 tokens
    doc = _doc(line + "\n", "one.js", language="javascript")
    chunks = chunker.chunk(doc)
    assert len(chunks) > 1
    _check_offsets(doc, chunks)
    _not_truncated(embedder, chunks)


def test_python_code_split_along_syntax(chunker: Chunker, embedder: Embedder) -> None:
    doc = _doc(CODE, "pkg/shapes.py", language="python")
    merged = chunker.chunk(doc)  # small neighbours share a chunk up to chunk_size
    assert [c.symbol for c in merged] == ["top Shape fetch"]
    # without merging, one chunk per definition
    chunks = Chunker(embedder.count_tokens, embedder.max_tokens, chunk_size=1).chunk(doc)
    _check_offsets(doc, chunks)
    assert "".join(c.text for c in chunks) == CODE  # every line belongs to one chunk
    by_symbol = {c.symbol: c for c in chunks}
    assert by_symbol["top"].symbol_kind == "function"
    assert by_symbol["Shape"].symbol_kind == "class"
    assert by_symbol["fetch"].symbol_kind == "function"
    top = by_symbol["top"]
    assert (top.line_start, top.line_end) == (8, 10)  # the blank lines after it are not cited
    assert top.text.strip().startswith("def top(x):")
    assert all(c.header.startswith("# file: pkg/shapes.py") for c in chunks)
    assert all(not c.text.startswith("# file:") for c in chunks)  # header kept apart
    _not_truncated(embedder, chunks)


def test_big_class_is_split_into_methods_with_class_header(chunker: Chunker) -> None:
    body = "".join(
        f"    def method_{i}(self):\n"
        + "".join(f"        value_{j} = compute_{j}(self, {j})\n" for j in range(12))
        + "        return None\n\n"
        for i in range(6)
    )
    code = "import os\n\n\nclass Big:\n    '''Doc.'''\n\n" + body
    doc = _doc(code, "big.py", language="python")
    chunks = chunker.chunk(doc)
    _check_offsets(doc, chunks)
    # the class head (docstring) is small: it shares a chunk with the first method
    assert chunks[1].symbol == "Big Big.method_0" and chunks[1].symbol_kind == "class"
    methods = [c for c in chunks if c.symbol_kind == "method"]
    assert {c.symbol for c in methods} == {f"Big.method_{i}" for i in range(1, 6)}
    assert all(c.header.splitlines()[-1] == "class Big:" for c in methods)
    m3 = next(c for c in methods if c.symbol == "Big.method_3")
    assert m3.text.lstrip().startswith("def method_3(self):")
    assert code.splitlines()[m3.line_start - 1].strip() == "def method_3(self):"


def test_other_code_and_syntax_errors(chunker: Chunker) -> None:
    js = "".join(f"function f{i}() {{ return {i}; }}\n" for i in range(150))
    doc = _doc(js, "app.js", language="javascript")
    chunks = chunker.chunk(doc)
    _check_offsets(doc, chunks)
    assert len(chunks) >= 3 and all(c.symbol_kind == "function" for c in chunks)
    assert " ".join(c.symbol or "" for c in chunks).split() == [f"f{i}" for i in range(150)]
    assert chunks[0].line_start == 1 and chunks[1].line_start == chunks[0].line_end + 1
    kotlin = _doc("".join(f"val v{i} = {i}\n" for i in range(150)), "app.kt", language="kotlin")
    lines = chunker.chunk(kotlin)
    assert len(lines) >= 3 and all(c.symbol_kind == "lines" for c in lines)
    broken = _doc("def broken(:\n    pass\n\n\ndef fine():\n    pass\n", "b.py", language="python")
    chunks = chunker.chunk(broken)  # best effort along what the parser recovered
    _check_offsets(broken, chunks)
    assert "".join(c.text for c in chunks) == broken.text


def test_batched_counting_gives_the_stock_splitters_chunks(
    austen_text: str, chunker: Chunker, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _doc(austen_text, "persuasion.txt")
    batched = chunker.chunk(doc)

    def stock(
        text: str, size: int, tokenizer: Any, *, chunk_overlap: int, **_kw: Any
    ) -> list[str]:  # llama-index's own splitter, one count a call
        splitter = SentenceSplitter(
            chunk_size=size, chunk_overlap=chunk_overlap, tokenizer=tokenizer
        )
        return list(splitter.split_text(text))

    monkeypatch.setattr(chunking, "sentence_split", stock)
    assert chunker.chunk(doc) == batched and len(batched) > 300


def test_ingest_chunks_ahead_in_order_and_a_chunking_error_is_the_ingest_error(
    embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for n in range(6):
        body = " ".join(f"Doc {n} sentence {i} is about topic {n}." for i in range(40 + 9 * n))
        (folder / f"d{n}.txt").write_text(body, encoding="utf-8")
    settings = load_settings(data_dir=tmp_path / "data", chroma_host=None)
    index = Index(settings=settings, embedder=embedder, chunk_size=40, chunk_overlap=4)
    real = Chunker.chunk

    def failing(self: Chunker, doc: LoadedDocument) -> list[Chunk]:
        if doc.doc_id.endswith("d4.txt"):
            raise ValueError("chunker broke on d4")
        return real(self, doc)

    monkeypatch.setattr(Chunker, "chunk", failing)
    with pytest.raises(ValueError, match="chunker broke on d4"):
        index.ingest(folder)
    listed = {Path(d.source).name for d in index.list_documents()}
    assert listed <= {"d0.txt", "d1.txt", "d2.txt", "d3.txt"}  # written in order, before d4
    monkeypatch.setattr(Chunker, "chunk", real)
    report = index.ingest(folder)
    assert len(report.added) == 6 - len(listed) and len(report.unchanged) == len(listed)
    for info in index.list_documents():  # every document reads back whole, in order
        stored = [(c.char_start, c.text) for c in index.read_document(info.doc_id)]
        fresh = index.chunker.chunk(load_file(Path(info.source)))
        assert stored == [(c.char_start, c.text) for c in fresh] and len(stored) == info.chunks
