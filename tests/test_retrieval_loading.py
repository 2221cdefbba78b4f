"""Loading files and folders: encodings, Gutenberg, HTML, PDF, and every bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from retrieval_support import make_pdf, write

from longdoc.errors import SourceNotFoundError
from longdoc.retrieval.loading import decode_bytes, load_file, scan, strip_gutenberg
from longdoc.retrieval.models import LoadedDocument, LoadIssue

GUTENBERG = """\ufeffThe Project Gutenberg eBook of Tiny Tale\r
\r
Title: Tiny Tale\r
Author: Nobody\r
\r
*** START OF THE PROJECT GUTENBERG EBOOK TINY TALE ***\r
\r
CHAPTER 1.\r
Once upon a time.\r
\r
*** END OF THE PROJECT GUTENBERG EBOOK TINY TALE ***\r
Section 1. General Terms of Use and Redistributing Project Gutenberg\r
"""


def _rel(root: Path, files: list[tuple[Path, Path]]) -> set[str]:
    return {f.relative_to(root).as_posix() for _r, f in files}


def test_missing_path_error_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "book.txt"
    with pytest.raises(SourceNotFoundError) as err:
        scan([missing])
    assert err.value.path == missing
    assert str(missing) in str(err.value)
    with pytest.raises(SourceNotFoundError):
        load_file(missing)


def test_gutenberg_header_and_licence_are_stripped_title_kept(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path / "tale.txt", GUTENBERG.encode("utf-8")))
    assert isinstance(doc, LoadedDocument)
    assert doc.text.startswith("Tiny Tale\n\nCHAPTER 1.")
    assert "Once upon a time." in doc.text
    assert "Project Gutenberg" not in doc.text and "\r" not in doc.text
    assert strip_gutenberg("no markers here") == "no markers here"


def test_moby_dick_gutenberg_stripping(shared_data: Path) -> None:
    doc = load_file(shared_data / "books" / "moby_dick.txt")
    assert isinstance(doc, LoadedDocument)
    assert doc.text.startswith("Moby Dick; Or, The Whale\n\nCHAPTER 1. Loomings.")
    assert "Call me Ishmael." in doc.text[:500]
    assert "GUTENBERG" not in doc.text.upper().replace("GUTENBERG-TM", "")[-20000:]
    assert "*** END" not in doc.text and "\r" not in doc.text


def test_latin1_falls_back_and_is_reported() -> None:
    french = (
        "Le café était très chaud. À côté de la fenêtre, elle lisait un roman célèbre "
        "où les héros, fatigués, rêvaient d'été, de forêts et de châteaux. "
    ) * 5
    text, warnings = decode_bytes(french.encode("latin-1"), "x.txt")
    assert text == french
    assert warnings and "x.txt" in warnings[0] and "not UTF-8" in warnings[0]


def test_undecodable_bytes_are_replaced_and_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.txt", b"good start " + b"\xff\xfe\xfa" * 3 + b" good end")
    doc = load_file(path)
    assert isinstance(doc, LoadedDocument)
    assert doc.text.startswith("good start") and doc.text.rstrip().endswith("good end")
    assert doc.warnings and str(path) in doc.warnings[0]


def test_html_keeps_text_only(tmp_path: Path) -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<h1>Heading</h1><p>First &amp; para.</p><script>var x = 1;</script>"
        "<p>Second para.</p></body></html>"
    )
    doc = load_file(write(tmp_path / "page.html", html))
    assert isinstance(doc, LoadedDocument)
    assert "Heading" in doc.text and "First & para." in doc.text and "Second para." in doc.text
    assert "color" not in doc.text and "var x" not in doc.text and "<p>" not in doc.text


def test_pdf_text_and_corrupt_pdf(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path / "a.pdf", make_pdf("Hello from a PDF page")))
    assert isinstance(doc, LoadedDocument)
    assert "Hello from a PDF page" in doc.text
    issue = load_file(write(tmp_path / "broken.pdf", b"%PDF-1.4 this is not a pdf"))
    assert isinstance(issue, LoadIssue) and issue.skipped and "broken.pdf" in issue.path


def test_folder_walk_rules(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root / ".gitignore", "*.log\nbuild/\n!keep.log\n")
    write(root / "README.md", "# Readme\n")
    write(root / "src" / "mod.py", "def f():\n    return 1\n")
    write(root / "src" / ".gitignore", "secret.txt\n")
    write(root / "src" / "secret.txt", "hidden")
    write(root / "debug.log", "noise")
    write(root / "keep.log", "kept")
    write(root / "build" / "out.txt", "generated")
    write(root / ".git" / "config", "[core]")
    write(root / "node_modules" / "x" / "index.js", "module.exports = 1")
    write(root / "env" / "pyvenv.cfg", "home = /usr")
    write(root / "env" / "lib" / "site.py", "x = 1")
    write(root / "image.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    write(root / "data.bin2", b"abc\x00def")
    write(root / "big.txt", "x" * 5000)
    result = scan([root], max_file_bytes=1000)
    files = _rel(root, result.files)
    assert {"README.md", "src/mod.py", "keep.log", ".gitignore", "data.bin2"} <= files
    for gone in ("debug.log", "build/out.txt", ".git/config", "node_modules/x/index.js",
                 "env/lib/site.py", "src/secret.txt", "image.png", "big.txt"):  # fmt: skip
        assert gone not in files
    reasons = {Path(i.path).name: i.reason for i in result.issues}
    assert "binary" in reasons["image.png"] and "larger than 1000" in reasons["big.txt"]
    # data.bin2 has no known extension: sniffed at load time and reported.
    issue = load_file(root / "data.bin2")
    assert isinstance(issue, LoadIssue) and "binary" in issue.reason


def test_symlink_loop_terminates_and_outside_links_are_not_followed(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside" / "private.txt", "do not read")
    root = tmp_path / "root"
    write(root / "a" / "note.txt", "inside")
    os.symlink(root, root / "a" / "loop")  # a loop back to the root
    os.symlink(root / "a", root / "a" / "self")  # a loop to itself
    os.symlink(outside, root / "escape.txt")
    os.symlink(outside.parent, root / "escape_dir")
    os.symlink(tmp_path / "missing", root / "dangling")
    result = scan([root])
    files = _rel(root, result.files)
    assert files == {"a/note.txt"}
    reasons = " ".join(i.reason for i in result.issues)
    assert "leaves the root" in reasons and "unreadable link" in reasons
