"""The Chroma index, embedded and against a real ``chroma run`` server."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from retrieval_support import COOKING, SHIPS, chroma_server, write

from longdoc.config import load_settings
from longdoc.errors import DocumentNotFoundError, EmbeddingModelMismatchError, SourceNotFoundError
from longdoc.retrieval import Index, IngestEvent
from longdoc.retrieval.models import Record
from longdoc.retrieval.store import Store

pytestmark = pytest.mark.slow

ANIMALS = (
    "The cheetah is the fastest land animal and hunts antelope on the savanna. "
    "Owls hunt at night and can turn their heads almost all the way around. "
)
_names = (f"t{i:04d}" for i in itertools.count())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with chroma_server(tmp_path_factory.mktemp("chroma-server")) as port:
        yield port


@pytest.fixture(params=["embedded", "server"])
def make_index(request: pytest.FixtureRequest) -> Callable[..., Index]:
    """A factory of indexes on fresh collections, embedded or on the real server."""
    extra = {}
    if request.param == "server":
        extra = {"chroma_host": "127.0.0.1", "chroma_port": request.getfixturevalue("server")}
    collection = f"c-{next(_names)}"

    def make(name: str | None = None, **overrides: object) -> Index:
        settings = load_settings(**{**extra, **overrides.pop("settings", {})})  # type: ignore[dict-item]
        return Index(name or collection, settings=settings, **overrides)

    return make


def _folder(root: Path) -> Path:
    write(root / "animals.txt", ANIMALS * 3)
    write(root / "ships.md", "# Ships\n\n" + SHIPS * 3)
    write(root / "sub" / "cooking.txt", COOKING * 3)
    return root


def test_ingest_list_read_delete(make_index: Callable[..., Index], tmp_path: Path) -> None:
    index = make_index()
    events: list[IngestEvent] = []
    report = index.ingest(_folder(tmp_path / "docs"), on_progress=events.append)
    assert sorted(report.added) == ["docs/animals.txt", "docs/ships.md", "docs/sub/cooking.txt"]
    assert report.chunks_embedded >= 3 and not report.issues
    assert events[0].stage == "scan" and events[0].files_total == 3
    assert events[-1].stage == "done" and events[-1].chunks_embedded == report.chunks_embedded
    assert any(e.stage == "embed" for e in events)
    docs = {d.doc_id: d for d in index.list_documents()}
    assert set(docs) == set(report.added)
    chunks = index.read_document("docs/ships.md")
    assert [c.ordinal for c in chunks] == list(range(docs["docs/ships.md"].chunks))
    text = (tmp_path / "docs" / "ships.md").read_text()
    assert all(text[c.char_start : c.char_end] == c.text for c in chunks)
    assert index.delete_document("docs/ships.md") == len(chunks)
    with pytest.raises(DocumentNotFoundError, match=r"docs/ships\.md"):
        index.read_document("docs/ships.md")
    assert "docs/ships.md" not in {d.doc_id for d in index.list_documents()}


def test_incremental_skip_replace_and_prune(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    index = make_index()
    root = _folder(tmp_path / "docs")
    index.ingest(root)
    again = index.ingest(root)
    assert len(again.unchanged) == 3 and again.chunks_embedded == 0
    write(root / "animals.txt", ANIMALS + "Penguins cannot fly but swim very well. ")
    (root / "sub" / "cooking.txt").unlink()
    kept = index.ingest(root)  # without prune the vanished file stays
    assert kept.updated == ["docs/animals.txt"] and not kept.removed
    assert "Penguins" in "".join(c.text for c in index.read_document("docs/animals.txt"))
    assert index.store.count() == sum(d.chunks for d in index.list_documents())
    pruned = index.ingest(root, prune=True)
    assert pruned.removed == ["docs/sub/cooking.txt"] and len(pruned.unchanged) == 2
    assert {d.doc_id for d in index.list_documents()} == {"docs/animals.txt", "docs/ships.md"}


def test_a_new_chunker_rechunks_an_unchanged_file(
    make_index: Callable[..., Index], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = make_index()
    path = write(tmp_path / "book.txt", SHIPS * 4)
    index.ingest(path)
    before = index.read_document("book.txt")
    # An upgraded splitter (or another chunk_size) on the same text: chunked again.
    monkeypatch.setattr("longdoc.retrieval.chunking.CHUNKER_VERSION", "next")
    again = index.ingest(path)
    assert again.updated == ["book.txt"] and again.chunks_embedded == len(before)
    assert index.store.count() == len(before)  # the old version is gone, nothing doubled
    assert [c.text for c in index.read_document("book.txt")] == [c.text for c in before]
    assert index.ingest(path).unchanged == ["book.txt"]
    smaller = make_index(settings={"chunk_size": 60})  # the same collection, other sizes
    assert smaller.ingest(path).updated == ["book.txt"]
    assert len(smaller.read_document("book.txt")) > len(before)


def test_crash_between_write_and_delete_keeps_document(
    make_index: Callable[..., Index], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = make_index()
    path = write(tmp_path / "book.txt", SHIPS * 4)
    index.ingest(path)
    write(path, COOKING * 4)

    def crash(self: Store, *args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated crash before the old version is deleted")

    monkeypatch.setattr(Store, "delete", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        index.ingest(path)
    monkeypatch.undo()
    # Both versions are stored; the document reads back whole (the new one).
    chunks = index.read_document("book.txt")
    assert chunks and "sourdough" in "".join(c.text for c in chunks)
    assert index.store.count() > len(chunks)
    fixed = index.ingest(path)
    assert fixed.updated == ["book.txt"] and fixed.chunks_embedded == 0
    assert index.store.count() == len(index.read_document("book.txt"))
    hits = index.search("whaling ship captain", 5, mode="bm25")
    assert all("Pequod" not in h.chunk.text for h in hits)


def test_bad_inputs_reported_rest_ingested(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    index = make_index()
    root = _folder(tmp_path / "docs")
    write(root / "broken.pdf", b"%PDF-1.4 garbage")
    write(root / "latin.txt", ("Un café très célèbre à côté du théâtre. " * 8).encode("latin-1"))
    write(root / "blob.dat", b"\x00\x01\x02binary")
    with pytest.raises(SourceNotFoundError, match="no-such-dir"):
        index.ingest([root, tmp_path / "no-such-dir"])
    report = index.ingest(root)
    assert "docs/latin.txt" in report.added and len(report.added) == 4
    reasons = {Path(i.path).name: i for i in report.issues}
    assert reasons["broken.pdf"].skipped and reasons["blob.dat"].skipped
    assert not reasons["latin.txt"].skipped and "not UTF-8" in reasons["latin.txt"].reason
    assert "café très" in index.read_document("docs/latin.txt")[0].text


def test_model_mismatch_is_an_error(make_index: Callable[..., Index], tmp_path: Path) -> None:
    index = make_index()
    index.ingest_text(SHIPS, "ships")
    other = str(tmp_path / "some-other-model")
    with pytest.raises(EmbeddingModelMismatchError) as err:
        make_index(index.collection, settings={"embedding_model": other})
    assert err.value.stored_model == "all-MiniLM-L6-v2" and err.value.requested_model == other
    with pytest.raises(EmbeddingModelMismatchError):
        make_index(index.collection, embedding_backend="onnx-int8")


def test_search_modes_filters_and_bm25_in_step(make_index: Callable[..., Index]) -> None:
    index = make_index(chunk_size=48, chunk_overlap=8)
    index.ingest_text(ANIMALS * 2, "animals")
    index.ingest_text(SHIPS * 2, "ships")
    index.ingest_text(COOKING * 2, "cooking")
    for mode in ("dense", "bm25", "hybrid"):
        hits = index.search("Captain Ahab whaling ship Pequod", 2, mode=mode)
        assert hits and hits[0].chunk.doc_id == "ships", mode
        assert [h.rank for h in hits] == list(range(len(hits)))
    only = index.search("Captain Ahab whaling", 5, doc_ids=["cooking"], mode="hybrid")
    assert only and {h.chunk.doc_id for h in only} == {"cooking"}
    assert {h.chunk.doc_id for h in index.search("bread", 9, path_glob="anim*")} == {"animals"}
    assert index.search("bread", 5, path_glob="nothing*") == []
    ranged = index.search("bread dough", 9, doc_ids=["cooking"], ordinal_range=(1, 1))
    assert {h.chunk.ordinal for h in ranged} == {1}
    # BM25 follows deletes (and re-adds) at once.
    index.delete_document("ships")
    assert all(h.chunk.doc_id != "ships" for h in index.search("Pequod Ahab", 5, mode="bm25"))
    index.ingest_text(SHIPS, "ships-again")
    assert index.search("Pequod Ahab", 1, mode="bm25")[0].chunk.doc_id == "ships-again"


def test_neighbours_and_packing(make_index: Callable[..., Index]) -> None:
    index = make_index(chunk_size=40, chunk_overlap=0)
    text = " ".join(f"Sentence number {i} talks about topic {i} in detail." for i in range(40))
    index.ingest_text(text, "long")
    n = index.get_document("long").chunks
    assert n >= 5
    hit = index.search("topic 20 in detail", 1, mode="bm25")[0]
    expanded = index.search("topic 20 in detail", 1, mode="bm25", neighbours=1)
    ords = sorted(h.chunk.ordinal for h in expanded)
    o = hit.chunk.ordinal
    assert ords == [x for x in (o - 1, o, o + 1) if 0 <= x < n]
    assert [h.mode for h in expanded][1:] == ["neighbour"] * (len(expanded) - 1)
    counter = len  # characters as tokens: any callable works
    passages = index.retrieve("topic 20 in detail", 300, count_tokens=counter, neighbours=1)
    assert passages and sum(p.token_count for p in passages) <= 300
    assert all(p.token_count == len(p.text) for p in passages)
    assert [p.char_start for p in passages] == sorted(p.char_start for p in passages)
    assert all(text[p.char_start : p.char_end] == p.text for p in passages)
    assert any("topic 20" in p.text for p in passages)


def test_generic_records_for_other_collections(make_index: Callable[..., Index]) -> None:
    index = make_index()
    memory = Store(index.store.client, f"{index.collection}-memory", index.embedder)
    memory.add_records([
        Record(id="e1", text="The user prefers short answers.", metadata={"turn": 1}),
        Record(id="e2", text="Whales are mammals that breathe air.", metadata={"turn": 2}),
    ])  # fmt: skip
    best, score = memory.query("do whales breathe air", k=1)[0]
    assert best.id == "e2" and best.metadata["turn"] == 2 and 0 < score <= 1
    assert [r.id for r in memory.get_records(where={"turn": 1})] == ["e1"]
    memory.delete(ids=["e1"])
    assert memory.count() == 1 and index.store.count() == 0
