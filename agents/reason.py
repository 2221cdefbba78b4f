"""The evidence roles of retrieve-then-reason: an extractor and a reasoner.

The extractor reads tagged excerpts and copies, verbatim, the sentences that
bear on the question; the reasoner answers from verified facts only and names
the facts it used. Both reply with validated pydantic objects through
:meth:`Gateway.astructured`. Excerpts and facts are document data: they sit
inside ``<excerpt>`` tags neutralised by :func:`~longdoc.agents.delimiters.delimit`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from longdoc.agents.delimiters import data_rule, delimit, question_block
from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.types import Messages

__all__ = [
    "ExtractedSentence",
    "Extraction",
    "ReasonedAnswer",
    "excerpt_block",
    "extract_evidence",
    "extractor_messages",
    "reason_from_facts",
    "reasoner_messages",
]

# The tags of both roles' prompts: their data rule names them and delimit breaks them.
_TAGS = ("excerpt", "question")
_DATA_RULE = data_rule(*_TAGS)

_EXTRACTOR_SYSTEM = (
    "You find evidence in excerpts of a long document. For the question, copy every sentence "
    "of the excerpts that helps answer it, exactly as written: same words, same order, no "
    "paraphrase, no summary, no added words. Tag each sentence with the id of the excerpt it "
    "comes from. If no sentence helps, reply with an empty list. " + _DATA_RULE
)

_REASONER_SYSTEM = (
    "You answer questions about a long document from facts quoted from it, and from nothing "
    "else: not from memory, not from guesses. Each fact has an id. If the facts do not answer "
    "the question, say that the document, as quoted, does not answer it. " + _DATA_RULE
)


class ExtractedSentence(BaseModel):
    """One sentence the extractor claims is verbatim in an excerpt."""

    chunk: str = Field(description='id of the excerpt the sentence is copied from, e.g. "P1"')
    sentence: str = Field(min_length=1, max_length=2000, description="the sentence, copied exactly")


class Extraction(BaseModel):
    """The extractor's reply: the relevant sentences, each tagged with its excerpt."""

    # A cap keeps constrained decoding from looping until the token limit.
    sentences: list[ExtractedSentence] = Field(default_factory=list, max_length=16)


class ReasonedAnswer(BaseModel):
    """The reasoner's reply: the answer and the ids of the facts it rests on."""

    answer: str = Field(description="the answer to the question")
    facts: list[str] = Field(
        default_factory=list, max_length=64, description='ids of the facts used, e.g. ["F1"]'
    )


def excerpt_block(tag: str, text: str) -> str:
    """One tagged excerpt as it appears in a prompt."""
    return f'<excerpt id="{tag}">\n{delimit(text, *_TAGS)}\n</excerpt>'


def extractor_messages(query: str, excerpts: Sequence[tuple[str, str]]) -> Messages:
    """Prompt of the extractor over ``(tag, text)`` excerpts."""
    body = "\n\n".join(excerpt_block(tag, text) for tag, text in excerpts)
    user = (
        f"{question_block(query, *_TAGS)}{body}\n\n"
        "List the sentences of these excerpts that help answer the question, each copied "
        "exactly, with the id of its excerpt."
    )
    return [{"role": "system", "content": _EXTRACTOR_SYSTEM}, {"role": "user", "content": user}]


def reasoner_messages(query: str, facts: Sequence[tuple[str, str]]) -> Messages:
    """Prompt of the reasoner over ``(fact id, text)`` verified facts."""
    body = "\n\n".join(excerpt_block(fid, text) for fid, text in facts)
    user = (
        f"{question_block(query, *_TAGS)}Facts quoted from the document:\n\n{body}\n\n"
        "Answer the question from these facts only, and list the ids of the facts you used."
    )
    return [{"role": "system", "content": _REASONER_SYSTEM}, {"role": "user", "content": user}]


async def extract_evidence(
    gateway: Gateway, query: str, excerpts: Sequence[tuple[str, str]], *, max_tokens: int
) -> Extraction:
    """The extractor: verbatim sentences bearing on ``query``, tagged with their excerpt.

    Raises:
        StructuredOutputError: the reply is not a valid :class:`Extraction` after a repair.
    """
    messages = extractor_messages(query, excerpts)
    return await gateway.astructured(messages, Extraction, stage="extract", max_tokens=max_tokens)


async def reason_from_facts(
    gateway: Gateway, query: str, facts: Sequence[tuple[str, str]], *, max_tokens: int
) -> ReasonedAnswer:
    """The reasoner: answer from verified facts only, naming the facts used.

    Raises:
        StructuredOutputError: the reply is not a valid :class:`ReasonedAnswer` after a repair.
    """
    messages = reasoner_messages(query, facts)
    return await gateway.astructured(
        messages, ReasonedAnswer, stage="reason", max_tokens=max_tokens
    )
