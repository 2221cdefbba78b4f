"""The code languages split along definitions: grammar, definition node types, file extensions.

One small table drives :mod:`longdoc.retrieval.code_chunking`. Grammars come from the
per-language wheels (``tree-sitter-python``...), each a prebuilt parser used as
``Language(tree_sitter_python.language())``: nothing is downloaded at run time, unlike
tree-sitter-language-pack 1.x. ``tree_sitter`` and the grammar modules are imported on
first use only, so ``import longdoc`` stays light.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

__all__ = ["EXTENSIONS", "LANGUAGES", "LanguageSpec", "grammar_id", "load_language", "spec_for"]

_log = logging.getLogger(__name__)

_C_COMMENTS = frozenset({"comment"})
_JAVA_COMMENTS = frozenset({"line_comment", "block_comment"})


@dataclass(frozen=True)
class LanguageSpec:
    """How one language's syntax tree maps to chunks.

    Attributes:
        grammar: ``(module, function)`` giving the tree-sitter grammar capsule.
        definitions: node type -> symbol kind (``function``, ``class``, ``struct``...).
        wrappers: node types around a definition (decorators, ``export``, templates) ->
            the field holding it (``""``: the last named child); the chunk spans the wrapper.
        transparent: namespace-like node types: always split into their members, whose
            names they do not qualify; their declaration line goes into the header.
        packages: node types whose first line is the module line of the header
            (``package x``, ``namespace X;``).
        leading: node types (comments, attributes) attached to the definition below them.
        module_from_path: ``"python"`` or ``"rust"``: the module line comes from the path.
    """

    grammar: tuple[str, str]
    definitions: Mapping[str, str]
    wrappers: Mapping[str, str] = field(default_factory=dict)
    transparent: frozenset[str] = frozenset()
    packages: frozenset[str] = frozenset()
    leading: frozenset[str] = _C_COMMENTS
    module_from_path: str | None = None


_JS_DEFS = {
    "function_declaration": "function",
    "generator_function_declaration": "function",
    "class_declaration": "class",
    "method_definition": "method",
}
_TS_DEFS = {
    **_JS_DEFS,
    "abstract_class_declaration": "class",
    "interface_declaration": "interface",
    "type_alias_declaration": "type",
    "enum_declaration": "enum",
    "function_signature": "function",
    "method_signature": "method",
    "abstract_method_signature": "method",
    "internal_module": "namespace",
    "module": "namespace",
}
_JS_WRAPPERS = {"export_statement": "declaration"}
_TS_WRAPPERS = {**_JS_WRAPPERS, "ambient_declaration": ""}
_C_DEFS = {
    "function_definition": "function",
    "struct_specifier": "struct",
    "union_specifier": "struct",
    "enum_specifier": "enum",
    "type_definition": "type",
}
_TS = ("tree_sitter_typescript", "language_typescript")

LANGUAGES: dict[str, LanguageSpec] = {
    "python": LanguageSpec(
        grammar=("tree_sitter_python", "language"),
        definitions={"function_definition": "function", "class_definition": "class"},
        wrappers={"decorated_definition": "definition"},
        module_from_path="python",
    ),
    "javascript": LanguageSpec(
        grammar=("tree_sitter_javascript", "language"),
        definitions=_JS_DEFS,
        wrappers=_JS_WRAPPERS,
    ),
    "typescript": LanguageSpec(
        grammar=_TS,
        definitions=_TS_DEFS,
        wrappers=_TS_WRAPPERS,
        transparent=frozenset({"internal_module", "module"}),
    ),
    "tsx": LanguageSpec(
        grammar=("tree_sitter_typescript", "language_tsx"),
        definitions=_TS_DEFS,
        wrappers=_TS_WRAPPERS,
        transparent=frozenset({"internal_module", "module"}),
    ),
    "go": LanguageSpec(
        grammar=("tree_sitter_go", "language"),
        definitions={
            "function_declaration": "function",
            "method_declaration": "method",
            "type_declaration": "type",
        },
        packages=frozenset({"package_clause"}),
    ),
    "rust": LanguageSpec(
        grammar=("tree_sitter_rust", "language"),
        definitions={
            "function_item": "function",
            "function_signature_item": "function",
            "struct_item": "struct",
            "union_item": "struct",
            "enum_item": "enum",
            "trait_item": "trait",
            "impl_item": "impl",
            "mod_item": "namespace",
            "macro_definition": "macro",
        },
        transparent=frozenset({"mod_item"}),
        leading=frozenset({"line_comment", "block_comment", "attribute_item"}),
        module_from_path="rust",
    ),
    "java": LanguageSpec(
        grammar=("tree_sitter_java", "language"),
        definitions={
            "class_declaration": "class",
            "interface_declaration": "interface",
            "enum_declaration": "enum",
            "record_declaration": "class",
            "annotation_type_declaration": "interface",
            "method_declaration": "method",
            "constructor_declaration": "method",
        },
        packages=frozenset({"package_declaration"}),
        leading=_JAVA_COMMENTS,
    ),
    "c": LanguageSpec(grammar=("tree_sitter_c", "language"), definitions=_C_DEFS),
    "cpp": LanguageSpec(
        grammar=("tree_sitter_cpp", "language"),
        definitions={
            **_C_DEFS,
            "class_specifier": "class",
            "namespace_definition": "namespace",
            "alias_declaration": "type",
        },
        wrappers={"template_declaration": ""},
        transparent=frozenset({"namespace_definition"}),
    ),
    "csharp": LanguageSpec(
        grammar=("tree_sitter_c_sharp", "language"),
        definitions={
            "class_declaration": "class",
            "struct_declaration": "struct",
            "record_declaration": "class",
            "interface_declaration": "interface",
            "enum_declaration": "enum",
            "method_declaration": "method",
            "constructor_declaration": "method",
            "namespace_declaration": "namespace",
        },
        transparent=frozenset({"namespace_declaration"}),
        packages=frozenset({"file_scoped_namespace_declaration"}),
    ),
    "ruby": LanguageSpec(
        grammar=("tree_sitter_ruby", "language"),
        definitions={
            "method": "function",
            "singleton_method": "method",
            "class": "class",
            "module": "namespace",
            "singleton_class": "class",
        },
    ),
    "php": LanguageSpec(
        grammar=("tree_sitter_php", "language_php"),
        definitions={
            "function_definition": "function",
            "method_declaration": "method",
            "class_declaration": "class",
            "interface_declaration": "interface",
            "trait_declaration": "trait",
            "enum_declaration": "enum",
            "namespace_definition": "namespace",
        },
        transparent=frozenset({"namespace_definition"}),
        packages=frozenset({"namespace_definition"}),
    ),
    "bash": LanguageSpec(
        grammar=("tree_sitter_bash", "language"),
        definitions={"function_definition": "function"},
    ),
}

EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "typescript",  # language "typescript"; the tsx grammar is picked by extension
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".rake": "ruby",
    ".php": "php",
    ".sh": "bash",
    ".bash": "bash",
}


def grammar_id(language: str | None, path: str) -> str | None:
    """The grammar for a document: its language, or ``tsx`` for a ``.tsx`` file."""
    if language == "typescript" and PurePosixPath(path).suffix.lower() == ".tsx":
        return "tsx"
    return language if language in LANGUAGES else None


def spec_for(grammar: str) -> LanguageSpec:
    """The table entry of a grammar id from :func:`grammar_id`."""
    return LANGUAGES[grammar]


@functools.cache
def load_language(grammar: str) -> Any | None:
    """The tree-sitter ``Language`` of a grammar id, cached; ``None`` when it cannot load.

    A missing or broken grammar wheel must not stop an ingest: the file is then cut
    into line windows, and the reason is logged once per grammar.
    """
    spec = LANGUAGES.get(grammar)
    if spec is None:
        return None
    module_name, function = spec.grammar
    try:
        from tree_sitter import Language

        module = importlib.import_module(module_name)
        return Language(getattr(module, function)())
    except (ImportError, AttributeError, OSError, TypeError, ValueError) as e:
        _log.warning("tree-sitter grammar %s unavailable (%s): line windows instead", grammar, e)
        return None
