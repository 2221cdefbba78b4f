"""Real kills: the CLI SIGKILLed at a chosen point, then run again (issue 16, section 1).

Each test runs the command once uninterrupted (the reference, its own data dir), once
in a process killed at a known point (a write blocked by ``kill_support``, or a model
request held by the fake server), then again to completion; the server counts the
calls. Required: no finished model call repeated, no chunk lost or duplicated, and
the same output as the reference. Also here: what readers see of a killed ingest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from kill_support import HoldAt, kill, kill_and_rerun, prompt_of, spawn_cli, wait_until
from retrieval_support import write

from longdoc.cli import main
from longdoc.config import load_settings
from longdoc.errors import IncompleteDocumentError
from longdoc.retrieval import Index
from longdoc.retrieval.store import Store
from longdoc.testing.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow

TOPICS = ["whales", "bread", "comets", "violins", "glaciers", "beetles", "ferries", "tulips"]


def _prose(topic: str, paragraphs: int) -> str:
    """Paragraphs about ``topic``, each different (so every chunk has its own text)."""
    return "\n\n".join(
        f"Note {i} on {topic}: the {topic} of section {i} differ from those of section "
        f"{i + 1} in size, colour, age and origin, as record {i * 7} of the {topic} "
        f"survey shows; observers counted {i * 13} of them near station {i}."
        for i in range(paragraphs)
    )


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small chunks, one embedding per batch: one Chroma write holds 4 chunks, in file order."""
    monkeypatch.setenv("LONGDOC_INGEST_ORDER", "given")  # the kills fall in a known document
    monkeypatch.setenv("LONGDOC_CHUNK_SIZE", "40")
    monkeypatch.setenv("LONGDOC_CHUNK_OVERLAP", "4")
    monkeypatch.setenv("LONGDOC_EMBED_BATCH_SIZE", "1")
    monkeypatch.setenv("LONGDOC_INGEST_WRITE_CHUNKS", "4")


def _use(monkeypatch: pytest.MonkeyPatch, data: Path) -> Index:
    monkeypatch.setenv("LONGDOC_DATA_DIR", str(data))
    return Index(settings=load_settings())


