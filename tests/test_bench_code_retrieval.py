"""The gold parsing and scoring of benchmarks/code_retrieval.py (no embedder, no data)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "code_retrieval.py"


@pytest.fixture(scope="module")
def cr():
    # benchmarks/ is no package: load the script by path (it puts its folder on sys.path).
    spec = importlib.util.spec_from_file_location("bench_code_retrieval", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


FILES = {"src/pkg/models.py": 100, "src/pkg/utils.py": 50, "src/pkg/_utils.py": 50}


def test_paths_resolve_exactly_or_by_unique_suffix(cr):
    assert cr.resolve_path("src/pkg/models.py", FILES) == "src/pkg/models.py"
    assert cr.resolve_path("models.py", FILES) == "src/pkg/models.py"
    assert cr.resolve_path("pkg/utils.py", FILES) == "src/pkg/utils.py"
    assert cr.resolve_path("utils.py", FILES) == "src/pkg/utils.py"  # not _utils.py
    assert cr.resolve_path("tests/test_models.py", FILES) is None


def test_line_citations_attach_to_the_right_file(cr):
    answer = (
        "In `src/pkg/models.py`, `prepare` (lines 3-5) calls `hook` (line 9).\n"
        "The helper (lines 7-8 in `utils.py`) is tested in `tests/test_utils.py` (line 40).\n"
        "See also models.py:20-21, L30-L31 and lines 60, 62-63; line 400 is past the end."
    )
    gold = cr.parse_gold(answer, FILES)
    assert gold.files == {"src/pkg/models.py", "src/pkg/utils.py"}
    assert gold.missing == {"tests/test_utils.py"}
    m, u = "src/pkg/models.py", "src/pkg/utils.py"
    expected = {(m, n) for n in (3, 4, 5, 9, 20, 21, 30, 31, 60, 62, 63)} | {(u, 7), (u, 8)}
    assert gold.lines == expected  # line 40 belongs to a file outside the tree
    assert gold.orphans == 0


def test_a_citation_before_any_file_waits_for_one_on_its_line(cr):
    answer = (
        "`close()` (line 12) is defined in `models.py`.\n"
        "The setup (line 3) runs first.\n\nLater `utils.py` line 4 is named."
    )
    gold = cr.parse_gold(answer, FILES)
    m, u = "src/pkg/models.py", "src/pkg/utils.py"
    assert gold.lines == {(m, 12), (m, 3), (u, 4)}  # line 3: models.py, the file named last
    assert gold.orphans == 0
    alone = cr.parse_gold("`close()` (line 12) is short.\nIt lives in `models.py`.", FILES)
    assert (alone.lines, alone.orphans) == (set(), 1)


GO = """package x

// Run runs it.
// It returns an error.
func Run() error {
\treturn nil
}
"""

JS = """var a = 1;
/**
 * Render the view.
 *
 * @private
 */

View.prototype.render = function render() {};
"""


def test_doc_comments_above_a_definition_are_blanked_in_a_copy(cr, tmp_path):
    src = tmp_path / "repo"
    src.mkdir()
    (src / "x.go").write_text(GO)
    (src / "v.js").write_text(JS)
    queries = [{"file": "x.go", "line_start": 5}, {"file": "v.js", "line_start": 7}]
    tree, blanked, bare = cr.blanked_copy(src, queries, tmp_path / "work")
    assert (blanked, bare) == (2 + 5, 0)
    go = (tree / "x.go").read_text().split("\n")
    assert go[:5] == ["package x", "", "", "", "func Run() error {"]
    js = (tree / "v.js").read_text().split("\n")
    assert js[0] == "var a = 1;" and js[1:6] == [""] * 5
    assert len(js) == len(JS.split("\n"))
    assert (src / "x.go").read_text() == GO  # the original is untouched


def test_a_definition_without_comment_blanks_nothing(cr):
    lines = ["x := 1", "func F() {}"]
    assert cr.blank_comments(lines, 2) == 0
    assert lines == ["x := 1", "func F() {}"]


def test_offsets_map_to_lines(cr):
    text = "a\nbb\nccc\n"
    lm = cr.LineMap(text)
    assert lm.lines == 3
    assert lm.span(0, 1) == (1, 1)
    assert lm.span(2, 5) == (2, 2)  # "bb\n": the newline ends line 2
    assert lm.span(2, 9) == (2, 3)
    assert lm.span(5, 8) == (3, 3)


def test_recall_overlap_and_share(cr):
    spans = [("a.py", 10, 20), ("b.py", 1, 5)]
    assert cr.file_recall(spans, {"a.py", "c.py"}) == 0.5
    assert cr.line_recall(spans, {("a.py", 10), ("a.py", 21), ("b.py", 5), ("c.py", 1)}) == 0.5
    assert cr.overlaps(spans, "a.py", 20, 30)
    assert not cr.overlaps(spans, "a.py", 21, 30)
    assert not cr.overlaps(spans, "c.py", 1, 100)
    assert cr.line_share(spans, "a.py", 16, 25) == 0.5
    assert cr.line_share(spans, "c.py", 1, 2) == 0.0
