"""Questions over several index documents: chain reads them in order, reason cites each.

One real Chroma index with the real embedding model holds three documents; the
model is scripted and checks what it is given.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from longdoc.agents.gateway import Gateway
from longdoc.api import aask
from longdoc.cli import main
from longdoc.config import load_settings
from longdoc.errors import DocumentNotFoundError, DocumentsNotFoundError
from longdoc.retrieval import Index
from longdoc.testing.fake_openai import FakeOpenAI
from longdoc.testing.scripted import ScriptedModel
from longdoc.workflows.results import ChainResult, ReasonResult
from longdoc.workflows.sources import document_marker, read_documents, select_documents

pytestmark = pytest.mark.slow

PART = re.compile(r'<document_part index="\d+" of="\d+">\n(.*?)\n</document_part>', re.S)
EXCERPT = re.compile(r'<excerpt id="(\w+)">\n(.*?)\n</excerpt>', re.S)
A, B, C = "reports/a.md", "reports/b.md", "notes/c.txt"
FACT_A = "The alpha furnace in Leeds was rebuilt in 1911 by Mary Holt."
FACT_B = "The beta mill in Derby burned down in 1923 and was never rebuilt."


def _document(name: str, fact: str, paragraphs: int) -> str:
    body = [
        f"Paragraph {i} of the {name} report. It describes the {name} works in plain words, "
        f"one ordinary sentence after another, and item {i} is noted for the {name} record."
        for i in range(paragraphs)
    ]
    body.insert(paragraphs // 2, fact)
    return "\n\n".join(body)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Index:
    root = tmp_path_factory.mktemp("docs")
    (root / "reports").mkdir()
    (root / "notes").mkdir()
    (root / A).write_text(_document("alpha", FACT_A, 30), encoding="utf-8")
    (root / B).write_text(_document("beta", FACT_B, 30), encoding="utf-8")
    (root / C).write_text(_document("gamma", "Gamma has no furnace.", 4), encoding="utf-8")
    idx = Index(settings=load_settings(data_dir=data_dir))
    idx.ingest([root / "reports", root / "notes"])  # ids relative to the folders' parent
    assert [d.doc_id for d in idx.list_documents()] == [C, A, B]
    return idx


def _gateway(model: object, window: int = 1024) -> Gateway:
    settings = load_settings(context_window=window, max_output_tokens=64, max_concurrency=1)
    return Gateway(settings, backend=ScriptedModel(model))  # type: ignore[arg-type]


def test_a_glob_selects_matching_ids_sorted_and_an_exact_id_keeps_its_place(
    index: Index,
) -> None:
    assert select_documents(index, "reports/*") == [A, B]
    assert select_documents(index, "*/b.*") == [B]
    assert select_documents(index, [B, "reports/*", C]) == [B, A, C]  # each once, in order
    with pytest.raises(DocumentsNotFoundError) as e:
        select_documents(index, [A, "no-such", "zzz/*"])
    assert e.value.missing == ["no-such", "zzz/*"] and "'no-such', 'zzz/*'" in str(e.value)
    assert isinstance(e.value, DocumentNotFoundError) and e.value.doc_id == "no-such"


def test_chain_reads_two_documents_in_order_each_under_its_marker(index: Index) -> None:
    parts: list[str] = []

    def model(messages: list, params: dict) -> str:
        found = PART.findall(messages[-1]["content"])
        parts.extend(found)
        return "notes so far" if found else "the answer"

    gateway = _gateway(model)
    result = gateway.run_sync(
        aask("What happened?", doc=[B, A], strategy="chain", gateway=gateway, index=index)
    )
    assert isinstance(result, ChainResult) and result.source == f"{B},{A}"
    assert result.parts == len(parts) >= 3
    marker_b, marker_a = document_marker(B), document_marker(A)
    has_b = [i for i, p in enumerate(parts) if marker_b in p]
    has_a = [i for i, p in enumerate(parts) if marker_a in p]
    assert len(has_b) == len(has_a) == 1 and has_b[0] < has_a[0]  # given order, not sorted
    assert has_a[0] > 0 and "beta" in parts[has_a[0] - 1]  # A is read after B's text
    for part in parts:  # a marker is never left at a part's end, cut off from its text
        assert not part.rstrip().endswith("===")
    whole = read_documents(index, [B, A])
    assert [s.doc_id for s in whole.segments] == [B, A]
    for seg in whole.segments:
        assert whole.text[seg.start : seg.end] == index.document_text(seg.doc_id)
        assert whole.text[seg.marker_start : seg.start] == document_marker(seg.doc_id) + "\n"
        assert whole.segment_at(seg.start) == seg


class _Reader:
    """Extractor and reasoner in one scripted model: picks the two facts wherever shown."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, messages: list, params: dict) -> str:
        system, user = messages[0]["content"], messages[1]["content"]
        excerpts = dict(EXCERPT.findall(user))
        if system.startswith("You find evidence"):
            self.seen.update(excerpts.values())
            picked = [(t, f) for t, x in excerpts.items() for f in (FACT_A, FACT_B) if f in x]
            return json.dumps({"sentences": [{"chunk": t, "sentence": s} for t, s in picked]})
        return json.dumps({"answer": "Holt rebuilt alpha; beta burned.", "facts": list(excerpts)})


