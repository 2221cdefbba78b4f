"""The one-call baselines beside Chain-of-Agents, on the same inputs and gateway.

* ``vanilla``: the document truncated to the window, keeping the head and the
  tail around a marked gap, in one call.
* ``rag``: the question's top chunks from the shared index, packed into the
  window in document order, in one call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from longdoc.agents.baselines import answer_from_excerpts, single_pass_messages
from longdoc.agents.chain import Task
from longdoc.agents.gateway import Gateway
from longdoc.errors import LongdocError, NoContextError
from longdoc.retrieval.splitting import longest_prefix
from longdoc.workflows.base import derive_run_id
from longdoc.workflows.budget import tokens_left
from longdoc.workflows.results import RagResult, VanillaResult
from longdoc.workflows.sources import DocumentText, as_document, default_task

__all__ = ["excerpt_budget", "head_and_tail", "rag", "vanilla"]


def excerpt_budget(gateway: Gateway, task: Task, query: str | None, answer_tokens: int) -> int:
    """Tokens left for document text in a one-call prompt.

    Raises:
        BudgetError: the window cannot hold the instructions, query and answer.
    """
    return tokens_left(
        window=gateway.context_window,
        frame=gateway.count_messages(single_pass_messages(task, query, [""])),
        reserved={"answer": answer_tokens},
        floor=64,
        what="document text in a one-call prompt",
    )


def head_and_tail(text: str, budget: int, count: Callable[[str], int]) -> list[str]:
    """``[text]`` when it fits, else ``[head, gap marker, tail]`` within ``budget`` tokens."""
    total = count(text)
    if total <= budget:
        return [text]
    half = (budget - 24) // 2  # room for the marker
    head_end = len(longest_prefix(text, half, count))
    tail_len = len(longest_prefix(text[::-1], half, lambda s: count(s[::-1])))
    head, tail = text[:head_end], text[len(text) - tail_len :]
    omitted = total - count(head) - count(tail)
    return [head, f"[... about {omitted} tokens of the document omitted here ...]", tail]


async def vanilla(
    gateway: Gateway,
    query: str | None = None,
    *,
    source: DocumentText | str,
    answer_tokens: int | None = None,
) -> VanillaResult:
    """Answer (or summarise) in one call over the head and tail of the document.

    Args:
        gateway: the model gateway.
        query: the question; None summarises.
        source: the document (a string is raw text).
        answer_tokens: cap on the answer; default ``settings.max_output_tokens``.
    """
    doc = as_document(source)
    task = default_task(doc, query)
    answer_tokens = answer_tokens or gateway.settings.max_output_tokens
    start = gateway.usage()
    budget = excerpt_budget(gateway, task, query, answer_tokens)
    excerpts = head_and_tail(doc.text, budget, gateway.count_tokens)
    answer = await answer_from_excerpts(
        gateway, task, query, excerpts, answer_tokens=answer_tokens, stage="vanilla"
    )
    return VanillaResult(
        answer=answer,
        task=task,
        query=query,
        source=doc.name,
        run_id=derive_run_id("vanilla", doc=doc.content_hash, query=query),
        parts=len(excerpts),
        usage=gateway.usage() - start,
    )


async def rag(
    gateway: Gateway,
    query: str,
    *,
    index: Any,
    doc_ids: list[str] | None = None,
    answer_tokens: int | None = None,
) -> RagResult:
    """Answer in one call over the question's top chunks from the shared index.

    Args:
        gateway: the model gateway.
        query: the question (RAG needs one).
        index: the shared :class:`~longdoc.retrieval.Index`.
        doc_ids: restrict retrieval to these documents (None: the whole index).
        answer_tokens: cap on the answer; default ``settings.max_output_tokens``.

    Raises:
        DocumentNotFoundError: a doc id is not in the index.
        NoContextError: no chunk was retrieved (or none fits the window): nothing is
            sent, since an answer from no excerpts would be the model's guess.
    """
    if not query:
        raise LongdocError("the rag strategy needs a question; use chain or vanilla to summarise")
    for doc_id in doc_ids or []:
        index.get_document(doc_id)  # an unknown id is an error naming it, not an empty context
    answer_tokens = answer_tokens or gateway.settings.max_output_tokens
    start = gateway.usage()
    budget = excerpt_budget(gateway, "qa", query, answer_tokens)
    # Each excerpt costs its delimiters too: leave a little room per passage.
    passages = index.retrieve(
        query, budget=int(budget * 0.95), count_tokens=gateway.count_tokens, doc_ids=doc_ids
    )
    excerpts = [p.text for p in passages]
    source = ",".join(doc_ids) if doc_ids else "index"
    if not excerpts:
        raise NoContextError("rag", source, query)
    answer = await answer_from_excerpts(
        gateway, "qa", query, excerpts, answer_tokens=answer_tokens, stage="rag"
    )
    return RagResult(
        answer=answer,
        query=query,
        source=source,
        run_id=derive_run_id("rag", query=query, docs=doc_ids),
        parts=len(excerpts),
        usage=gateway.usage() - start,
    )
