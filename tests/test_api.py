"""The typed public API: explicit options per strategy, typed results, owned gateways closed."""

from __future__ import annotations

import ast
import inspect
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

import longdoc
from longdoc.agents.gateway import Gateway
from longdoc.config import load_settings
from longdoc.errors import LongdocError, StrategyOptionError
from longdoc.testing.fake_openai import FakeOpenAI
from longdoc.testing.scripted import ScriptedModel
from longdoc.workflows.results import (
    AskResult,
    ChainResult,
    ReasonResult,
    StrategyResult,
    VanillaResult,
)

DOC = "\n\n".join(f"Paragraph {i}. " + "Words go on and on. " * 30 for i in range(12))


def scripted(reply: str = "an answer") -> tuple[Gateway, ScriptedModel]:
    model = ScriptedModel(lambda messages, params: reply)
    return Gateway(load_settings(context_window=1024, max_output_tokens=64), backend=model), model


@pytest.mark.parametrize(
    ("strategy", "given", "option"),
    [
        ("vanilla", {"run_id": "mine"}, "run_id"),
        ("rag", {"run_id": "mine"}, "run_id"),
        ("vanilla", {"direction": "both"}, "direction"),
        ("vanilla", {"vote": True}, "vote"),
        ("chain", {"k": 4}, "k"),
        ("reason", {"notes_tokens": 99}, "notes_tokens"),
        ("rag", {"extract_tokens": 99}, "extract_tokens"),
        ("rag", {"path": "book.txt"}, "path"),
    ],
)
def test_an_option_the_strategy_does_not_use_is_an_error_naming_both(
    strategy: str, given: dict[str, Any], option: str
) -> None:
    gateway, model = scripted()
    where: dict[str, Any] = {} if "path" in given else {"text": DOC}
    with pytest.raises(StrategyOptionError) as info:
        longdoc.ask("What?", strategy=strategy, gateway=gateway, **where, **given)  # type: ignore[arg-type]
    assert (info.value.option, info.value.strategy) == (option, strategy)
    assert option in str(info.value) and f"{strategy} strategy" in str(info.value)
    assert isinstance(info.value, LongdocError) and model.calls == []  # refused before any call


@pytest.mark.parametrize(
    ("strategy", "given", "option"),
    [
        ("chain", {"direction": "sideways"}, "direction"),
        ("chain", {"notes_tokens": 0}, "notes_tokens"),
        ("reason", {"threshold": 150.0}, "threshold"),
        ("vanilla", {"answer_tokens": -1}, "answer_tokens"),
    ],
)
def test_an_invalid_option_value_is_an_error_naming_it(
    strategy: str, given: dict[str, Any], option: str
) -> None:
    gateway, model = scripted()
    with pytest.raises(StrategyOptionError, match="is invalid") as info:
        longdoc.ask("What?", text=DOC, strategy=strategy, gateway=gateway, **given)  # type: ignore[arg-type]
    assert info.value.option == option and model.calls == []


def test_the_workflow_classes_validate_their_options_the_same_way() -> None:
    gateway, _ = scripted()
    with pytest.raises(StrategyOptionError) as info:
        longdoc.ChainOfAgents(gateway, direction="sideways")  # type: ignore[arg-type]
    assert (info.value.option, info.value.strategy) == ("direction", "chain")
    with pytest.raises(StrategyOptionError, match="threshold"):
        longdoc.RetrieveThenReason(gateway, threshold=101)


def test_answer_tokens_caps_the_vanilla_answer() -> None:
    seen: list[int] = []

    def model(messages: list, params: dict) -> str:
        seen.append(params["max_tokens"])
        return "short"

    gateway = Gateway(load_settings(context_window=1024), backend=ScriptedModel(model))
    result = longdoc.ask("What?", text=DOC, strategy="vanilla", answer_tokens=17, gateway=gateway)
    assert seen == [17] and isinstance(result, VanillaResult) and result.answer == "short"


