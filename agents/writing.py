"""The roles of recursive long-output writing (AgentWrite-style plan, then write).

Each role is one gateway call: the planner returns a validated :class:`Outline`,
the sub-planner splits one section into subsections, the writer writes one leaf
section, and three repair roles (continue, condense, rewrite a repeat) plus the
running-summary updater keep the document on length and coherent. Source evidence
and earlier output are data, never instructions: they sit inside ``<excerpt>`` /
``<notes>`` / ``<draft>`` tags and closing tags inside them are neutralised.

Every role states the words it wants as ``about N words`` so that the requested
length is explicit in the prompt (and a scripted test model can read it).
"""

from __future__ import annotations

import functools
import math
from typing import Annotated

from pydantic import BaseModel, Field, create_model, field_validator

from longdoc._budget import tokens_left
from longdoc.agents.delimiters import data_rule, delimit
from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.types import Messages
from longdoc.errors import ContextWindowError

__all__ = [
    "Evidence",
    "Outline",
    "Section",
    "WritingBrief",
    "condense_section",
    "continue_section",
    "outline_model",
    "output_tokens",
    "plan_outline",
    "plan_subsections",
    "rewrite_repeat",
    "update_summary",
    "write_section",
]

# The tags of each role's user message, all broken by delimit.
_PLANNER_TAGS = ("instruction",)
_SUBPLANNER_TAGS = ("instruction", "outline")
_WRITER_TAGS = ("instruction", "excerpt", "notes", "previous", "outline")
_EDITOR_TAGS = ("instruction", "excerpt", "notes", "draft", "previous", "outline")
_SUMMARY_TAGS = ("notes", "draft")


# The tags holding sources and earlier output: one data rule for every role names them
# (the instruction is the user's own request; the outline is the planner's).
_DATA_TAGS = ("excerpt", "notes", "draft", "previous")


def _rules(tags: tuple[str, ...]) -> str:
    """The data rule of a system prompt (``tags``, the role's, are all broken by delimit)."""
    return data_rule(*_DATA_TAGS, verb="use")


_PLANNER_SYSTEM = (
    "You are the planner of a long document. You divide the writing task into sections, "
    "each with a title, its main points and a word budget. " + _rules(_PLANNER_TAGS)
)
_SUBPLANNER_SYSTEM = (
    "You are the sub-planner of a long document. You divide one section that is too long to "
    "write in one go into subsections, each with a title, main points and a word budget. "
    + _rules(_SUBPLANNER_TAGS)
)
_WRITER_SYSTEM = (
    "You are the writer of one section of a long document. Write only this section's body, in "
    "Markdown paragraphs without a heading, continuing naturally from what came before and "
    "without repeating it. " + _rules(_WRITER_TAGS)
)
_EDITOR_SYSTEM = "You are the editor of one section of a long document. " + _rules(_EDITOR_TAGS)
_SUMMARY_SYSTEM = (
    "You keep a compact running summary of a long document being written, so that later "
    "sections stay consistent with earlier ones. " + _rules(_SUMMARY_TAGS)
)


class Section(BaseModel):
    """One section of an outline.

    Attributes:
        title: the heading.
        points: the main points the section must make.
        words: its word budget.
    """

    # The caps bound the planner's reply (servers that constrain decoding to the
    # schema enforce them), so a model that loops cannot run past its token cap.
    title: str = Field(min_length=1, max_length=120)
    points: list[Annotated[str, Field(max_length=160)]] = Field(default_factory=list, max_length=4)
    words: int = Field(ge=0, description="word budget of the section")

    @field_validator("title")
    @classmethod
    def _one_line(cls, v: str) -> str:
        # A heading is one line; a model sometimes adds "#" or trailing newlines.
        v = " ".join(v.replace("#", " ").split())
        if not v:
            raise ValueError("title is empty")
        return v


