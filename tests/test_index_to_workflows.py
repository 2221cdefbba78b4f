"""The shared index feeding the workflows: doc ids read back whole, RAG over retrieved chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

from longdoc.agents.gateway import Gateway
from longdoc.api import aask
from longdoc.config import load_settings
from longdoc.retrieval import Index
from longdoc.testing.scripted import ScriptedModel
from longdoc.workflows.sources import from_index, from_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, austen_text: str) -> Index:
    folder = tmp_path_factory.mktemp("docs")
    opening = "\n\n".join(austen_text.split("\n\n")[:120])
    (folder / "opening.txt").write_text(opening, encoding="utf-8")
    settings = load_settings(data_dir=tmp_path_factory.mktemp("data"))
    idx = Index(settings=settings)
    idx.ingest([folder / "opening.txt"])  # a file ingested alone gets its name as id
    return idx


def test_a_document_reads_back_as_its_text(index: Index, austen_text: str) -> None:
    doc = from_index(index, "opening.txt")
    original = from_path(Path(index.get_document("opening.txt").source))
    assert doc.doc_id == "opening.txt"
    assert doc.text.split() == original.text.split()  # same words in the same order


def test_rag_answers_from_retrieved_chunks_within_the_window(index: Index) -> None:
    from longdoc.workflows.results import RagResult

    seen: list[str] = []
    caps: list[int] = []

    def model(messages: list, params: dict) -> str:
        seen.append(messages[-1]["content"])
        caps.append(params["max_tokens"])
        return "Kellynch Hall"

    gateway = Gateway(
        load_settings(context_window=2048, max_output_tokens=64), backend=ScriptedModel(model)
    )
    result = gateway.run_sync(
        aask(
            "Where does Sir Walter live?",
            strategy="rag",
            doc="opening.txt",
            index=index,
            gateway=gateway,
            answer_tokens=40,
        )
    )
    assert isinstance(result, RagResult) and result.parts >= 2 and result.source == "opening.txt"
    assert seen[0].count("<excerpt>") == result.parts
    assert caps == [40]  # answer_tokens reaches rag's one call
    assert gateway.count_messages([{"role": "user", "content": seen[0]}]) + 40 <= 2048


def test_rag_over_an_unknown_doc_id_is_an_error_naming_it(index: Index) -> None:
    from longdoc.errors import DocumentNotFoundError

    model = ScriptedModel(lambda messages, params: "unused")
    gateway = Gateway(load_settings(context_window=2048), backend=model)
    with pytest.raises(DocumentNotFoundError, match="no-such-book"):
        gateway.run_sync(
            aask("Who?", strategy="rag", doc="no-such-book", index=index, gateway=gateway)
        )
    assert model.calls == []  # nothing was sent with an empty context
