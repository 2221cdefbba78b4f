"""Structured output: ask for a pydantic model, validate the answer, build a repair prompt.

Hand-written rather than instructor's: pydantic validates and litellm sends, so what
is left is finding the JSON in a reply and one repair turn, a few lines here.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from longdoc.agents.gateway.types import Messages

__all__ = ["ParseFailure", "parse_model", "repair_messages", "response_format", "with_schema"]

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


class ParseFailure(ValueError):
    """The text held no JSON that validates; ``message`` says why, for the repair prompt."""


def schema_json(model: type[BaseModel]) -> str:
    """The model's JSON schema, compact."""
    return json.dumps(model.model_json_schema(), separators=(",", ":"))


def response_format(model: type[BaseModel]) -> dict[str, Any]:
    """An OpenAI ``response_format`` asking the server to constrain output to the schema."""
    return {
        "type": "json_schema",
        "json_schema": {"name": model.__name__, "schema": model.model_json_schema()},
    }


def with_schema(messages: Messages, model: type[BaseModel]) -> Messages:
    """Add the schema instruction to the system message (created when missing)."""
    instruction = (
        f"Reply with one JSON object that validates against this JSON schema "
        f"and nothing else:\n{schema_json(model)}"
    )
    out = [dict(m) for m in messages]
    if out and out[0]["role"] == "system":
        out[0]["content"] = f"{out[0]['content']}\n\n{instruction}"
    else:
        out.insert(0, {"role": "system", "content": instruction})
    return out  # type: ignore[return-value]


def _candidates(text: str) -> list[str]:
    """Plausible JSON snippets in a model answer, most likely first."""
    found = [m.group(1).strip() for m in _FENCE.finditer(text)]
    found.append(text.strip())
    for open_, close in (("{", "}"), ("[", "]")):
        start, end = text.find(open_), text.rfind(close)
        if 0 <= start < end:
            found.append(text[start : end + 1])
    return found


def _describe(errors: list[ErrorDetails]) -> str:
    """Pydantic's errors as ``field: message`` parts, at most five."""
    return "; ".join(
        f"{'.'.join(map(str, err['loc'])) or '<root>'}: {err['msg']}" for err in errors[:5]
    )


def parse_model(text: str, model: type[T]) -> T:
    """Validate a model answer as ``model``, tolerating code fences and chatter around the JSON.

    Raises:
        ParseFailure: with the most informative error when nothing validates: a
            candidate that parsed as JSON but failed the schema (it names the field)
            beats a JSON syntax error (e.g. of the prose around the object); among
            equals, the most likely candidate's.
    """
    best: tuple[int, str] | None = None
    for candidate in _candidates(text):
        try:
            return model.model_validate_json(candidate)
        except ValidationError as e:
            errors = e.errors()
            rank = 1 if any(err["type"] == "json_invalid" for err in errors) else 0
            if best is None or rank < best[0]:
                best = (rank, _describe(errors))
    raise ParseFailure(best[1] if best is not None else "no JSON found")


def repair_messages(messages: Messages, raw: str, error: str) -> Messages:
    """The conversation plus the invalid answer and a request to fix it."""
    return [
        *messages,
        {"role": "assistant", "content": raw},
        {
            "role": "user",
            "content": (
                f"That reply is not valid: {error}\n"
                "Answer again with only the corrected JSON object."
            ),
        },
    ]
