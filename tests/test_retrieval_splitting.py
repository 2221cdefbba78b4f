"""The one "fit then cut" splitter and the one longest-prefix search."""

from __future__ import annotations

import pytest
from llama_index.core.node_parser import SentenceSplitter

from longdoc.errors import BudgetError
from longdoc.retrieval.splitting import (
    fit_then_cut,
    longest_prefix,
    rough_tokens,
    sentence_split,
    split_to_budget,
)
from longdoc.testing.scripted import count_word_tokens

TEXT = "one two three four five six seven eight nine ten"


def test_longest_prefix_by_characters() -> None:
    assert longest_prefix(TEXT, 7, len) == "one two"
    assert longest_prefix(TEXT, 0, len) == ""
    assert longest_prefix(TEXT, 10_000, len) == TEXT
    # The counter may count the prefix inside a larger text: here a 10-token frame.
    assert longest_prefix(TEXT, 13, lambda p: len(p) + 10) == "one"


def test_longest_prefix_by_words_never_cuts_a_word() -> None:
    assert longest_prefix(TEXT, 3, count_word_tokens, sep=" ") == "one two three"
    assert longest_prefix(TEXT, 9, len, sep=" ") == "one two"  # "one two t" would fit
    assert longest_prefix("unbreakable", 5, len, sep=" ") == ""
    marked = longest_prefix(TEXT, 6, lambda p: count_word_tokens(p + " […]"), sep=" ")  # 3 + 3
    assert marked == "one two three"


def test_fit_then_cut_cuts_only_what_is_over_and_keeps_the_order() -> None:
    cut_calls: list[tuple[str, int]] = []

    def halve(part: str, n: int) -> list[str]:
        cut_calls.append((part, n))
        return [part[: len(part) // 2], part[len(part) // 2 :]]

    parts = ["ab", "abcdefghij", "xyz"]
    out = fit_then_cut(parts, limit=3, count=lambda ps: [len(p) for p in ps], cut=halve)
    assert "".join(out) == "".join(parts) and all(len(p) <= 3 for p in out)
    assert out[0] == "ab" and out[-1] == "xyz"
    assert cut_calls[0] == ("abcdefghij", 10)
    assert {p for p, _n in cut_calls} <= {"abcdefghij", "abcde", "fghij"}


def test_split_to_budget_holds_for_a_counter_unlike_words() -> None:
    text = "\n\n".join(
        f"Paragraph {i} says something rather long-winded about item {i}. " * 6 for i in range(30)
    )
    text += "\n\n" + "x" * 3000  # no boundary at all: cut by characters

    def count(s: str) -> int:
        return len(s) // 3 + 1

    parts = split_to_budget(text, 120, count)
    assert parts and all(count(p) <= 120 for p in parts)
    assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )
    with pytest.raises(BudgetError):
        split_to_budget(text, 8, count)
    assert split_to_budget(" \n ", 120, count) == []


def _splitter_text() -> str:
    # Paragraphs, sentences, a long sentence with commas and one without punctuation:
    # every level of the splitter's recursion is reached.
    para = " ".join(f"Sentence {i} of the survey is short." for i in range(30))
    commas = ", ".join(f"clause {i} runs on" for i in range(80)) + "."
    bare = " ".join(f"word{i}" for i in range(300))
    return "\n\n\n".join([para, commas, bare, "Last one. Done."] * 3)


@pytest.mark.parametrize(("size", "overlap"), [(40, 0), (60, 8), (200, 20)])
def test_sentence_split_equals_llama_index_s_splitter(size: int, overlap: int) -> None:
    text = _splitter_text()
    calls: list[int] = []

    def counts(texts: list[str]) -> list[int]:
        calls.append(len(texts))
        return [len(rough_tokens(t)) for t in texts]

    stock = SentenceSplitter(
        chunk_size=size, chunk_overlap=overlap, tokenizer=rough_tokens
    ).split_text(text)
    assert sentence_split(text, size, rough_tokens, chunk_overlap=overlap) == stock
    batched = sentence_split(text, size, rough_tokens, chunk_overlap=overlap, counts=counts)
    assert batched == stock and len(stock) > 5
    assert len(calls) < sum(calls) / 4  # counted in batches, not one text a call
