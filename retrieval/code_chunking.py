"""Splitting source code along its definitions with tree-sitter, for every language in the table.

A file is parsed once. Its top-level nodes become units: definitions (functions,
classes, impl blocks...) and module-level code between them. Comments, doc comments
and attributes right above a definition belong to it. A definition within the
embedder's limit is one piece; a longer one is split at its inner definitions, else
its statements, else (in the chunker) at lines, its signature going into the header of
every part. Small neighbours are merged up to the chunk size. The units tile the file,
so every character belongs to exactly one piece.

Python goes through tree-sitter too rather than ``ast``: one path for every language,
and a file with a syntax error still splits along the definitions the parser recovered
(``ast`` gives nothing for it), with byte offsets and comments in the tree.
llama-index's ``CodeSplitter`` is not used: it sizes chunks in characters, keeps no
enclosing context and returns text without offsets.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from longdoc.retrieval.languages import LanguageSpec, grammar_id, load_language, spec_for

__all__ = ["Piece", "split_code"]

TokenCount = Callable[[list[str]], list[int]]

_MAX_DEPTH = 12  # nesting levels split before leaving the rest to line cuts
_SIGNATURE_CHARS = 200
_CLASSLIKE = {"class", "struct", "interface", "trait", "impl", "enum", "namespace"}
_JS_FAMILY = {"javascript", "typescript", "tsx"}
_JS_FUNCTIONS = {
    "function_expression",
    "function",
    "arrow_function",
    "generator_function",
    "class",
}
_GENERICS = re.compile(r"<[^<>]*>")


@dataclass
class Piece:
    """A span of the document before it becomes a :class:`Chunk`."""

    start: int
    end: int
    header: str = ""
    symbol: str | None = None
    kind: str | None = None
    members: str | None = None  # names defined inside a whole definition (a class's methods)


@dataclass
class _Unit:
    start: int
    end: int
    node: Any | None  # the definition node, or None for other code
    outer: Any | None  # the tree node the unit stands for (a wrapper around ``node``)
    symbol: str | None
    kind: str | None


@dataclass(frozen=True)
class _Scope:
    header: str
    prefix: str  # qualifies the names of definitions inside
    container: str | None  # kind of the enclosing definition
    symbol: str | None  # for code that is not a definition of its own
    kind: str
    depth: int


def split_code(
    text: str,
    *,
    language: str | None,
    path: str,
    header: str,
    count_tokens: TokenCount,
    max_tokens: int,
    chunk_size: int,
) -> list[Piece] | None:
    """Pieces of a source file along its definitions.

    Args:
        text: the file's text.
        language: its language id (``"python"``, ``"go"``...).
        path: its path or id; picks the tsx grammar and names the Python/Rust module.
        header: the first header line (the file).
        count_tokens: the embedder's batch token counter.
        max_tokens: the most tokens an embedded piece may have.
        chunk_size: small neighbours are merged up to this many tokens.

    Returns:
        Pieces tiling ``text`` in order, or ``None`` when the language has no grammar.
    """
    grammar = grammar_id(language, path)
    lang = load_language(grammar) if grammar else None
    if grammar is None or lang is None:
        return None
    from tree_sitter import Parser

    data = text.encode("utf-8", "surrogatepass")
    tree = Parser(lang).parse(data)  # a parser per call: parsers are not thread-safe
    splitter = _Splitter(text, data, grammar, spec_for(grammar), count_tokens, max_tokens)
    splitter.chunk_size = chunk_size
    root = tree.root_node
    module = splitter.module_line(root, path)
    head = f"{header}\n{module}" if module else header
    scope = _Scope(head, "", None, None, "module", 0)
    return splitter.split_list(root.named_children, 0, len(text), scope, with_head=False)


class _Splitter:
    def __init__(
        self,
        text: str,
        data: bytes,
        grammar: str,
        spec: LanguageSpec,
        count_tokens: TokenCount,
        max_tokens: int,
    ) -> None:
        self.text, self.data, self.grammar, self.spec = text, data, grammar, spec
        self.count_tokens, self.max_tokens, self.chunk_size = count_tokens, max_tokens, max_tokens
        self.line_chars = [0] + [m.end() for m in re.finditer("\n", text)]
        self.ascii = len(data) == len(text)
        self.line_bytes = (
            self.line_chars if self.ascii else [0] + [m.end() for m in re.finditer(b"\n", data)]
        )

    # --- positions ---------------------------------------------------------------------
    def char(self, point: Any) -> int:
        """Python str offset of a tree-sitter point (row, UTF-8 byte column)."""
        row, col = int(point[0]), int(point[1])
        if self.ascii:
            return self.line_chars[row] + col
        b0 = self.line_bytes[row]
        return self.line_chars[row] + len(self.data[b0 : b0 + col].decode("utf-8", "surrogatepass"))

    def src(self, node: Any) -> str:
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def _alone(self, node: Any) -> bool:
        """Whether only blanks precede ``node`` on its first line."""
        row = node.start_point[0]
        return not self.text[self.line_chars[row] : self.char(node.start_point)].strip()

    def start_of(self, node: Any) -> int:
        """Where the unit of ``node`` begins: its line, or the comments right above it."""
        first, cur = node, node
        while True:
            prev = cur.prev_sibling
            if prev is None:
                parent = cur.parent
                if parent is None or parent.start_byte != cur.start_byte:
                    break
                cur = parent  # first child of a body: the comment may precede the body
                continue
            cand = prev
            # A comment ending a block can belong to the tree of the previous definition
            # (Python's dedent): look at the last leaf of the previous sibling.
            while cand.type not in self.spec.leading and cand.child_count:
                cand = cand.children[-1]
            end_row, end_col = cand.end_point
            last_row = end_row - 1 if end_col == 0 and end_row > cand.start_point[0] else end_row
            if cand.type not in self.spec.leading or last_row < first.start_point[0] - 1:
                break
            if not self._alone(cand):
                break
            first = cur = cand
        if self._alone(first):
            return self.line_chars[int(first.start_point[0])]
        return self.char(first.start_point)

    # --- names -------------------------------------------------------------------------
    def module_line(self, root: Any, path: str) -> str | None:
        """The header's module line: from the path (Python, Rust) or a package clause."""
        how = self.spec.module_from_path
        if how:
            parts = list(PurePosixPath(path).with_suffix("").parts)
            if "src" in parts:
                parts = parts[len(parts) - parts[::-1].index("src") :]
            if how == "python":
                parts = [p for p in parts if p != "__init__"]
                return f"# module: {'.'.join(parts)}" if parts else None
            if parts and parts[-1] in ("lib", "main", "mod"):
                parts = parts[:-1]
            return "# module: " + "::".join(["crate", *parts])
        for child in root.named_children:
            if child.type in self.spec.packages and child.child_by_field_name("body") is None:
                return self.first_line(child)
        return None

    def first_line(self, node: Any) -> str:
        line = self.src(node).split("\n", 1)[0]
        return " ".join(line.split())[:_SIGNATURE_CHARS]

    def body(self, node: Any) -> Any | None:
        """A definition's body; for ``x.y = function () {...}`` the function's."""
        body = node.child_by_field_name("body")
        if body is None and self.grammar in _JS_FAMILY:
            frontier = list(node.named_children)
            for _ in range(3):  # declarator / assignment, then the function value
                funcs = [c for c in frontier if c.type in _JS_FUNCTIONS]
                if funcs:
                    return funcs[0].child_by_field_name("body")
                frontier = [g for c in frontier for g in c.named_children]
        return body

    def signature(self, node: Any) -> str:
        """The declaration of a definition up to its body, on one line."""
        body = self.body(node)
        if body is None or body.start_byte <= node.start_byte:
            sig = self.first_line(node)
        else:
            end = body.start_byte
            for child in node.children:  # a comment before the body (Ruby) is no signature
                if child.type in self.spec.leading and child.start_byte < end:
                    end = child.start_byte
                    break
            raw = self.data[node.start_byte : end].decode("utf-8", "replace")
            sig = " ".join(raw.split())[:_SIGNATURE_CHARS]
        return sig.removesuffix("{").rstrip() or sig

    def classify(self, node: Any) -> tuple[Any, str, str] | None:
        """``(definition node, name, kind)`` when ``node`` is (or wraps) a definition."""
        spec = self.spec
        if node.type in spec.wrappers:
            name = spec.wrappers[node.type]
            inner = node.child_by_field_name(name) if name else _last_named(node, spec)
            return self.classify(inner) if inner is not None else None
        if node.type in spec.definitions:
            if node.type in spec.transparent and node.child_by_field_name("body") is None:
                return None  # ``namespace X;``: a module line, not a container
            found = self._named(node, spec.definitions[node.type])
            if found is None and node.type in spec.transparent:
                return node, "", spec.definitions[node.type]
            return (node, *found) if found else None
        if self.grammar in _JS_FAMILY:
            return self._js_assigned(node)
        return None

    def _named(self, node: Any, kind: str) -> tuple[str, str] | None:
        t = node.type
        if t == "type_declaration":  # Go: one or more type specs
            specs = [c for c in node.named_children if c.type in ("type_spec", "type_alias")]
            names = [self._field(s, "name") for s in specs]
            if not specs or not all(names):
                return None
            inner = specs[0].child_by_field_name("type")
            kinds = {"struct_type": "struct", "interface_type": "interface"}
            return " ".join(n for n in names if n), kinds.get(inner.type if inner else "", "type")
        if t == "method_declaration" and self.grammar == "go":
            recv = node.child_by_field_name("receiver")
            types = re.findall(r"[A-Za-z_]\w*", _GENERICS.sub("", self.src(recv))) if recv else []
            name = self._field(node, "name")
            return (f"{types[-1]}.{name}" if types else name, kind) if name else None
        if t in ("struct_specifier", "union_specifier", "enum_specifier", "class_specifier"):
            name = self._field(node, "name")
            return (name, kind) if name and node.child_by_field_name("body") else None
        if t == "type_definition":
            decl = node.child_by_field_name("declarator")
            inner = node.child_by_field_name("type")
            kinds = {"struct_specifier": "struct", "union_specifier": "struct"}
            kinds["enum_specifier"] = "enum"
            name = self.src(decl).strip("*& ") if decl else ""
            return (name, kinds.get(inner.type if inner else "", "type")) if name else None
        if t == "function_definition" and self.grammar in ("c", "cpp"):
            name = self._declarator_name(node)
            if not name:
                return None
            return (name, "method") if "." in name else (name, kind)
        if t == "impl_item":
            name = self._field(node, "type")
            return (_clean(name).split(".")[-1], kind) if name else None
        name = self._field(node, "name")
        return (_clean(name), kind) if name else None

    def _field(self, node: Any, name: str) -> str | None:
        child = node.child_by_field_name(name)
        return self.src(child) if child is not None else None

    def _declarator_name(self, node: Any) -> str | None:
        decl = node.child_by_field_name("declarator")
        for _ in range(8):  # pointer/reference/function declarators around the name
            if decl is None:
                return None
            inner = decl.child_by_field_name("declarator")
            if inner is None:
                break
            decl = inner
        return _clean(self.src(decl)) if decl is not None else None

    def _js_assigned(self, node: Any) -> tuple[Any, str, str] | None:
        """``a.b = function () {...}`` and ``const f = () => ...``: named functions."""
        if node.type == "expression_statement":
            expr = node.named_children[0] if node.named_children else None
            while expr is not None and expr.type == "assignment_expression":
                left, right = expr.child_by_field_name("left"), expr.child_by_field_name("right")
                if right is not None and right.type in _JS_FUNCTIONS and left is not None:
                    name = _clean(self.src(left))
                    kind = "class" if right.type == "class" else "function"
                    return node, name, "method" if "." in name and kind != "class" else kind
                expr = right
            return None
        if node.type in ("lexical_declaration", "variable_declaration"):
            names, kinds = [], []
            for decl in node.named_children:
                value = decl.child_by_field_name("value")
                is_function = value is not None and value.type in _JS_FUNCTIONS
                if decl.type == "variable_declarator" and is_function:
                    names.append(self._field(decl, "name") or "")
                    kinds.append("class" if value.type == "class" else "function")
            if names and all(names):
                return node, " ".join(names), kinds[0]
        return None

    # --- splitting ---------------------------------------------------------------------
    def inner(self, node: Any, is_def: bool) -> list[Any]:
        """The nodes a unit splits into: a definition's body members, else its children."""
        base = node
        if is_def:
            base = self.body(node)
            if base is None and node.type in ("type_definition", "type_declaration"):
                base = _descend_to_body(node)
            if base is None:
                return []
        children = list(base.named_children)
        for _ in range(4):  # a lone wrapper (Go's statement_list, an IIFE): look inside
            code = [c for c in children if c.type not in self.spec.leading]
            if len(code) != 1 or not code[0].named_child_count or self.classify(code[0]):
                break
            children = list(code[0].named_children)
        return children

    def split_list(
        self, children: Sequence[Any], lo: int, hi: int, scope: _Scope, *, with_head: bool
    ) -> list[Piece]:
        """Pieces of ``text[lo:hi]`` along ``children`` (with a head before the first)."""
        units = self._units(children, lo, hi, scope, with_head)
        if not units:
            return [Piece(lo, hi, scope.header, scope.symbol, scope.kind)]
        budget = self.max_tokens - self.count_tokens([scope.header])[0]
        units, counts = self._expand(units, scope, budget)
        out: list[Piece] = []
        group: list[_Unit] = []
        size = 0
        for u, n in zip(units, counts, strict=True):
            transparent = u.node is not None and u.node.type in self.spec.transparent
            if u.node is not None and scope.depth < _MAX_DEPTH and (transparent or n > budget):
                out.extend(self._merge(group, scope))
                group, size = [], 0
                out.extend(self._split_definition(u, scope))
                continue
            if group and size + n > self.chunk_size - (self.max_tokens - budget):
                out.extend(self._merge(group, scope))
                group, size = [], 0
            group.append(u)
            size += n
        out.extend(self._merge(group, scope))
        return out

    def _expand(
        self, units: list[_Unit], scope: _Scope, budget: int
    ) -> tuple[list[_Unit], list[int]]:
        """Plain code over the limit replaced by its parts, in place, so they merge freely."""
        counts = self.count_tokens([self.text[u.start : u.end] for u in units])
        for _ in range(_MAX_DEPTH):
            big = {
                i
                for i, (u, n) in enumerate(zip(units, counts, strict=True))
                if n > budget and u.node is None and u.outer is not None
            }
            if not big:
                break
            new_units: list[_Unit] = []
            new_counts: list[int | None] = []
            for i, (u, n) in enumerate(zip(units, counts, strict=True)):
                parts = []
                if i in big:
                    # Code over several lines splits only at children that begin a line: a
                    # long docstring is better cut at its lines than after its opening quotes.
                    inner = self.inner(u.outer, False)
                    if "\n" in self.text[u.start : u.end].strip():
                        inner = [c for c in inner if self._alone(c)]
                    parts = self._units(inner, u.start, u.end, scope, True)
                    u.outer = None  # split once; a part too big again has its own outer
                if len(parts) < 2:  # nothing inside to split at: the chunker cuts lines
                    new_units.append(u)
                    new_counts.append(n)
                    continue
                new_units.extend(parts)
                new_counts.extend([None] * len(parts))
            todo = [u for u, n in zip(new_units, new_counts, strict=True) if n is None]
            fresh = iter(self.count_tokens([self.text[u.start : u.end] for u in todo]))
            counts = [n if n is not None else next(fresh) for n in new_counts]
            units = new_units
        return units, counts

    def _units(
        self, children: Sequence[Any], lo: int, hi: int, scope: _Scope, with_head: bool
    ) -> list[_Unit]:
        units = [_Unit(lo, lo, None, None, scope.symbol, scope.kind)] if with_head else []
        for child in children:
            if child.type in self.spec.leading:
                continue  # attached to the definition below, or to the code above
            found = self.classify(child)
            start = lo if not units else max(self.start_of(child), units[-1].start)
            if found is None:
                units.append(_Unit(start, start, None, child, scope.symbol, scope.kind))
                continue
            node, name, kind = found
            if kind == "function" and scope.container in _CLASSLIKE:
                kind = "method"
            symbol = name if "." in name and self.grammar == "go" else scope.prefix + name
            units.append(_Unit(start, start, node, child, symbol or None, kind))
        for u, nxt in itertools.pairwise(units):
            u.end = nxt.start
        if units:
            units[-1].end = hi
        return units

    def _split_definition(self, u: _Unit, scope: _Scope) -> list[Piece]:
        """A definition over the limit (or a namespace): its members, its signature above."""
        assert u.node is not None
        header = self._short(f"{scope.header}\n{self.signature(u.node)}")
        if u.node.type in self.spec.transparent:
            inner = _Scope(header, scope.prefix, "namespace", None, "module", scope.depth + 1)
        else:
            prefix = f"{u.symbol}." if u.symbol else scope.prefix
            inner = _Scope(header, prefix, u.kind, u.symbol, u.kind or "", scope.depth + 1)
        children = self.inner(u.node, True)
        if not children:
            return [Piece(u.start, u.end, inner.header, u.symbol, u.kind)]
        return self.split_list(children, u.start, u.end, inner, with_head=True)

    def _members(self, u: _Unit) -> list[str]:
        """Qualified names of a whole class's members, so a symbol lookup finds its methods."""
        if u.node is None or u.kind not in _CLASSLIKE:
            return []
        found = (self.classify(c) for c in self.inner(u.node, True))
        return [f"{u.symbol}.{name}" for f in found if f is not None for name in [f[1]]]

    def _short(self, header: str) -> str:
        """``header`` within half the limit: outer levels dropped first, then lines cut."""
        lines = header.split("\n")
        while len(lines) > 2 and self.count_tokens(["\n".join(lines)])[0] > self.max_tokens // 2:
            del lines[1]
        if self.count_tokens(["\n".join(lines)])[0] > self.max_tokens // 2:
            lines = [line[:60] for line in lines[:1]]
        return "\n".join(lines)

    def _merge(self, group: list[_Unit], scope: _Scope) -> list[Piece]:
        if not group:
            return []
        # The enclosing definition's name only for its head (its declaration line).
        first = group[0]
        symbols = [first.symbol] if first.symbol and first.node is None else []
        kind = first.kind if symbols else None
        members: list[str] = []
        for u in group:
            if u.node is not None and u.symbol and u.symbol not in symbols:
                symbols.append(u.symbol)
                kind = kind or u.kind
                members += self._members(u)
        symbol = " ".join(symbols) or None
        piece = Piece(group[0].start, group[-1].end, scope.header, symbol, kind or scope.kind)
        piece.members = " ".join(dict.fromkeys(members)) or None
        return [piece]


def _last_named(node: Any, spec: LanguageSpec) -> Any | None:
    named = [c for c in node.named_children if c.type not in spec.leading]
    return named[-1] if named else None


def _descend_to_body(node: Any) -> Any | None:
    """The field list of a Go ``type X struct {...}`` or a C ``typedef struct {...} X``."""
    for child in node.named_children:
        typ = child.child_by_field_name("type") if child.type == "type_spec" else child
        if typ is not None:
            body = typ.child_by_field_name("body")
            if body is not None:
                return body
            lists = [c for c in typ.named_children if c.type.endswith("_list")]
            if lists:
                return lists[0]
    return None


def _clean(name: str) -> str:
    r"""A qualified name with dots: ``Foo::bar`` / ``A\B`` / ``X.prototype.y`` -> ``Foo.bar``..."""
    name = _GENERICS.sub("", _GENERICS.sub("", name))
    name = name.replace("::", ".").replace("\\", ".").replace(".prototype.", ".")
    return ".".join(part.strip() for part in name.split(".") if part.strip())
