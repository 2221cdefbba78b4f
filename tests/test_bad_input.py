"""Bad input: one clear line naming the file, option or setting, a non-zero exit, nothing lost.

Issue 16, section 7: each case through the surface a user meets it on (the CLI, or the
API where that is the surface), with real parts (the fake OpenAI server over HTTP, real
Chroma and the real embedder in the slow ones).
"""

from __future__ import annotations

import codecs
import itertools
import random
import warnings
from pathlib import Path
from typing import Any

import pytest
from retrieval_support import write

from longdoc.agents.gateway import Gateway
from longdoc.cli import main
from longdoc.config import load_settings
from longdoc.errors import ConfigError, NoContextError
from longdoc.retrieval.chunking import Chunker
from longdoc.retrieval.loading import load_file
from longdoc.retrieval.models import LoadedDocument, LoadIssue
from longdoc.testing.fake_openai import FakeOpenAI

TEXT = "Hello wörld, ünïcode text.\nA second line, and a third one. " * 40


def _noise(size: int, seed: int) -> bytes:
    """Random bytes with no NUL (NUL alone marks a file binary)."""
    rng = random.Random(seed)
    return bytes(rng.randrange(1, 256) for _ in range(size))


def _error_line(err: str) -> str:
    """The CLI's error message, checked to be one message and no traceback."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return err


# --- settings ----------------------------------------------------------------------------
def test_a_malformed_toml_names_the_file_and_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = write(tmp_path / "longdoc.toml", 'model = "openai/fake"\ncontext_window 4096\n')
    monkeypatch.setenv("LONGDOC_CONFIG", str(toml))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.problems[0][0] == str(toml)
    assert "line 2" in caught.value.problems[0][1]
    assert main(["doctor", "--no-call"]) == 2
    err = _error_line(capsys.readouterr().err)
    assert str(toml) in err and "line 2" in err and "TOMLDecodeError" not in err


def test_a_toml_that_is_not_utf8_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = write(tmp_path / "longdoc.toml", b'model = "\xff"\n')
    monkeypatch.setenv("LONGDOC_CONFIG", str(toml))
    with pytest.raises(ConfigError, match=r"longdoc\.toml"):
        load_settings()


def test_doctor_warns_that_local_ignores_the_api_base(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LONGDOC_API_BASE", "http://127.0.0.1:9/v1")
    assert main(["doctor", "--no-call"]) == 1  # model=local, the default
    out = " ".join(capsys.readouterr().out.split())
    assert "warning: api_base (LONGDOC_API_BASE) is set to http://127.0.0.1:9/v1" in out
    assert "model=local" in out


def test_doctor_does_not_warn_without_an_api_base(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--no-call"]) == 0
    assert "warning:" not in capsys.readouterr().out


# --- the model's tokenizer --------------------------------------------------------------------
def test_another_tokenize_dialect_falls_back_to_litellm_with_one_warning(
    server: FakeOpenAI,
) -> None:
    server.dialect = "llamacpp"  # a hosted_vllm/ model expects vLLM's {"count": ...}
    gw = Gateway(load_settings(model="hosted_vllm/fake", api_base=server.api_base))
    with pytest.warns(RuntimeWarning, match="another /tokenize dialect") as caught:
        assert gw.count_tokens("one two three") > 0
    assert len(caught) == 1 and server.base_url in str(caught[0].message)
    assert gw.endpoint.counter.source == "litellm"
    asked = server.tokenize_calls
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # given up for good: no warning, no request
        assert gw.count_tokens("four five six seven") > 0
        assert gw.count_messages([{"role": "user", "content": "hi there"}]) > 0
    assert server.tokenize_calls == asked
    assert gw.complete("still answers").text == "notes or answer"
    gw.close()


# --- questions ---------------------------------------------------------------------------
@pytest.mark.parametrize("question", ["", "   "])
def test_an_empty_question_is_an_error_not_a_summary(
    server: FakeOpenAI, question: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", question, "--doc", "any"]) == 2
    err = _error_line(capsys.readouterr().err)
    assert "QUESTION" in err and "summarize" in err
    assert server.requests == []


@pytest.mark.slow  # resolving --evidence opens the index and its embedder
def test_write_keeps_quiet_about_finished_sections_when_none_was_written(
    server: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["write", "a story", "--words", "200", "--evidence", "nosuch-doc"]) == 2
    err = _error_line(capsys.readouterr().err)
    assert "nosuch-doc" in err
    assert "finished sections are kept" not in err
    assert server.requests == []


def test_write_says_finished_sections_are_kept_once_one_was_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import longdoc.agents.gateway as gateway_module
    from longdoc.errors import LongdocError
    from longdoc.testing.scripted import ScriptedModel
    from longdoc.testing.writer import ExactWriter

    writer = ExactWriter(plan=lambda words: [100, 100])
    real = gateway_module.Gateway

    def respond(messages: Any, params: Any) -> str:
        # Calls: plan, write 1, summarise 1, write 2: the second section fails.
        if len(writer.roles) == 3:
            raise LongdocError("the model went away")
        return writer(messages, params)

    def scripted_gateway(settings: Any, **kwargs: Any) -> Any:
        return real(settings, backend=ScriptedModel(respond))

    monkeypatch.setattr(gateway_module, "Gateway", scripted_gateway)
    assert main(["write", "a guide to island birds", "--words", "200"]) == 2
    err = capsys.readouterr().err
    assert "the model went away" in err and "finished sections are kept" in err


# --- chunks bounded in characters ------------------------------------------------------------
def test_a_long_line_of_unknown_tokens_is_cut_by_characters() -> None:
    rng = random.Random(7)
    blob = "".join(
        rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789") for _ in range(2**21)
    )
    text = f"A first sentence.\n{blob}\nThe end.\n"
    # WordPiece reads a word of 2 MB as one [UNK]: a counter of words stands in for it.
    chunker = Chunker(lambda texts: [len(t.split()) for t in texts], max_tokens=256)
    doc = LoadedDocument(doc_id="blob.txt", source="blob.txt", text=text, content_hash="x")
    chunks = chunker.chunk(doc)
    assert max(len(c.text) for c in chunks) <= chunker.max_chars == 8 * 256
    assert len(chunks) >= len(blob) // chunker.max_chars
    assert all(text[c.char_start : c.char_end] == c.text for c in chunks)
    covered = "".join(text[a.char_end : b.char_start] for a, b in itertools.pairwise(chunks))
    assert not covered.strip()  # nothing between chunks is lost
    assert chunks[0].char_start == 0 and text[chunks[-1].char_end :].strip() == ""
    assert str(chunker.max_chars) in chunker.signature  # a new cap re-chunks


# --- loading ----------------------------------------------------------------------------------
@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be"])
def test_utf16_and_utf32_with_a_bom_are_decoded(tmp_path: Path, codec: str) -> None:
    bom = {
        "utf-16-le": codecs.BOM_UTF16_LE,
        "utf-16-be": codecs.BOM_UTF16_BE,
        "utf-32-be": codecs.BOM_UTF32_BE,
    }.get(codec, b"")
    path = write(tmp_path / "wide.txt", bom + TEXT.encode(codec))
    doc = load_file(path)
    assert isinstance(doc, LoadedDocument), doc
    assert doc.text == TEXT and doc.warnings == []


def test_random_bytes_without_nul_are_refused_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "noise.txt", _noise(50_000, seed=3))
    issue = load_file(path)
    assert isinstance(issue, LoadIssue)
    assert issue.path == str(path) and "binary file" in issue.reason


def test_text_with_a_few_odd_bytes_is_still_text(tmp_path: Path) -> None:
    data = TEXT.encode() + b"\x1b[1mbold\x1b[0m \x07\x01"  # terminal escapes, a bell
    doc = load_file(write(tmp_path / "log.txt", data))
    assert isinstance(doc, LoadedDocument) and doc.text.startswith(TEXT)


# --- no context, unknown documents (real Chroma and embedder) ----------------------------
@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["rag", "reason"])
def test_a_strategy_that_finds_no_context_says_so(
    server: FakeOpenAI, strategy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "who is the captain?", "--strategy", strategy]) == 2  # empty index
    err = _error_line(capsys.readouterr().err)
    assert f"{strategy} found no text in index" in err
    assert server.requests == []  # no answer made up from nothing


@pytest.mark.slow
def test_rag_api_raises_no_context_error(server: FakeOpenAI) -> None:
    from longdoc.retrieval import Index
    from longdoc.workflows.baselines import rag

    with Gateway(load_settings()) as gw, pytest.raises(NoContextError) as caught:
        gw.run_sync(rag(gw, "who?", index=Index(settings=gw.settings)))
    assert caught.value.strategy == "rag" and caught.value.source == "index"


@pytest.mark.slow
def test_ingest_decodes_utf16_refuses_noise_and_search_refuses_unknown_docs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "mixed"
    write(root / "wide.txt", TEXT.encode("utf-16"))
    write(root / "noise.txt", _noise(20_000, seed=5))
    assert main(["ingest", str(root)]) == 0
    out = capsys.readouterr()
    assert "noise.txt" in out.err and "binary file" in out.err
    assert main(["search", "unicode text", "--doc", "mixed/wide.txt"]) == 0
    assert "mixed/wide.txt" in capsys.readouterr().out
    assert main(["search", "unicode text", "--doc", "nosuch"]) == 2
    err = _error_line(capsys.readouterr().err)
    assert "'nosuch'" in err and "index list" in err
    assert main(["index", "list"]) == 0  # nothing already ingested is lost
    listing = capsys.readouterr().out
    assert "mixed/wide.txt" in listing and "noise.txt" not in listing
