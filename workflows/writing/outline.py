"""The outline tree of a long document: budgets, recursive splitting, leaves (pure code).

The planner's numbers are advice: :func:`rebalance` makes a list of budgets sum
exactly to a target (proportional scaling with largest-remainder rounding), so
leaf budgets always add up to the requested length whatever the model said.
Sections above the leaf limit are planned again (by the workflow, with a model
call) or, when the model does not split them, split evenly here, to any depth.
Leaves are written; parents are headings.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from pydantic import BaseModel, Field

from longdoc.agents.writing import Section
from longdoc.workflows.writing.quality import count_words

__all__ = [
    "PlanNode",
    "even_split",
    "fit_to_target",
    "heading_path",
    "heading_words",
    "leaves",
    "outline_view",
    "rebalance",
    "to_nodes",
]


class PlanNode(BaseModel):
    """One node of the outline tree.

    Attributes:
        id: dotted position, e.g. ``"2.1"``.
        title: the heading.
        points: the main points.
        words: the word budget (a parent's is the sum of its children's).
        children: subsections; empty for a leaf.
    """

    id: str
    title: str
    points: list[str] = Field(default_factory=list)
    words: int
    children: list[PlanNode] = Field(default_factory=list)

    @property
    def depth(self) -> int:
        """1 for a top-level section."""
        return self.id.count(".") + 1

    def walk(self) -> Iterator[PlanNode]:
        """Yield the node and its descendants, in reading order."""
        yield self
        for child in self.children:
            yield from child.walk()


def rebalance(budgets: list[int], target: int, minimum: int = 1) -> list[int]:
    """Scale ``budgets`` to sum exactly to ``target``, largest remainders rounded up.

    Hand-written rather than a library call: it is ten lines, and the rounding rule
    (Hamilton's method) is what makes the sum exact.

    Args:
        budgets: the model's budgets (zeros and nonsense allowed).
        target: the sum wanted.
        minimum: the least any entry gets, when ``target`` allows it.

    Returns:
        Non-negative budgets in the same order, summing to ``target``.
    """
    if not budgets:
        return []
    n = len(budgets)
    floor = minimum if target >= minimum * n else 0
    weights = [max(0, b) for b in budgets]
    if sum(weights) == 0:
        weights = [1] * n
    spare = target - floor * n
    shares = [spare * w / sum(weights) for w in weights]
    out = [math.floor(s) for s in shares]
    order = sorted(range(n), key=lambda i: (out[i] - shares[i], i))
    for i in order[: spare - sum(out)]:
        out[i] += 1
    return [floor + o for o in out]


def to_nodes(sections: list[Section], target: int, prefix: str = "") -> list[PlanNode]:
    """Plan nodes for ``sections`` with budgets rebalanced to ``target``."""
    budgets = rebalance([s.words for s in sections], target)
    return [
        PlanNode(id=f"{prefix}{i}", title=s.title, points=list(s.points), words=w)
        for i, (s, w) in enumerate(zip(sections, budgets, strict=True), start=1)
    ]


def even_split(node: PlanNode, max_leaf: int) -> list[PlanNode]:
    """Children for ``node`` in code: equal parts of at most ``max_leaf`` words.

    Used when the sub-planner returned a single section or the depth limit is hit;
    the points are dealt out in order so each part keeps its share.
    """
    parts = max(2, math.ceil(node.words / max_leaf))
    budgets = rebalance([1] * parts, node.words)
    per = max(1, math.ceil(len(node.points) / parts)) if node.points else 0
    return [
        PlanNode(
            id=f"{node.id}.{i + 1}",
            title=f"{node.title} ({i + 1}/{parts})",
            points=node.points[i * per : (i + 1) * per] if per else [],
            words=w,
        )
        for i, w in enumerate(budgets)
    ]


def leaves(roots: list[PlanNode]) -> list[PlanNode]:
    """The nodes that are written, in reading order."""
    return [n for r in roots for n in r.walk() if not n.children]


def heading_words(title: str, roots: list[PlanNode]) -> int:
    """Words the headings add to the output (document title included)."""
    return count_words(title) + sum(count_words(n.title) for r in roots for n in r.walk())


def outline_view(roots: list[PlanNode], current: str) -> str:
    """The outline shown to a writer: titles and budgets only, and bounded.

    Every top-level section is listed; below that only the branch holding the
    current leaf (its ancestors and their siblings), so the view does not grow with
    the number of leaves of other branches.
    """
    lines: list[str] = []
    path = current.split(".")
    ancestors = {".".join(path[:k]) for k in range(1, len(path))}

    def show(nodes: list[PlanNode]) -> None:
        for n in nodes:
            mark = "  <- this section" if n.id == current else ""
            lines.append(f"{'  ' * (n.depth - 1)}{n.id} {n.title} ({n.words} words){mark}")
            if n.id in ancestors:
                show(n.children)

    show(roots)
    return "\n".join(lines)


def fit_to_target(title: str, roots: list[PlanNode], target: int) -> int:
    """Rebalance leaf budgets so headings plus bodies come to ``target`` words; sets parents.

    Headings count as output words (LongBench-Write counts the whole answer), so
    their words are taken from the leaves' budgets; the budgets only shrink, so no
    leaf grows past the leaf limit.

    Returns:
        The words the headings take.
    """
    heads = heading_words(title, roots)
    written = leaves(roots)
    body = max(target - heads, len(written))
    for leaf, words in zip(written, rebalance([n.words for n in written], body), strict=True):
        leaf.words = words

    def total(node: PlanNode) -> int:
        if node.children:
            node.words = sum(total(c) for c in node.children)
        return node.words

    for r in roots:
        total(r)
    return heads


def heading_path(roots: list[PlanNode], node_id: str) -> str:
    """The titles from the top level down to ``node_id``, joined by `` > ``."""
    parts = node_id.split(".")
    names, level = [], roots
    for k in range(1, len(parts) + 1):
        node = next(n for n in level if n.id == ".".join(parts[:k]))
        names.append(node.title)
        level = node.children
    return " > ".join(names)
