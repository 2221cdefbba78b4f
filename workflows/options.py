"""The options each question-answering strategy takes: one pydantic model per strategy.

The models are the one list of which option belongs to which strategy: the API and
the CLI validate what they are given against them, so an option a strategy does
not use is an error naming it (:class:`~longdoc.errors.StrategyOptionError`),
never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from longdoc.errors import LongdocError, StrategyOptionError

__all__ = [
    "RESUMABLE",
    "AutoOptions",
    "ChainOptions",
    "RagOptions",
    "ReasonOptions",
    "Strategy",
    "StrategyOptions",
    "VanillaOptions",
    "check_source",
    "option_names",
    "parse_options",
    "strategy_options",
]

Strategy = Literal["auto", "chain", "vanilla", "rag", "reason"]

# Strategies that checkpoint a run, so that a run id names something to resume;
# rag and vanilla are one call each (the response cache covers a rerun).
RESUMABLE: frozenset[str] = frozenset({"auto", "chain", "reason"})


class StrategyOptions(BaseModel):
    """What every strategy takes.

    Attributes:
        answer_tokens: cap on the answer; default ``settings.max_output_tokens``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    strategy: ClassVar[str]

    answer_tokens: int | None = Field(default=None, gt=0)


class ChainOptions(StrategyOptions):
    """Chain-of-Agents options (see :class:`~longdoc.workflows.chain.ChainOfAgents`).

    Attributes:
        direction: ``ltr`` (the paper's), ``rtl``, or ``both`` (two paths and a judge).
        vote: with ``both``, a majority vote of the paths' answers (the judge breaks ties).
        notes_tokens: cap on each worker's notes; default window/16 in [64, 1024].
        keep_notes: return every worker's notes in the result.
    """

    strategy: ClassVar[str] = "chain"
    direction: Literal["ltr", "rtl", "both"] = "ltr"
    vote: bool = False
    notes_tokens: int | None = Field(default=None, gt=0)
    keep_notes: bool = False


class ReasonOptions(StrategyOptions):
    """Retrieve-then-reason options (see :class:`~longdoc.workflows.reason.RetrieveThenReason`).

    Attributes:
        k: top chunks retrieved per question; default ``settings.reason_candidates``.
        neighbours: chunks added on each side of a hit; default ``settings.reason_neighbours``.
        threshold: least fuzzy score (0-100) of a verified quote; default
            ``settings.reason_verify_threshold``.
        not_found: the answer when nothing is verified; default ``settings.reason_not_found``.
        extract_tokens: cap on each extractor reply; default ``settings.max_output_tokens``.
    """

    strategy: ClassVar[str] = "reason"
    k: int | None = Field(default=None, gt=0)
    neighbours: int | None = Field(default=None, ge=0)
    threshold: float | None = Field(default=None, ge=0, le=100)
    not_found: str | None = None
    extract_tokens: int | None = Field(default=None, gt=0)


class RagOptions(StrategyOptions):
    """RAG options: one call over the question's top chunks (only ``answer_tokens``)."""

    strategy: ClassVar[str] = "rag"


class VanillaOptions(StrategyOptions):
    """Vanilla options: one call over the document's head and tail (only ``answer_tokens``)."""

    strategy: ClassVar[str] = "vanilla"


class AutoOptions(ChainOptions, ReasonOptions):
    """``auto`` options: the chain's and reason's, each passed on to the method that uses it.

    The direct call (the whole text fits) takes ``answer_tokens`` only; the others are
    unused there, as they are by the method auto did not choose.
    """

    strategy: ClassVar[str] = "auto"

    def for_method(self, method: str) -> StrategyOptions:
        """The options of ``method`` (``direct``, ``chain`` or ``reason``) out of these."""
        models: dict[str, type[StrategyOptions]] = {
            "direct": VanillaOptions, "chain": ChainOptions, "reason": ReasonOptions,
        }  # fmt: skip
        model = models[method]
        return model.model_validate({name: getattr(self, name) for name in model.model_fields})


_MODELS: dict[str, type[StrategyOptions]] = {
    "auto": AutoOptions,
    "chain": ChainOptions,
    "reason": ReasonOptions,
    "rag": RagOptions,
    "vanilla": VanillaOptions,
}


def _model(strategy: str) -> type[StrategyOptions]:
    model = _MODELS.get(strategy)
    if model is None:
        raise LongdocError(
            f"unknown strategy {strategy!r}: use auto, chain, vanilla, rag or reason",
            strategy=strategy,
        )
    return model


def option_names(strategy: str) -> list[str]:
    """The options ``strategy`` takes, ``run_id`` included where it checkpoints.

    Raises:
        LongdocError: an unknown strategy.
    """
    names = list(_model(strategy).model_fields)
    return [*names, "run_id"] if strategy in RESUMABLE else names


OptionsT = TypeVar("OptionsT", bound=StrategyOptions)


def parse_options(model: type[OptionsT], given: Mapping[str, Any]) -> OptionsT:
    """Validate ``given`` (``None`` values count as not given) into ``model``'s strategy options.

    ``run_id`` is checked like an option (only a checkpointed strategy takes one) but
    is not part of the returned model: it names a run, it does not shape it.

    Raises:
        StrategyOptionError: an option the strategy does not use, or an invalid value.
    """
    strategy, accepted = model.strategy, option_names(model.strategy)
    values = {name: value for name, value in given.items() if value is not None}
    for name in values:
        if name not in accepted:
            why = " (a one-call strategy keeps no run to resume)" if name == "run_id" else ""
            raise StrategyOptionError(name, strategy, f"is not used{why}", accepted)
    values.pop("run_id", None)
    try:
        return model.model_validate(values)
    except ValidationError as e:
        first = e.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else strategy
        raise StrategyOptionError(name, strategy, f"is invalid: {first['msg']}", accepted) from e


def strategy_options(strategy: str, given: Mapping[str, Any]) -> StrategyOptions:
    """:func:`parse_options` for the strategy named ``strategy``.

    Raises:
        LongdocError: an unknown strategy.
        StrategyOptionError: an option the strategy does not use, or an invalid value.
    """
    return parse_options(_model(strategy), given)


def check_source(strategy: str, *, path: object = None, text: object = None) -> None:
    """Refuse a document the strategy would not read: rag reads the index only.

    Raises:
        StrategyOptionError: ``path`` or ``text`` given to rag.
    """
    if strategy != "rag":
        return
    for name, value in (("path", path), ("text", text)):
        if value is not None:
            raise StrategyOptionError(
                name, strategy, "is not used: rag reads from the index (pass doc=<id>, or none)",
                ["doc", *option_names(strategy)],
            )  # fmt: skip