QUESTION = "When was the alpha furnace rebuilt and when did the beta mill burn?"


def test_reason_over_two_documents_cites_each_with_its_own_offsets(index: Index) -> None:
    model = _Reader()
    gateway = _gateway(model, window=2048)
    asked = aask(QUESTION, doc="reports/*", strategy="reason", gateway=gateway, index=index, k=6)
    result = gateway.run_sync(asked)
    assert isinstance(result, ReasonResult)
    assert any(FACT_A in x for x in model.seen) and any(FACT_B in x for x in model.seen)
    cited = {c.doc_id: c for c in result.citations}
    assert set(cited) == {A, B}
    for doc_id, fact in ((A, FACT_A), (B, FACT_B)):
        c = cited[doc_id]
        text = Path(index.get_document(doc_id).source).read_text(encoding="utf-8")
        assert text[c.char_start : c.char_end] == fact


def test_reason_read_whole_over_two_documents_cites_each_document(index: Index) -> None:
    from longdoc.workflows.reason.graph import RetrieveThenReason

    source = read_documents(index, [A, B])  # windows per document, not over the markers
    reasoner = RetrieveThenReason(_gateway(_Reader(), window=2048), index=index)
    result = reasoner.run(QUESTION, source=source)
    cited = {c.doc_id: c for c in result.citations}
    assert set(cited) == {A, B}
    for doc_id, fact in ((A, FACT_A), (B, FACT_B)):
        c = cited[doc_id]
        assert index.document_text(doc_id)[c.char_start : c.char_end] == fact


def test_unknown_ids_are_one_error_before_any_call(
    index: Index,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = ScriptedModel(lambda messages, params: "unused")
    gateway = Gateway(load_settings(context_window=1024), backend=model)
    for strategy in ("chain", "reason", "rag"):
        with pytest.raises(DocumentsNotFoundError, match="'nope', 'zzz/\\*'"):
            gateway.run_sync(
                aask(
                    "Q?", doc=[A, "nope", "zzz/*"], strategy=strategy, gateway=gateway, index=index
                )
            )
    assert model.calls == []

    fake = FakeOpenAI(responder=lambda request: "unused").start()
    try:
        monkeypatch.setenv("LONGDOC_MODEL", "openai/fake")
        monkeypatch.setenv("LONGDOC_API_BASE", fake.api_base)
        monkeypatch.setenv("LONGDOC_CONTEXT_WINDOW", "1024")
        monkeypatch.setenv("LONGDOC_DATA_DIR", str(data_dir))
        capsys.readouterr()
        argv = ["ask", "Q?", "--strategy", "chain", "--doc", A, "--doc", "nope"]
        assert main(argv) == 2
        assert fake.requests == []
    finally:
        fake.stop()
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "'nope'" in errors[0] and A not in errors[0]