class Outline(BaseModel):
    """What the planner and sub-planner return.

    Attributes:
        title: the document's title (the sub-planner may leave it empty).
        sections: the sections in order.
    """

    title: str = Field("", max_length=120)
    sections: list[Section] = Field(min_length=1, max_length=16)


@functools.cache
def outline_model(max_sections: int) -> type[Outline]:
    """:class:`Outline` with at most ``max_sections`` sections in its schema.

    Servers that decode to the schema then stop a looping model after that many
    sections, well within the planner's token cap.
    """
    return create_model(
        f"Outline{max_sections}",
        __base__=Outline,
        __doc__=Outline.__doc__,
        sections=(list[Section], Field(min_length=1, max_length=max_sections)),
    )


class Evidence(BaseModel):
    """One source passage shown to the writer.

    Attributes:
        label: how the writer cites it, e.g. ``S3``.
        doc_id: the document it comes from.
        text: the passage.
    """

    label: str
    doc_id: str
    text: str


class WritingBrief(BaseModel):
    """What every writer-side call of one leaf shares.

    Attributes:
        instruction: the user's writing request.
        outline: the outline view (titles and budgets only), already rendered.
        title: the leaf's heading path, e.g. ``2. Causes > 2.1 Early causes``.
        points: the leaf's main points.
        words: the leaf's word budget.
        summary: the running summary of what was written so far.
        tail: the end of the previous section.
        evidence: source passages for this section (grounded runs only).
    """

    instruction: str
    outline: str
    title: str
    points: list[str] = Field(default_factory=list)
    words: int
    summary: str = ""
    tail: str = ""
    evidence: list[Evidence] = Field(default_factory=list)


def _instruction_block(instruction: str, tags: tuple[str, ...]) -> str:
    return f"<instruction>\n{delimit(instruction, *tags)}\n</instruction>\n\n"


def planner_messages(instruction: str, words: int, max_sections: int) -> Messages:
    """Prompt of the planner of the whole document."""
    user = (
        f"{_instruction_block(instruction, _PLANNER_TAGS)}"
        f"Plan a document answering the instruction in about {words} words in total. "
        f"Give it a title and 2 to {max_sections} sections in reading order; for each, a "
        f"short title, 2 to 4 main points, and a word budget. The word budgets must sum to "
        f"{words} words. Sections must not overlap in content."
    )
    return [{"role": "system", "content": _PLANNER_SYSTEM}, {"role": "user", "content": user}]


def subplanner_messages(
    instruction: str, outline: str, section: Section, words: int, parts: int
) -> Messages:
    """Prompt of the sub-planner splitting ``section`` into about ``parts`` subsections."""
    tags = _SUBPLANNER_TAGS
    points = "\n".join(f"- {delimit(p, *tags)}" for p in section.points) or "- (none given)"
    user = (
        f"{_instruction_block(instruction, tags)}"
        f"<outline>\n{delimit(outline, *tags)}\n</outline>\n\n"
        f"Section to split: {delimit(section.title, *tags)}\nIts main points:\n{points}\n\n"
        f"Split this section into {parts} to {parts + 2} subsections in reading order; for each, "
        f"a short title, 2 to 4 main points, and a word budget. The word budgets must sum to "
        f"{words} words. Leave the document title empty."
    )
    return [{"role": "system", "content": _SUBPLANNER_SYSTEM}, {"role": "user", "content": user}]


def _context_blocks(brief: WritingBrief, tags: tuple[str, ...]) -> str:
    """The instruction, outline, notes, previous ending and evidence, then the section line."""
    blocks = _instruction_block(brief.instruction, tags)
    blocks += f"<outline>\n{delimit(brief.outline, *tags)}\n</outline>\n\n"
    if brief.summary:
        blocks += f"<notes>\n{delimit(brief.summary, *tags)}\n</notes>\n\n"
    if brief.tail:
        blocks += f"<previous>\n{delimit(brief.tail, *tags)}\n</previous>\n\n"
    for ev in brief.evidence:
        blocks += f'<excerpt id="{ev.label}">\n{delimit(ev.text, *tags)}\n</excerpt>\n\n'
    return blocks + _section_line(brief, tags)


