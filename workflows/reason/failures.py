"""The record of an extraction call that yielded no evidence, kept in the state and the result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from longdoc.errors import StructuredOutputError
from longdoc.workflows.reason.verify import Candidate

__all__ = ["ExcerptSpan", "FailedExtraction"]


class ExcerptSpan(BaseModel):
    """Where one excerpt of a failed call lies in its document.

    Attributes:
        tag: the excerpt's id in the prompt (``P1``...).
        doc_id: the document's id.
        char_start: offset of the excerpt in the document text.
        char_end: offset one past its end.
    """

    model_config = ConfigDict(frozen=True)

    tag: str
    doc_id: str
    char_start: int
    char_end: int


class FailedExtraction(BaseModel):
    """An extraction call whose reply never became evidence.

    Attributes:
        group: the call's index among the run's extraction calls (0-based).
        excerpts: the excerpts it was shown, by document and span.
        error_type: the error's class name, e.g. ``StructuredOutputError``.
        message: what went wrong (for a reply that never validated, the last
            validation message).
        raw_text: the model's last reply verbatim, when the error carries it.
    """

    model_config = ConfigDict(frozen=True)

    group: int
    excerpts: list[ExcerptSpan]
    error_type: str
    message: str
    raw_text: str | None = None

    @classmethod
    def from_error(
        cls, group: int, candidates: Sequence[Candidate], error: StructuredOutputError
    ) -> FailedExtraction:
        """The record of call ``group`` over ``candidates`` that ended in ``error``."""
        return cls(
            group=group,
            excerpts=[
                ExcerptSpan(
                    tag=f"P{i}", doc_id=c.doc_id, char_start=c.char_start, char_end=c.char_end
                )
                for i, c in enumerate(candidates, start=1)
            ],
            error_type=type(error).__name__,
            message=error.validation_error,
            raw_text=error.raw_text,
        )

    @model_validator(mode="before")
    @classmethod
    def _from_legacy(cls, data: Any) -> Any:
        # Checkpoints written before this record held {"call": g, "error": message}.
        if isinstance(data, dict) and "call" in data and "group" not in data:
            return {
                "group": data["call"],
                "excerpts": [],
                "error_type": "StructuredOutputError",
                "message": data.get("error", ""),
            }
        return data
