"""Retrieve-then-reason end to end: real index, real embeddings, the embedded SmolLM2 model.

Plumbing only: the 135M model's answers and extractions say nothing about quality. What is
asserted are facts of the run whatever the model writes: one extraction call per part, each
shown passages of the book only, every call inside the window by the server's own count,
citations that slice the book at their offsets, and an answer that is either the configured
"not found" text (no reasoner call) or the reasoner's own answer from the verified facts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from claims_support import EXCERPT, RecordingGateway

from longdoc.api import aask
from longdoc.config import load_settings
from longdoc.retrieval import Index, load_file

pytestmark = pytest.mark.slow

BOOK = Path(__file__).resolve().parent.parent / "examples" / "data" / "persuasion_ch1-2.txt"
WINDOW = 2048


def test_reason_over_an_indexed_document_on_the_embedded_model(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data",
        context_window=WINDOW,
        max_output_tokens=96,
        max_concurrency=2,
        local_threads=1,
    )
    index = Index(settings=settings)
    index.ingest([BOOK])
    text = load_file(BOOK).text
    with RecordingGateway(settings) as gateway:
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
    assert result.strategy == "reason" and result.source == BOOK.name
    for call in gateway.calls:  # prompt_tokens: the llama.cpp server's own count
        assert call.reply.prompt_tokens + call.max_tokens <= WINDOW
        assert call.reply.finish_reason in ("stop", "length") and not call.reply.cached
    extracts = gateway.stage("extract")
    assert result.parts == len(extracts) >= 1
    stages = result.usage.stages
    repairs = stages["extract:repair"].calls if "extract:repair" in stages else 0
    assert len(gateway.stage("extract:repair")) == repairs
    shown = [p for c in extracts for p in EXCERPT.findall(c.messages[-1]["content"])]
    assert 1 <= len(shown) <= 2  # k=2 chunks, no neighbours (touching ones are merged)
    assert all(passage in text for _, passage in shown)  # candidates are the book's own text
    assert result.facts_extracted == result.facts_verified + result.facts_dropped
    assert len(result.dropped_sentences) == result.facts_dropped
    for cite in result.citations:  # whatever the model quoted, citations are the document's
        assert cite.doc_id == BOOK.name and cite.source == str(BOOK.resolve())
        assert text[cite.char_start : cite.char_end] == cite.quote
        assert any(cite.quote in passage for _, passage in shown)  # from what it was shown
    reasoner = gateway.stage("reason") + gateway.stage("reason:repair")
    if result.facts_verified == 0:
        assert result.answer == settings.reason_not_found and reasoner == []
        assert result.citations == [] and "reason" not in result.usage.stages
        return
    # The reasoner saw the verified facts only, and the answer is the one it gave.
    facts = dict(EXCERPT.findall(reasoner[0].messages[1]["content"]))
    assert list(facts) == [f"F{i}" for i in range(1, len(facts) + 1)]
    assert 1 <= len(facts) <= result.facts_verified
    assert result.citations and all(facts[c.fact_id] == c.quote for c in result.citations)
    reply = reasoner[-1].reply.text
    assert json.dumps(result.answer, ensure_ascii=False)[1:-1] in reply
    if not result.citations_fallback:
        named = set(re.findall(r"F\d+", reply))
        assert {c.fact_id for c in result.citations} <= named
    assert stages["reason"].calls == 1