def _section_line(brief: WritingBrief, tags: tuple[str, ...]) -> str:
    points = delimit("; ".join(brief.points), *tags)
    line = f"Section: {delimit(brief.title, *tags)}"
    return line + (f"\nMain points: {points}" if points else "")


def writer_messages(brief: WritingBrief) -> Messages:
    """Prompt of the writer of one leaf section."""
    cite = (
        " Support claims with the excerpts and cite them by id in brackets, e.g. [S1]."
        if brief.evidence
        else ""
    )
    user = (
        f"{_context_blocks(brief, _WRITER_TAGS)}\n\n"
        f"Write about {brief.words} words for this section only.{cite} The notes summarise what "
        f"earlier sections said and <previous> is how the last one ended: do not repeat them."
    )
    return [{"role": "system", "content": _WRITER_SYSTEM}, {"role": "user", "content": user}]


def continue_messages(brief: WritingBrief, draft: str, more: int) -> Messages:
    """Prompt asking for ``more`` words continuing a section that came out too short."""
    tags = _EDITOR_TAGS
    user = (
        f"{_context_blocks(brief, tags)}\n\n<draft>\n{delimit(draft, *tags)}\n</draft>\n\n"
        f"The draft of this section is too short. Continue it: write about {more} more words "
        f"that follow on from the draft's last sentence, without repeating the draft."
    )
    return [{"role": "system", "content": _EDITOR_SYSTEM}, {"role": "user", "content": user}]


def condense_messages(brief: WritingBrief, draft: str) -> Messages:
    """Prompt asking to condense a section that came out far too long."""
    tags = _EDITOR_TAGS
    user = (
        f"{_instruction_block(brief.instruction, tags)}{_section_line(brief, tags)}\n\n"
        f"<draft>\n{delimit(draft, *tags)}\n</draft>\n\n"
        f"The draft of this section is too long. Condense it to about {brief.words} words, "
        f"keeping its main points and its citations. Reply with the condensed section only."
    )
    return [{"role": "system", "content": _EDITOR_SYSTEM}, {"role": "user", "content": user}]


def rewrite_messages(
    brief: WritingBrief, draft: str, repeat: str, *, within: bool = False
) -> Messages:
    """Prompt asking to rewrite a section that repeats text, naming the repeat.

    Args:
        brief: the section.
        draft: the section as written.
        repeat: the repeated text.
        within: the draft repeats it within itself (not from an earlier section).
    """
    tags = _EDITOR_TAGS
    where = "more than once within itself" if within else "that an earlier section already contains"
    user = (
        f"{_context_blocks(brief, tags)}\n\n<draft>\n{delimit(draft, *tags)}\n</draft>\n\n"
        f"The draft repeats text {where}:\n"
        f'<excerpt id="repeat">\n{delimit(repeat, *tags)}\n</excerpt>\n\n'
        f"Rewrite the section in about {brief.words} words without that repeated text: say "
        f"something new instead. Reply with the rewritten section only."
    )
    return [{"role": "system", "content": _EDITOR_SYSTEM}, {"role": "user", "content": user}]


def summary_messages(summary: str, title: str, text: str, tokens: int) -> Messages:
    """Prompt of the running-summary updater."""
    tags = _SUMMARY_TAGS
    words = max(16, int(tokens * 0.7))
    user = (
        f"<notes>\n{delimit(summary, *tags) or '(nothing written yet)'}\n</notes>\n\n"
        f"<draft>\n{delimit(text, *tags)}\n</draft>\n\n"
        f"The notes summarise the document so far; the draft is its new section "
        f"{delimit(title, *tags)!r}. Rewrite the notes to cover the new section too, in about "
        f"{words} words: names, facts, claims and terms already used. Reply with the notes only."
    )
    return [{"role": "system", "content": _SUMMARY_SYSTEM}, {"role": "user", "content": user}]


