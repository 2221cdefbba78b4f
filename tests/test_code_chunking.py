"""Code split along definitions with tree-sitter: symbols, headers, offsets, robustness."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from longdoc.retrieval import languages
from longdoc.retrieval.chunking import Chunker
from longdoc.retrieval.embedding import resolve_model_path
from longdoc.retrieval.loading import CODE_LANGUAGES
from longdoc.retrieval.models import Chunk, LoadedDocument

FIXTURES = Path(__file__).parent / "fixtures" / "code"
MAX = 254  # all-MiniLM-L6-v2 reads 256 word pieces, two of them special
Count = Callable[[Sequence[str]], list[int]]


@pytest.fixture(scope="module")
def count() -> Count:
    # The shipped MiniLM tokenizer alone: the real counts, without loading the model.
    tok = Tokenizer.from_file(str(Path(resolve_model_path("all-MiniLM-L6-v2")) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return lambda texts: [len(e.ids) for e in tok.encode_batch(list(texts), False)]


def _doc(text: str, doc_id: str) -> LoadedDocument:
    language = CODE_LANGUAGES.get(Path(doc_id).suffix.lower())
    return LoadedDocument(
        doc_id=doc_id, source=doc_id, text=text, kind="code", language=language,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
    )  # fmt: skip


def _chunks(count: Count, name: str, max_tokens: int = MAX, chunk_size: int = 1) -> list[Chunk]:
    # chunk_size=1: no merging, so each definition is its own chunk
    doc = _doc((FIXTURES / name).read_text(encoding="utf-8"), name)
    chunks = Chunker(count, max_tokens, chunk_size=chunk_size).chunk(doc)
    _check(doc, chunks, count, max_tokens)
    return chunks


def _check(doc: LoadedDocument, chunks: list[Chunk], count: Count, max_tokens: int) -> None:
    """Exact offsets, no overlap, nothing but blanks left out, nothing over the limit."""
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert doc.text[c.char_start : c.char_end] == c.text
        assert c.language == doc.language
    for a, b in itertools.pairwise(chunks):
        assert a.char_end <= b.char_start and not doc.text[a.char_end : b.char_start].strip()
    assert not doc.text[: chunks[0].char_start].strip()
    assert not doc.text[chunks[-1].char_end :].strip()
    assert max(count([c.embed_text for c in chunks])) <= max_tokens


def _table(chunks: list[Chunk]) -> list[tuple[str | None, str | None, int | None, int | None]]:
    return [(c.symbol, c.symbol_kind, c.line_start, c.line_end) for c in chunks]


EXPECTED = {
    "command.go": [
        (None, "module", 1, 2),
        (None, "module", 4, 6),
        ("Command", "struct", 8, 12),
        ("Runner", "interface", 14, 17),
        ("Command.AddCommand", "method", 19, 24),
        ("Command.Name", "method", 26, 29),
        ("Execute", "function", 31, 34),
    ],
    "shapes.py": [
        (None, "module", 1, 1),
        (None, "module", 3, 3),
        (None, "module", 5, 5),
        ("area", "function", 8, 10),
        ("Shape", "class", 13, 25),
        ("fetch", "function", 28, 29),
    ],
    "router.js": [
        (None, "module", 1, 1),
        (None, "module", 3, 3),
        ("Router", "function", 5, 10),
        ("Router.param", "method", 12, 18),
        ("compose", "function", 20, 20),
        ("Layer", "class", 22, 31),
        (None, "module", 33, 33),
    ],
    "version.rs": [
        (None, "module", 1, 3),
        ("Version", "struct", 5, 9),
        ("Op", "enum", 11, 14),
        ("Bump", "trait", 16, 18),
        ("Version", "impl", 20, 25),
        ("Wrapper", "impl", 27, 31),
        ("helper", "function", 33, 35),
    ],
}

# (symbol, kind, first line) of the definitions in the other fixtures.
DEFINITIONS = {
    "store.ts": [
        ("Store", "interface", 3),
        ("Id", "type", 7),
        ("Color", "enum", 9),
        ("MemoryStore", "class", 14),
        ("makeStore", "function", 23),
    ],
    "view.tsx": [("Hello", "function", 3), ("Bye", "function", 8)],
    "Greeter.java": [("Greeter", "class", 5), ("Polite", "interface", 19), ("Mood", "enum", 23)],
    "list.c": [
        ("node", "struct", 5),
        ("list_t", "struct", 11),
        ("list_push", "function", 15),
        ("list_free", "function", 24),
    ],
    "shapes.cpp": [
        ("Circle", "class", 5),
        ("Point", "struct", 15),
        ("Circle.perimeter", "method", 19),
        ("main", "function", 25),
    ],
    "Greeter.cs": [
        ("Greeter", "class", 5),
        ("IGreeter", "interface", 22),
        ("Pair", "struct", 27),
        ("Mood", "enum", 29),
    ],
    "greeter.rb": [("Greet", "namespace", 3), ("helper", "function", 20)],
    "Greeter.php": [
        ("Greeter", "class", 7),
        ("Polite", "interface", 23),
        ("Loud", "trait", 28),
        ("helper", "function", 33),
    ],
    "deploy.sh": [("build", "function", 6), ("deploy", "function", 12)],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_definitions_symbols_kinds_and_lines(count: Count, name: str) -> None:
    assert _table(_chunks(count, name)) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_every_language_splits_along_definitions(count: Count, name: str) -> None:
    found = [(c.symbol, c.symbol_kind, c.line_start) for c in _chunks(count, name) if c.symbol]
    assert found == DEFINITIONS[name]


def test_every_fixture_language_has_a_grammar() -> None:
    names = {p.name for p in FIXTURES.iterdir()}
    assert names == set(EXPECTED) | set(DEFINITIONS)
    ids = {languages.grammar_id(CODE_LANGUAGES[Path(n).suffix], n) for n in names}
    assert ids == set(languages.LANGUAGES)  # one fixture per grammar, tsx included
    assert all(languages.load_language(g) is not None for g in ids)


def test_comments_and_decorators_above_a_definition_belong_to_it(count: Count) -> None:
    by = {c.symbol: c for c in _chunks(count, "shapes.py")}
    assert by["Shape"].text.startswith("# A shape with sides.\n@dataclass\nclass Shape(Base):")
    go = {c.symbol: c for c in _chunks(count, "command.go")}
    assert go["Command.AddCommand"].text.startswith("// AddCommand adds one or more")
    rs = {c.symbol_kind: c for c in _chunks(count, "version.rs")}
    assert rs["struct"].text.startswith("/// A semantic version.\n#[derive(Clone, Debug)]\n")


def test_split_class_members_carry_the_enclosing_declaration(count: Count) -> None:
    # A small limit splits the classes: members get the class line in the header only.
    cases = {
        "shapes.py": ("Shape.perimeter", "method", "class Shape(Base):"),
        "Greeter.java": (
            "Greeter.run", "method", "public class Greeter extends Base implements Runnable"
        ),
        "Greeter.cs": ("Greeter.Greet", "method", "public class Greeter : IGreeter"),
        "Greeter.php": ("Greeter.greet", "method", "class Greeter extends Base"),
        "store.ts": ("MemoryStore.get", "method", "class MemoryStore implements Store"),
        "greeter.rb": ("Greet.Greeter.greet", "method", "class Greeter < Base"),
        "shapes.cpp": ("Circle.area", "method", "class Circle : public Shape"),
    }  # fmt: skip
    for name, (symbol, kind, declaration) in cases.items():
        by = {c.symbol: c for c in _chunks(count, name, max_tokens=48)}
        member = by[symbol]
        assert member.symbol_kind == kind, name
        assert declaration in member.embed_text.splitlines()[:4], name
        assert declaration not in member.text, name
        assert member.header.startswith(f"# file: {name}\n")


def test_header_has_module_or_package_and_impl(count: Count) -> None:
    go = _chunks(count, "command.go")
    assert all(c.header == "# file: command.go\npackage cobra" for c in go)
    java = _chunks(count, "Greeter.java")
    assert all("package com.example.greet;" in c.header.splitlines() for c in java)
    cs = _chunks(count, "Greeter.cs")
    assert "namespace Example.Greet" in cs[-1].header.splitlines()
    methods = "".join(
        f"    /// Method {i}.\n    fn m{i}(&self, f: &mut fmt::Formatter) -> fmt::Result {{\n"
        + "".join(f'        write!(f, "{i}-{j} {{}}", self.value_{j})?;\n' for j in range(8))
        + "        Ok(())\n    }\n\n"
        for i in range(6)
    )
    rust = _doc(f"impl<T> fmt::Display for Wrapper<T> {{\n{methods}}}\n", "src/wrap/mod.rs")
    rs = Chunker(count, MAX, chunk_size=1).chunk(rust)
    _check(rust, rs, count, MAX)
    m3 = next(c for c in rs if c.symbol == "Wrapper.m3")
    assert m3.symbol_kind == "method" and m3.text.startswith("    /// Method 3.\n    fn m3(")
    assert m3.header.splitlines() == [
        "# file: src/wrap/mod.rs",
        "# module: crate::wrap",
        "impl<T> fmt::Display for Wrapper<T>",
    ]
    text = (FIXTURES / "shapes.py").read_text(encoding="utf-8")
    py = Chunker(count, MAX, chunk_size=1).chunk(_doc(text, "proj/src/geo/shapes.py"))
    assert py[0].header == "# file: proj/src/geo/shapes.py\n# module: geo.shapes"


def test_long_function_is_split_with_its_signature_in_the_header(count: Count) -> None:
    body = "".join(
        f"    value_{i} = compute(value_{i - 1}, {i})  # step {i}\n" for i in range(1, 80)
    )
    code = f"import os\n\n\ndef long_one(a, b):\n    value_0 = a\n{body}    return value_79\n"
    doc = _doc(code, "long.py")
    chunks = Chunker(count, MAX, chunk_size=200).chunk(doc)
    _check(doc, chunks, count, MAX)
    parts = [c for c in chunks if c.symbol == "long_one"]
    assert len(parts) >= 4
    assert all(c.header.endswith("\ndef long_one(a, b):") for c in parts)
    assert all(c.symbol_kind == "function" for c in parts)


def test_small_neighbours_are_merged_up_to_the_chunk_size(count: Count) -> None:
    chunks = _chunks(count, "command.go", chunk_size=200)
    assert len(chunks) == 1
    assert chunks[0].symbol == "Command Runner Command.AddCommand Command.Name Execute"
    assert chunks[0].symbol_kind == "struct"
    assert all(" " not in s for c in chunks if c.symbol for s in [c.symbol.replace(" ", "")])


def test_syntax_errors_still_chunk_along_recovered_definitions(count: Count) -> None:
    code = (
        "def good_one(x):\n    return x + 1\n\n\n"
        "def broken(:\n    pass\n\n\n"
        "class Fine:\n    def ok(self):\n        return 2\n"
    )
    doc = _doc(code, "broken.py")
    chunks = Chunker(count, MAX, chunk_size=1).chunk(doc)
    _check(doc, chunks, count, MAX)
    symbols = " ".join(c.symbol or "" for c in chunks).split()
    assert "good_one" in symbols and "Fine" in symbols
    js = _doc("function a() { return 1; }\nfunction b( { return 2;\nclass C { m() {} }\n", "x.js")
    _check(js, Chunker(count, MAX, chunk_size=1).chunk(js), count, MAX)


def test_minified_one_line_file_is_many_chunks_within_the_limit(count: Count) -> None:
    parts = [
        f"function f{i}(a,b){{var c=a+b*{i};return c>{i}?g{i}(c):h(a,b,{i})}}" for i in range(700)
    ]
    line = "!function(){" + ";".join(parts) + "}();"
    assert len(line) > 40_000 and "\n" not in line
    doc = _doc(line, "app.min.js")
    chunks = Chunker(count, MAX, chunk_size=200).chunk(doc)
    _check(doc, chunks, count, MAX)
    assert len(chunks) > 50
    assert sum(1 for c in chunks if c.symbol and "f1" in c.symbol.split()) == 1


def test_five_thousand_line_file(count: Count) -> None:
    code = "package big\n\n" + "".join(
        f"// F{i} does step {i}.\nfunc F{i}(x int) int {{\n\ty := x * {i}\n\treturn y + 1\n}}\n\n"
        for i in range(834)
    )
    assert code.count("\n") >= 5000
    doc = _doc(code, "big.go")
    chunks = Chunker(count, MAX, chunk_size=200).chunk(doc)
    _check(doc, chunks, count, MAX)
    symbols = [s for c in chunks if c.symbol for s in c.symbol.split()]
    assert symbols == [f"F{i}" for i in range(834)]


def test_unknown_and_grammarless_languages_use_line_windows(count: Count) -> None:
    text = "".join(f"v{i}\n" for i in range(150))
    for name in ("app.kt", "notes.unknownext"):
        doc = _doc(text, name)
        doc = doc.model_copy(update={"language": doc.language or "cobol"})
        chunks = Chunker(count, MAX, code_chunk_lines=60).chunk(doc)
        _check(doc, chunks, count, MAX)
        assert [c.line_start for c in chunks] == [1, 61, 121]
        assert all(c.symbol_kind == "lines" and c.symbol is None for c in chunks)


def test_a_grammar_that_fails_to_load_falls_back(
    count: Count, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = languages.LanguageSpec(grammar=("no_such_grammar_module", "language"), definitions={})
    monkeypatch.setitem(languages.LANGUAGES, "go", broken)
    languages.load_language.cache_clear()
    try:
        chunks = _chunks(count, "command.go")
        assert {c.symbol_kind for c in chunks} == {"lines"}
    finally:
        monkeypatch.undo()
        languages.load_language.cache_clear()


def test_non_ascii_text_before_a_definition(count: Count) -> None:
    code = (
        "# Größe, café, 日本語, emoji 🎉\n"
        'GREETING = "¡Hola, señor! Ça va? 你好"\n\n\n'
        'def größe(ß):\n    """Taille in 日本."""\n    return ß * 2  # 🎉\n\n\n'
        "class Café:\n    def naïve(self):\n        return 'ü'\n"
    )
    doc = _doc(code, "unicode.py")
    chunks = Chunker(count, MAX, chunk_size=1).chunk(doc)
    _check(doc, chunks, count, MAX)
    by = {c.symbol: c for c in chunks}
    assert by["größe"].text.startswith("def größe(ß):")
    assert (by["größe"].line_start, by["größe"].line_end) == (5, 7)
    assert by["Café"].text.startswith("class Café:") and by["Café"].line_start == 10


def test_a_long_docstring_is_cut_at_lines_not_after_its_quotes(count: Count) -> None:
    params = "".join(f"    :param p{i}: the {i}th parameter, optional.\n" for i in range(60))
    code = f'def request(method, url):\n    """Send a request.\n\n{params}    """\n    return 1\n'
    doc = _doc(code, "client.py")
    chunks = Chunker(count, MAX, chunk_size=200).chunk(doc)
    _check(doc, chunks, count, MAX)
    assert len(chunks) > 2 and all(c.symbol == "request" for c in chunks)
    assert all(c.char_start == 0 or code[c.char_start - 1] == "\n" for c in chunks)


def test_passages_of_code_start_on_the_line_of_their_first_character(count: Count) -> None:
    from longdoc.retrieval.models import SearchHit
    from longdoc.retrieval.packing import pack

    code = "\n\nimport os\n\n\n# Join two paths.\ndef join(a, b):\n    return a + b\n\nX = 1\n"
    doc = _doc(code, "paths.py")
    chunks = Chunker(count, MAX, chunk_size=8).chunk(doc)
    [join] = [c for c in chunks if c.symbol == "join"]
    assert join.line_start == 6 and code[join.char_start : join.char_end] == join.text
    hits = [SearchHit(id=str(c.ordinal), chunk=c, score=1.0, mode="dense", rank=0) for c in chunks]
    for chunk, passage in ((c, pack([h], 10_000)[0]) for c, h in zip(chunks, hits, strict=True)):
        first = code[: passage.char_start].count("\n") + 1  # the line of its first character
        assert passage.line_start == first == chunk.text_line
    assert chunks[0].text_line == 1 and chunks[0].line_start == 3  # led by blank lines
