"""longdoc's sentence boundaries are those of the untrained Punkt that llama-index uses."""

from __future__ import annotations

import random

import pytest
from llama_index.core.node_parser.text.utils import split_by_sentence_tokenizer

from longdoc.retrieval.sentences import split_sentences

# Marks, quotes, brackets, every kind of space and line break, initials, numbers,
# ellipses, abbreviations, case-changing and non-Latin letters: each of Punkt's rules.
_PIECES = [
    *"aAbZz09 .  ..?!,;:'\"()[]{}--\n\n\t\x0b\x0c\r\x1c\x85\u2028\xa0\u3000",
    *"\u201c\u201d\u2018\u2019\xab\xbb#*@&`-\u0130\xdf\u3002\uff1f\uff015",
    *["Mr", "J", "the", "The", "1.2", "U.S", "...", ". .", "etc", "e.g", "\n\n\n"],
    *["\u2116", "\u2168", "\u0663", "-3", ",5"],
]


def test_a_book_splits_into_the_same_sentences(austen_text: str) -> None:
    reference = split_by_sentence_tokenizer()
    sentences = split_sentences(austen_text)
    assert sentences == reference(austen_text) and len(sentences) > 3000
    paragraphs = austen_text.split("\n\n")
    assert [split_sentences(p) for p in paragraphs] == [reference(p) for p in paragraphs]


@pytest.mark.parametrize("seed", range(3))
def test_hostile_text_splits_into_the_same_sentences(seed: int) -> None:
    reference = split_by_sentence_tokenizer()
    rng = random.Random(seed)
    texts = ["".join(rng.choices(_PIECES, k=rng.randint(1, 60))) for _ in range(3000)]
    differ = [t for t in texts if split_sentences(t) != reference(t)]
    assert not differ, differ[:3]
    assert sum(len(split_sentences(t)) > 1 for t in texts) > 1000  # the cases cut somewhere


def test_known_decisions() -> None:
    # Untrained Punkt: every period ends a sentence but an initial before a name,
    # a number before a lower-case word, and an ellipsis.
    text = "J. Smith met Mr. Brown. See 5. the list... and go! Done? Yes (really.) Ok."
    assert split_sentences(text) == [
        "J. Smith met Mr. ",
        "Brown. ",
        "See 5. the list... and go! ",
        "Done? ",
        "Yes (really.) ",
        "Ok.",
    ]
    assert split_sentences("") == [] and split_sentences("no mark") == ["no mark"]
