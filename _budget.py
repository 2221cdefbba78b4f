"""The token budget of one prompt: window - frame - reserved - margin, refused below a floor.

Every budgeted call (a chain worker's part, an extraction call's excerpts, a
baseline's document text, a memory turn's context, a writer's output cap) takes
what the context window leaves after its fixed prompt, the tokens it reserves
(notes, reply, repair) and a seam margin. It lives at the package root because
workflows/ and agents/ (the writer's output cap) both need it and agents may not
import workflows; :mod:`longdoc.workflows.budget` is its public face.
"""

from __future__ import annotations

from collections.abc import Mapping

from longdoc.errors import BudgetError

__all__ = ["seam_margin", "tokens_left"]


def seam_margin(window: int) -> int:
    """Tokens kept free in every budgeted prompt.

    They absorb tokenization at the seams of joined texts and prompt details
    (part indices) that vary between calls.
    """
    return 16 + window // 100


def tokens_left(
    *,
    window: int,
    frame: int,
    what: str,
    frame_label: str = "prompt",
    reserved: Mapping[str, int] | None = None,
    margin: int | None = None,
    floor: int | None = None,
) -> int:
    """Tokens the window leaves after the frame, the reserved terms and the margin.

    Args:
        window: the model's context window in tokens.
        frame: tokens of the fixed prompt (instructions, question, empty delimiters).
        what: what the tokens left are for, named first in the error's detail.
        frame_label: how the detail names the frame (``instructions and query``).
        reserved: other tokens the call needs, by name (``{"reply": 256}``), in order.
        margin: tokens kept free; default :func:`seam_margin` of the window.
        floor: the least budget accepted; None accepts any (even a negative one).

    Returns:
        ``window - frame - sum(reserved) - margin``.

    Raises:
        BudgetError: the budget is below ``floor``; its detail names every term.
    """
    terms = dict(reserved or {})
    kept = seam_margin(window) if margin is None else margin
    left = window - frame - sum(terms.values()) - kept
    if floor is not None and left < floor:
        parts = [f"window {window}", f"{frame_label} {frame}"]
        parts += [f"{name} {tokens}" for name, tokens in terms.items()]
        parts.append(f"margin {kept}")
        raise BudgetError(left, floor, f"{what}: " + " - ".join(parts))
    return left
