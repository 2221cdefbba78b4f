"""Memory settings and options the README documents: ``memory_prune_documents`` and
``open_memory(controller=True)``, with the gateway's agents on a scripted model."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from longdoc.agents.gateway import Gateway
from longdoc.config import load_settings
from longdoc.testing.scripted import ScriptedModel
from longdoc.workflows.chat.turn import open_memory

pytestmark = pytest.mark.slow

FACT = "By the way, my gym locker code is 4417."
QUESTION = "What is my gym locker code?"


class MemoryModel:
    """The summarizer and the SCM controller; records the controller's prompts.

    The controller shortens the episode holding the fact to one line and drops the others.
    """

    def __init__(self) -> None:
        self.controller_prompts: list[str] = []

    def __call__(self, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        system, user = messages[0]["content"], messages[-1]["content"]
        if "maintain the long-term memory" in system:
            return "Summary of the conversation."
        assert system.startswith("You decide what a memory-augmented assistant keeps"), system
        self.controller_prompts.append(user)
        choices = [
            {"n": int(n), "action": "summary", "line": "Gym locker: 4417."}
            if "4417" in text
            else {"n": int(n), "action": "drop", "line": ""}
            for n, text in re.findall(
                r'<excerpt n="(\d+)" role="\w+">\n(.*?)\n</excerpt>', user, re.S
            )
        ]
        return json.dumps({"choices": choices})


def gateway_for(model: MemoryModel) -> Gateway:
    settings = load_settings(context_window=4096, max_output_tokens=256)
    return Gateway(settings, backend=ScriptedModel(model), cache=False)


def test_memory_prune_documents_lets_pruning_remove_document_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chunks = [(f"Chapter text {i}: the road ran on past the farm.", "document") for i in range(20)]
    prune = {"memory_prune_every": 20, "memory_prune_fraction": 0.1, "memory_tail_items": 4}
    spared = open_memory("spared", gateway_for(MemoryModel()), **prune)
    spared.add_many(chunks)  # the 20th item: pruning runs, but spares document chunks
    assert [e.ordinal for e in spared.episodes()] == list(range(20))
    spared.close()

    monkeypatch.setenv("LONGDOC_MEMORY_PRUNE_DOCUMENTS", "true")  # the documented setting
    mem = open_memory("pruned", gateway_for(MemoryModel()), **prune)
    assert mem.settings.memory_prune_documents
    mem.add_many(chunks)
    left = [e.ordinal for e in mem.episodes()]
    assert left == list(range(2, 20))  # 10% of 20: the two oldest went; the tail stays
    assert mem.store.count() == 18 and mem.summary().items == 20
    mem.close()


def test_open_memory_with_controller_consults_it_only_over_budget() -> None:
    model = MemoryModel()
    gateway = gateway_for(model)
    mem = open_memory("scm", gateway, controller=True, memory_tail_items=1, memory_recall_k=3)
    mem.add_many([f"{FACT} " + "Padding words here. " * 40, *[f"Filler {i}." for i in range(5)]])
    roomy = mem.build_context(QUESTION, 5000)
    assert model.controller_prompts == [] and "Padding words here." in roomy.text
    assert "memory:controller" not in gateway.usage().stages
    tight = mem.build_context(QUESTION, 150)
    [prompt] = model.controller_prompts
    assert '<excerpt n="0"' in prompt and QUESTION in prompt
    spare = int(re.search(r"about (\d+) tokens are left", prompt)[1])
    assert 0 < spare < 150
    assert gateway.usage().stages["memory:controller"].calls == 1
    kept = [(p.text, p.shortened) for p in tight.pieces if p.kind == "episode"]
    assert kept == [("Gym locker: 4417.", True)]  # shortened as told; the others dropped
    assert tight.tokens == gateway.count_tokens(tight.text) <= 150
    mem.close()

    plain = open_memory("scm", gateway)  # the default: no controller
    cut = plain.build_context(QUESTION, 150)
    assert len(model.controller_prompts) == 1 and cut.tokens <= 150
    assert all(not p.shortened for p in cut.pieces if p.kind == "episode")
    plain.close()
