"""Budgets of the workflows' prompts: tokens left, the seam margin, documents split to a budget.

:func:`tokens_left` is the one "window - frame - reserved - margin, refused below a
floor" rule of every budgeted call (defined in :mod:`longdoc._budget`, beside the
seam margin, so the agents' writer can use it too).

Splitting itself is retrieval's one "fit then cut" splitter
(:func:`longdoc.retrieval.splitting.split_to_budget`): sentence-aware parts,
each counted exactly by the model's counter and split again when over, so no
part can overflow.
"""

from __future__ import annotations

from longdoc._budget import seam_margin, tokens_left
from longdoc.errors import BudgetError
from longdoc.retrieval.splitting import split_to_budget

__all__ = ["BudgetError", "seam_margin", "split_to_budget", "tokens_left"]