def output_tokens(words: int, tokens_per_word: float) -> int:
    """Output cap for ``words`` words, with room for punctuation and citations."""
    return math.ceil(words * tokens_per_word) + 32


async def _cap(gateway: Gateway, messages: Messages, want: int, stage: str) -> int:
    """``want`` output tokens, or what the window leaves after the real prompt.

    The prompt is counted by the model's tokenizer, so only a small margin is kept
    for the chat template's seams.

    Raises:
        ContextWindowError: the window leaves fewer than 16 tokens to write in.
    """
    prompt = await gateway.acount_messages(messages)
    room = tokens_left(window=gateway.context_window, frame=prompt, what=f"the {stage}'s reply")
    if room < 16:  # the writer's error is the gateway's own: the call cannot fit
        raise ContextWindowError(prompt, want, gateway.context_window, stage)
    return min(want, room)


async def _complete(gateway: Gateway, messages: Messages, stage: str, want: int) -> str:
    cap = await _cap(gateway, messages, want, stage)
    reply = await gateway.acomplete(messages, stage=stage, max_tokens=cap)
    return reply.text.strip()


async def plan_outline(
    gateway: Gateway, instruction: str, words: int, *, max_sections: int, max_tokens: int
) -> Outline:
    """The planner: a validated outline for the whole document (budgets are rebalanced later).

    Raises:
        StructuredOutputError: the reply is not a valid outline after one repair.
    """
    messages = planner_messages(instruction, words, max_sections)
    model = outline_model(max_sections)
    return await gateway.astructured(messages, model, stage="planner", max_tokens=max_tokens)


async def plan_subsections(
    gateway: Gateway,
    instruction: str,
    outline: str,
    section: Section,
    words: int,
    *,
    parts: int,
    max_tokens: int,
) -> Outline:
    """The sub-planner: subsections of one section too long to write in one call.

    Raises:
        StructuredOutputError: the reply is not a valid outline after one repair.
    """
    messages = subplanner_messages(instruction, outline, section, words, parts)
    model = outline_model(min(16, parts + 2))
    return await gateway.astructured(messages, model, stage="subplanner", max_tokens=max_tokens)


async def write_section(gateway: Gateway, brief: WritingBrief, *, max_tokens: int) -> str:
    """The writer: the body of one leaf section."""
    return await _complete(gateway, writer_messages(brief), "writer", max_tokens)


async def continue_section(
    gateway: Gateway, brief: WritingBrief, draft: str, more: int, *, max_tokens: int
) -> str:
    """Length control below the floor: the draft plus a continuation of about ``more`` words."""
    messages = continue_messages(brief, draft, more)
    more_text = await _complete(gateway, messages, "continue", max_tokens)
    return f"{draft.rstrip()}\n\n{more_text}".strip()


async def condense_section(
    gateway: Gateway, brief: WritingBrief, draft: str, *, max_tokens: int
) -> str:
    """Length control above the ceiling: the draft condensed to the budget."""
    return await _complete(gateway, condense_messages(brief, draft), "condense", max_tokens)


async def rewrite_repeat(
    gateway: Gateway,
    brief: WritingBrief,
    draft: str,
    repeat: str,
    *,
    max_tokens: int,
    within: bool = False,
) -> str:
    """Repetition guard: the section rewritten once with the repeated text named."""
    messages = rewrite_messages(brief, draft, repeat, within=within)
    return await _complete(gateway, messages, "rewrite", max_tokens)


async def update_summary(
    gateway: Gateway, summary: str, title: str, text: str, *, tokens: int
) -> str:
    """The running-summary updater: the notes rewritten to cover a new section."""
    messages = summary_messages(summary, title, text, tokens)
    return await _complete(gateway, messages, "summary", tokens)
