"""Retrieve-then-reason end to end: real index, real embeddings, the embedded SmolLM2 model.

Plumbing only: the 135M model's answers and extractions say nothing about quality.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from longdoc.agents.gateway import Gateway
from longdoc.api import aask
from longdoc.config import load_settings
from longdoc.retrieval import Index, load_file

pytestmark = pytest.mark.slow

BOOK = Path(__file__).resolve().parent.parent / "examples" / "data" / "persuasion_ch1-2.txt"


def test_reason_over_an_indexed_document_on_the_embedded_model(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data", context_window=2048, max_output_tokens=96, max_concurrency=2
    )
    index = Index(settings=settings)
    index.ingest([BOOK])
    gateway = Gateway(settings)
    result = gateway.run_sync(
        aask(
            "Which book did Sir Walter Elliot read?",
            strategy="reason",
            doc=BOOK.name,
            index=index,
            gateway=gateway,
            k=2,
            neighbours=0,
            extract_tokens=96,
            answer_tokens=48,
        )
    )
    assert result.strategy == "reason" and result.answer.strip()
    assert result.parts >= 1 and result.usage.stages["extract"].requests >= result.parts
    assert result.facts_extracted == result.facts_verified + result.facts_dropped
    text = load_file(BOOK).text
    for cite in result.citations:  # whatever the model quoted, citations are the document's
        assert cite.doc_id == BOOK.name and cite.source == str(BOOK.resolve())
        assert text[cite.char_start : cite.char_end] == cite.quote
    if result.facts_verified == 0:
        assert result.answer == settings.reason_not_found and "reason" not in result.usage.stages
    else:
        assert result.citations and result.usage.stages["reason"].calls == 1
