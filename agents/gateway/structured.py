"""Structured output: ask for a pydantic model, validate the answer, build a repair prompt."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

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


def parse_model(text: str, model: type[T]) -> T:
    """Validate a model answer as ``model``, tolerating code fences and chatter around the JSON.

    Raises:
        ParseFailure: with the most useful error message when nothing validates.
    """
    first_error: str | None = None
    for candidate in _candidates(text):
        try:
            return model.model_validate_json(candidate)
        except ValidationError as e:
            # A JSON-syntax error on the whole text is less useful than a schema
            # error on the extracted object; keep the first schema error.
            kinds = {err["type"] for err in e.errors()}
            if first_error is None or "json_invalid" not in kinds:
                msg = "; ".join(
                    f"{'.'.join(map(str, err['loc'])) or '<root>'}: {err['msg']}"
                    for err in e.errors()[:5]
                )
                if first_error is None or "json_invalid" in first_error:
                    first_error = msg
    raise ParseFailure(first_error or "no JSON found")


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
