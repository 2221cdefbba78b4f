"""Search that knows code: identifier-aware BM25, symbol lookup, language and path filters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from retrieval_support import write

from longdoc.cli import main
from longdoc.config import load_settings
from longdoc.errors import DocumentsNotFoundError, UnknownLanguageError
from longdoc.retrieval import Index
from longdoc.retrieval.lexical import TOKENIZER_VERSION, Tokenizer
from longdoc.retrieval.search import symbol_match

pytestmark = pytest.mark.slow

COLLECTION = "code-search"

# A flat body long enough that the chunker must cut `Blueprint.add_route` in parts.
_STEPS = "".join(
    f"        self.deferred.append(('step_{i:02d}', rule, endpoint, view, {i}))\n"
    for i in range(60)
)
FILES = {
    "src/app/blueprints.py": (
        '"""Blueprints group views."""\n\n\n'
        "class Blueprint:\n"
        '    """Routes recorded now and replayed on an application later."""\n\n'
        "    def __init__(self, label):\n"
        "        self.label = label\n"
        "        self.deferred = []\n\n"
        "    def register(self, app, options):\n"
        '        """Record this blueprint on the application."""\n'
        "        app.blueprints[self.label] = self\n"
        "        for callback in self.deferred:\n"
        "            callback(app, options)\n\n"
        "    def add_route(self, rule, endpoint, view):\n"
        '        """Queue a route for when the blueprint is registered."""\n'
        f"{_STEPS}"
    ),
    # Methods with bodies large enough that a chunker keeps them apart from the class.
    "src/app/accounts.py": (
        "class AccountService:\n"
        '    """Keeps the ledger of customer accounts."""\n\n'
        "    def register(self, account):\n"
        '        """Open a ledger entry for a new customer account."""\n'
        "        self.ledger[account.key] = account\n"
        + "".join(
            f"\n    def {verb}(self, account):\n"
            f'        """{verb.capitalize()} the customer account in the ledger."""\n'
            f"        entry = self.ledger.pop(account.key)\n"
            f"        entry.history.append(('{verb}', account.key, account.balance))\n"
            f"        self.archive[account.key] = entry\n"
            for verb in ("close", "freeze", "audit", "transfer", "merge")
        )
    ),
    # A class small enough to stay one chunk: its methods are found through it.
    "src/app/cache.py": (
        "class LruCache:\n    def evict_oldest(self):\n        self.items.pop(0)\n"
    ),
    "src/app/plugins.py": (
        "def register(plugin):\n"
        '    """Add a plugin to the global table."""\n'
        "    TABLE.append(plugin)\n"
    ),
    "src/app/net.py": (
        "def parse_url_string(raw):\n"
        '    """Split an address into scheme, host and path."""\n'
        "    scheme, _, rest = raw.partition('://')\n"
        "    return scheme, rest\n"
    ),
    "tests/test_accounts.py": (
        "def test_register():\n    service = AccountService()\n    assert service.ledger == {}\n"
    ),
    "web/profile.js": (
        "function getUserName(account) {\n  return account.displayLabel;\n}\n\n"
        "module.exports = { getUserName };\n"
    ),
    "cmd/root.go": (
        "package cmd\n\n// ExecuteRoot runs the root command with its flags.\n"
        "func ExecuteRoot(args []string) error {\n\treturn run(args)\n}\n"
    ),
    "NOTES.md": "# Notes\n\nThe project keeps blueprints and services apart for clarity.\n",
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("code-search-data")


@pytest.fixture(scope="module")
def index(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    """One small codebase ingested once for the module."""
    root = tmp_path_factory.mktemp("code") / "repo"
    for name, text in FILES.items():
        write(root / name, text)
    idx = Index(COLLECTION, settings=load_settings(data_dir=data_dir))
    report = idx.ingest(root)
    assert len(report.added) == len(FILES) and not report.issues
    yield idx


def _line_of(name: str, line: str) -> int:
    """The 1-based number of ``line`` in fixture file ``name``."""
    return FILES[name].splitlines().index(line) + 1


def test_tokens_split_identifiers_and_keep_them_whole() -> None:
    tok = Tokenizer()
    for spelling in ("getUserName", "get_user_name", "GetUserName", "get-user-name"):
        tokens = tok(spelling)
        assert tokens[0] == spelling.lower() and tokens[1:] == ["get", "user", "name"]
    assert tok("get user name") == ["get", "user", "name"]
    assert tok("HTTPAdapter")[:2] == ["httpadapter", "http"]
    assert tok("parseURLString") == ["parseurlstring", "pars", "url", "string"]
    assert tok("sha256") == ["sha256", "sha", "256"]
    # prose as before: stopwords dropped, words stemmed
    assert tok("The ships are sailing") == ["ship", "sail"]


def test_bm25_finds_identifiers_across_spellings(index: Index) -> None:
    hits = index.search("user name", 3, mode="bm25")
    assert hits and hits[0].chunk.doc_id == "repo/web/profile.js"
    hits = index.search("parseURLString", 3, mode="bm25")
    assert hits and hits[0].chunk.symbol == "parse_url_string"


def test_an_index_saved_by_another_tokenizer_is_rebuilt(index: Index, data_dir: Path) -> None:
    import sqlite3

    index.search("user name", 1, mode="bm25")
    with sqlite3.connect(index.bm25.path) as db:  # what another tokenizer version saved
        db.execute("UPDATE terms SET tokens = 'nothing'")
        old = json.dumps({"version": TOKENIZER_VERSION - 1, "stemmer": None})
        db.execute("UPDATE meta SET value = ? WHERE key = 'tokenizer'", (old,))

    fresh = Index(COLLECTION, settings=load_settings(data_dir=data_dir))
    hits = fresh.search("user name", 3, mode="bm25")  # the old rows have no "user" at all
    assert hits and hits[0].chunk.doc_id == "repo/web/profile.js"
    with sqlite3.connect(index.bm25.path) as db:
        (saved,) = db.execute("SELECT value FROM meta WHERE key = 'tokenizer'").fetchone()
    assert json.loads(saved) == Tokenizer().identity


def test_symbol_match_tiers() -> None:
    assert symbol_match("Blueprint.register", "Blueprint.register") == (0, "Blueprint.register")
    assert symbol_match("Blueprint.register", "blueprint.REGISTER") == (1, "Blueprint.register")
    assert symbol_match("Blueprint.register", "register") == (2, "Blueprint.register")
    assert symbol_match("Blueprint.register", "Register") == (3, "Blueprint.register")
    assert symbol_match("Blueprint.register", "ster") is None
    assert symbol_match("test_register", "register") is None
    # a merged chunk carries several names
    assert symbol_match("Blueprint.__init__ Blueprint.register", "register") == (
        2,
        "Blueprint.register",
    )


def test_find_symbol_exact_then_suffix_never_partial(index: Index) -> None:
    hits = index.find_symbol("Blueprint.register")
    assert {h.chunk.doc_id for h in hits} == {"repo/src/app/blueprints.py"}
    assert all("Blueprint.register" in (h.chunk.symbol or "").split() for h in hits)
    assert "def register(self, app, options):" in hits[0].chunk.text
    line = _line_of("src/app/blueprints.py", "    def register(self, app, options):")
    first_hit = hits[0].chunk
    assert first_hit.line_start is not None and first_hit.line_end is not None
    assert first_hit.line_start <= line <= first_hit.line_end and hits[0].mode == "symbol"

    found = index.find_symbol("register")
    first = {}
    for h in found:
        first.setdefault(h.rank, h.chunk.doc_id)
    # the exact `register` first, then the suffix matches (by document)
    assert list(first.values()) == [
        "repo/src/app/plugins.py",
        "repo/src/app/accounts.py",
        "repo/src/app/blueprints.py",
    ]
    assert "repo/tests/test_accounts.py" not in {h.chunk.doc_id for h in found}
    assert index.find_symbol("ster") == []
    assert index.find_symbol("blueprint.register")[0].chunk.doc_id.endswith("blueprints.py")
    assert len({h.rank for h in index.find_symbol("register", k=1)}) == 1

    # ranked by a query: the account ledger's `register` comes before the blueprint's
    ranked = index.find_symbol("register", query="customer account ledger")
    assert ranked[0].chunk.doc_id == "repo/src/app/accounts.py"
    assert {h.chunk.doc_id for h in ranked} == set(first.values())


def test_find_symbol_returns_every_part_of_a_split_definition_in_order(index: Index) -> None:
    hits = index.find_symbol("add_route")
    assert len(hits) >= 2 and len({h.rank for h in hits}) == 1
    ordinals = [h.chunk.ordinal for h in hits]
    assert ordinals == sorted(ordinals) == list(range(ordinals[0], ordinals[0] + len(hits)))
    assert "def add_route" in hits[0].chunk.text and "step_59" in hits[-1].chunk.text
    twin = asyncio.run(index.afind_symbol("add_route"))
    assert [h.id for h in twin] == [h.id for h in hits]


def test_language_and_path_filters(index: Index) -> None:
    go = index.search("root command flags", 5, languages=["Go"])
    assert go and {h.chunk.language for h in go} == {"go"}
    py = index.search("root command flags", 20, languages=["python"])
    assert py and {h.chunk.language for h in py} == {"python"}
    both = index.search("root command flags", 20, languages=["python", "javascript"])
    assert {h.chunk.language for h in both} == {"python", "javascript"}
    with pytest.raises(UnknownLanguageError, match="golang"):
        index.search("root", 5, languages=["golang"])

    hits = index.search("register", 20, paths=["*src/app/*.py"])
    assert hits and all(h.chunk.doc_id.startswith("repo/src/app/") for h in hits)
    tests = index.search("register", 20, paths=["**/test_*"])
    assert {h.chunk.doc_id for h in tests} == {"repo/tests/test_accounts.py"}
    narrowed = index.search("register", 20, paths=["*.py"], doc_ids=["repo/src/app/plugins.py"])
    assert {h.chunk.doc_id for h in narrowed} == {"repo/src/app/plugins.py"}
    assert index.find_symbol("register", languages=["go"]) == []
    assert {h.chunk.doc_id for h in index.find_symbol("register", paths=["*accounts.py"])} == {
        "repo/src/app/accounts.py"
    }
    passages = asyncio.run(index.aretrieve("ledger", 500, paths=["*accounts*"]))
    assert passages and {p.doc_id for p in passages} <= {
        "repo/src/app/accounts.py",
        "repo/tests/test_accounts.py",
    }

    with pytest.raises(DocumentsNotFoundError) as e:
        index.search("register", 5, paths=["*.py", "nope/*", "*.rb"])
    assert e.value.missing == ["nope/*", "*.rb"] and "'nope/*'" in str(e.value)


def test_cli_symbol_language_and_path(
    index: Index,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LONGDOC_DATA_DIR", str(data_dir))
    base = ["search", "--collection", COLLECTION]
    chunk = index.find_symbol("Blueprint.register")[0].chunk
    assert main([*base, "--symbol", "Blueprint.register"]) == 0
    out = capsys.readouterr().out
    where = f"repo/src/app/blueprints.py:{chunk.line_start}-{chunk.line_end}"
    assert where in out and "Blueprint.register" in out
    assert "app.blueprints[self.label] = self" in out

    assert main([*base, "root command", "--language", "go", "-k", "1"]) == 0
    out = capsys.readouterr().out
    go = index.read_document("repo/cmd/root.go")[0]
    assert f"cmd/root.go:{go.line_start}-{go.line_end}" in out and "profile.js" not in out

    assert main([*base, "ledger", "--path", "*accounts.py", "--budget", "300"]) == 0
    assert "self.ledger[account.key]" in capsys.readouterr().out

    for bad, named in (
        (["x", "--path", "nope/*"], "nope/*"),
        (["x", "--language", "golang"], "golang"),
        ([], "--symbol"),
    ):
        assert main([*base, *bad]) == 2
        err = capsys.readouterr().err
        assert named in err and "Traceback" not in err


def test_a_method_of_a_class_kept_whole_is_found_through_the_class(index: Index) -> None:
    [hit] = index.find_symbol("evict_oldest")
    assert hit.chunk.symbol == "LruCache" and hit.chunk.members == "LruCache.evict_oldest"
    assert "def evict_oldest(self):" in hit.chunk.text