def test_results_are_typed_per_strategy_and_read_back_by_strategy() -> None:
    gateway, _ = scripted('{"sentences": []}')  # the extractor finds nothing: no reasoner call
    chain = longdoc.ask("What?", text=DOC, strategy="chain", gateway=gateway)
    vanilla = longdoc.ask("What?", text=DOC, strategy="vanilla", gateway=gateway)
    reason = longdoc.ask("What?", text=DOC, strategy="reason", gateway=gateway)
    assert [type(r) for r in (chain, vanilla, reason)] == [ChainResult, VanillaResult, ReasonResult]
    assert isinstance(reason, ReasonResult) and reason.citations == []
    assert reason.answer == gateway.settings.reason_not_found
    adapter: TypeAdapter[Any] = TypeAdapter(AskResult)
    for result in (chain, vanilla, reason):
        assert isinstance(result, StrategyResult) and result.run_id and result.usage
        back = adapter.validate_json(result.model_dump_json())
        assert type(back) is type(result) and back == result


def test_the_question_comes_first_and_the_trio_shares_one_signature() -> None:
    for cls in (longdoc.ChainOfAgents, longdoc.RetrieveThenReason, longdoc.LongWriter):
        stream = inspect.signature(cls.astream).parameters
        for method in (cls.arun, cls.run):
            assert inspect.signature(method).parameters == stream, (cls, method)
        first = list(stream)[1]
        assert first in ("query", "instruction")
        assert stream["run_id"].kind is inspect.Parameter.KEYWORD_ONLY
    assert inspect.iscoroutinefunction(longdoc.ChainOfAgents.arun)
    assert inspect.signature(longdoc.MemoryChat.read).parameters.keys() == {"self", "source"}


def test_ask_over_a_string_source_resumes_like_a_document() -> None:
    gateway, model = scripted()
    coa = longdoc.ChainOfAgents(gateway)
    first = coa.run("What?", source=DOC)
    sent = len(model.calls)
    again = coa.run("What?", source=longdoc.from_text(DOC))
    assert again.run_id == first.run_id and again.resumed and len(model.calls) == sent


@pytest.fixture
def server(server: FakeOpenAI) -> FakeOpenAI:
    server.responder = lambda request: "an answer"
    return server


def _gateway_threads() -> int:
    return sum(t.name == "longdoc-gateway" and t.is_alive() for t in threading.enumerate())


def test_ask_and_summarize_close_the_gateway_they_create(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    book = tmp_path / "book.txt"
    book.write_text(DOC, encoding="utf-8")
    before = _gateway_threads()
    assert longdoc.ask("What?", text=DOC, strategy="vanilla").answer == "an answer"
    assert longdoc.summarize(book, strategy="vanilla").task == "summary"
    assert len(server.requests) == 2 and _gateway_threads() == before  # no event loop left


def test_a_gateway_the_caller_passes_stays_open(server: FakeOpenAI) -> None:
    with Gateway() as gateway:
        longdoc.ask("What?", text=DOC, strategy="vanilla", gateway=gateway)
        gateway.run_sync(longdoc.aask("Why?", text=DOC, strategy="vanilla", gateway=gateway))
        # still usable: its cache and its event loop were left alone
        assert gateway.complete("Hello?", max_tokens=8).text == "an answer"
        assert len(server.requests) == 3 and gateway.cache is not None


def test_every_exception_is_exported_from_longdoc() -> None:
    tree = ast.parse(Path(longdoc.errors.__file__).read_text(encoding="utf-8"))
    defined = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    assert "StrategyOptionError" in defined
    assert defined <= set(longdoc.__all__), sorted(defined - set(longdoc.__all__))
    for name in defined:
        assert getattr(longdoc, name) is getattr(longdoc.errors, name)
        assert issubclass(getattr(longdoc, name), LongdocError)
