"""The one-call baselines' role (vanilla truncation and RAG): prompt and call."""

from __future__ import annotations

from longdoc.agents.chain import MANAGER_GOAL, Task
from longdoc.agents.delimiters import DOCUMENT_TAGS, data_rule, delimit, question_block
from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.types import Messages

__all__ = ["answer_from_excerpts", "single_pass_messages"]

# The tags of the prompt, broken by delimit; the rule names the document's tags, as the chain's.
_TAGS = ("excerpt", "question")
_SYSTEM = "You answer from excerpts of a long document. " + data_rule(*DOCUMENT_TAGS)


def single_pass_messages(task: Task, query: str | None, excerpts: list[str]) -> Messages:
    """Prompt of the one-call baselines (vanilla truncation and RAG) over document excerpts."""
    body = "\n\n".join(f"<excerpt>\n{delimit(e, *_TAGS)}\n</excerpt>" for e in excerpts)
    goal = MANAGER_GOAL[task].replace("the notes", "the excerpts")
    user = f"{question_block(query, *_TAGS)}{body}\n\n{goal}"
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


async def answer_from_excerpts(
    gateway: Gateway,
    task: Task,
    query: str | None,
    excerpts: list[str],
    *,
    answer_tokens: int,
    stage: str,
) -> str:
    """One call over excerpts of the document (the vanilla and RAG baselines)."""
    messages = single_pass_messages(task, query, excerpts)
    reply = await gateway.acomplete(messages, stage=stage, max_tokens=answer_tokens)
    return reply.text.strip()