def _interrupt_ingest(docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Index:
    """Ingest ``docs`` in a process SIGKILLed as it begins its 3rd Chroma write."""
    index = _use(monkeypatch, tmp_path / "killed")
    marker = tmp_path / "blocked"
    marker.unlink(missing_ok=True)
    proc = spawn_cli(["ingest", str(docs)], tmp_path, block_write=3, marker=marker)
    wait_until(marker.exists, proc, "the third write")
    kill(proc)
    return index


# --- ingest -------------------------------------------------------------------------------------
def test_a_killed_ingest_hides_the_half_written_version_and_a_rerun_completes_it(
    small_chunks: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    docs = tmp_path / "docs"
    write(docs / "a.txt", _prose("whales", 2))  # one write of at most 4 chunks
    write(docs / "b.txt", _prose("comets", 14))  # several writes
    write(docs / "c.txt", _prose("tulips", 2))
    ref = _use(monkeypatch, tmp_path / "ref")
    assert main(["ingest", str(docs)]) == 0
    expected = {d.doc_id: d for d in ref.list_documents()}
    b_id = next(i for i in expected if i.endswith("b.txt"))
    assert expected[b_id].chunks > 8  # b needs 3 writes or more: it is cut in the middle

    killed = _interrupt_ingest(docs, tmp_path, monkeypatch)
    listed = [d.doc_id for d in killed.list_documents()]
    assert listed == [i for i in expected if i.endswith("a.txt")]  # b half written, c never
    with pytest.raises(IncompleteDocumentError) as caught:
        killed.document_text(b_id)
    assert (caught.value.doc_id, caught.value.stored) == (b_id, 4)
    assert caught.value.expected == expected[b_id].chunks
    assert f"{b_id} is incomplete: 4 of {expected[b_id].chunks} chunks stored" in str(caught.value)
    for reader in (killed.get_document, killed.read_document):
        with pytest.raises(IncompleteDocumentError):
            reader(b_id)
    capsys.readouterr()
    assert main(["index", "show", b_id]) != 0  # the CLI refuses it in one line, no traceback
    assert "is incomplete: 4 of" in capsys.readouterr().err
    for mode in ("dense", "bm25", "hybrid"):
        hits = killed.search("comets survey station", 10, mode=mode)  # type: ignore[arg-type]
        assert hits and all(h.chunk.doc_id != b_id for h in hits), mode

    assert main(["ingest", str(docs)]) == 0  # the same command again
    again = {d.doc_id: d for d in killed.list_documents()}
    assert {i: (d.chunks, d.content_hash) for i, d in again.items()} == {
        i: (d.chunks, d.content_hash) for i, d in expected.items()
    }
    assert killed.store.count() == ref.store.count() == sum(d.chunks for d in expected.values())
    for doc_id in expected:
        assert killed.document_text(doc_id) == ref.document_text(doc_id)
    hits = killed.search("comets survey station", 30, mode="hybrid")
    assert len({h.id for h in hits}) == len(hits) and {h.chunk.doc_id for h in hits} >= {b_id}

    # A changed b.txt, killed again as its new version is half written: the old one stays.
    before = killed.list_documents()
    old_text = killed.document_text(b_id)
    write(docs / "b.txt", _prose("comets", 14).replace("comets", "ferries"))
    _interrupt_ingest(docs, tmp_path, monkeypatch)  # a and c unchanged: writes 1, 2 are b's
    assert killed.list_documents() == before
    assert killed.document_text(b_id) == old_text
    hits = killed.search("ferries survey station", 20, mode="bm25")
    assert hits and all("ferries" not in h.chunk.text for h in hits)  # new chunks not searchable

    embedded: list[str] = []
    real = Store.upsert

    def counting(store: Store, ids: list[str], *args: Any, **kwargs: Any) -> None:
        embedded.extend(ids)
        real(store, ids, *args, **kwargs)

    monkeypatch.setattr(Store, "upsert", counting)
    assert main(["ingest", str(docs)]) == 0
    info = killed.get_document(b_id)
    assert killed.store.count() == sum(d.chunks for d in killed.list_documents())
    text = killed.document_text(b_id)
    assert "comets" not in text and text.count("ferries") == old_text.count("comets")
    assert len(embedded) == info.chunks - 8  # the 8 chunks stored before the kill are kept


# --- ask ----------------------------------------------------------------------------------------
def _notes(request: dict[str, Any]) -> str:
    """A chain reply that depends on the whole prompt, so a wrong resume changes the answer."""
    return "notes " + hashlib.sha256(prompt_of(request).encode()).hexdigest()[:12]


EXCERPT_ID = '<excerpt id="'


def _extract_or_reason(request: dict[str, Any]) -> str:
    """Extractor: the first sentence of each excerpt; reasoner: the first fact it was shown."""
    import re

    found = re.findall(
        r'<excerpt id="(\w+)">\n(.*?)\n</excerpt>', request["messages"][-1]["content"], re.S
    )
    if found and found[0][0].startswith("F"):
        return json.dumps({"answer": f"from {found[0][0]}", "facts": [found[0][0]]})
    return json.dumps({"sentences": [{"chunk": t, "sentence": x.split(": ")[0]} for t, x in found]})


def _answer(_where: Path, out: str) -> Any:
    data = json.loads(out)
    return data["answer"], data.get("citations")


def test_a_killed_chain_resumes_without_repeating_a_finished_call(
    server: FakeOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    book = write(tmp_path / "book.txt", _prose("violins", 80))
    args = ["ask", "What differs?", "--file", str(book), "--strategy", "chain", "--json"]
    hold = HoldAt(_notes)
    kill_and_rerun(lambda _d: args, _answer, hold, [2, 3], server, tmp_path, monkeypatch, capsys)


def test_a_killed_reason_run_resumes_without_repeating_a_finished_call(
    server: FakeOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    book = write(tmp_path / "book.txt", _prose("beetles", 60))
    args = ["ask", "What differs?", "--file", str(book), "--strategy", "reason", "--json"]
    hold = HoldAt(_extract_or_reason)
    kill_and_rerun(lambda _d: args, _answer, hold, [2, 2], server, tmp_path, monkeypatch, capsys)
