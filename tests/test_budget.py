"""The one budget rule (window - frame - reserved - margin, refused below a floor) and its users."""

from __future__ import annotations

import pytest

from longdoc.agents.baselines import single_pass_messages
from longdoc.agents.chain import manager_messages, worker_messages
from longdoc.agents.gateway import Gateway
from longdoc.agents.gateway.structured import with_schema
from longdoc.agents.reason import Extraction, extractor_messages
from longdoc.agents.writing import WritingBrief, write_section, writer_messages
from longdoc.config import load_settings
from longdoc.errors import BudgetError, ContextWindowError
from longdoc.testing.scripted import ScriptedModel
from longdoc.workflows.baselines import excerpt_budget
from longdoc.workflows.budget import seam_margin, tokens_left
from longdoc.workflows.chain.plan import plan
from longdoc.workflows.reason.candidates import extraction_budget, repair_reserve


def gateway(window: int) -> Gateway:
    settings = load_settings(context_window=window, max_output_tokens=64)
    return Gateway(settings, backend=ScriptedModel(lambda messages, params: "ok"), cache=False)


def test_tokens_left_is_the_window_less_every_term_and_the_seam_margin() -> None:
    left = tokens_left(window=4096, frame=300, reserved={"notes": 200, "reply": 100}, what="x")
    assert left == 4096 - 300 - 200 - 100 - seam_margin(4096) == 3440
    assert tokens_left(window=4096, frame=300, margin=0, what="x") == 3796
    # without a floor any budget is accepted, even a negative one
    assert tokens_left(window=100, frame=300, what="x") == 100 - 300 - 17


def test_a_budget_below_its_floor_names_every_term() -> None:
    with pytest.raises(BudgetError) as info:
        tokens_left(
            window=1000,
            frame=720,
            frame_label="instructions and query",
            reserved={"previous notes": 100, "new notes": 100},
            floor=64,
            what="document text per worker call",
        )
    error = info.value
    assert (error.budget, error.needed) == (1000 - 720 - 200 - 26, 64)
    assert error.detail == (
        "document text per worker call: window 1000 - instructions and query 720 "
        "- previous notes 100 - new notes 100 - margin 26"
    )
    assert "only 54 tokens are left" in str(error)
    # the floor itself is accepted
    assert tokens_left(window=1000, frame=700, reserved={"n": 210}, floor=64, what="x") == 64


def test_the_chain_plan_keeps_its_numbers_and_checks_the_manager() -> None:
    gw = gateway(2048)
    frame = gw.count_messages(worker_messages("qa", "Where?", "", "", 1, 1))
    assert plan(gw, "qa", "Where?", 200, 100) == 2048 - frame - 2 * 200 - seam_margin(2048)
    # the workers fit but the manager's prompt, notes and answer do not
    with pytest.raises(BudgetError) as info:
        plan(gw, "qa", "Where?", 200, 1790)
    manager = gw.count_messages(manager_messages("qa", "Where?", ""))
    assert info.value.budget == 2048 - manager - 200 - 1790 - seam_margin(2048)
    assert info.value.needed == 0
    assert "manager prompt" in info.value.detail and "answer 1790" in info.value.detail
    with pytest.raises(BudgetError, match="previous notes 1000 - new notes 1000"):
        plan(gw, "qa", "Where?", 1000, 100)


def test_extraction_and_one_call_budgets_keep_their_numbers() -> None:
    gw = gateway(4096)
    frame = gw.count_messages(with_schema(extractor_messages("Where?", []), Extraction))
    repair = repair_reserve(gw, 256)
    assert extraction_budget(gw, "Where?", 256) == 4096 - frame - 256 - repair - seam_margin(4096)
    with pytest.raises(BudgetError, match=f"reply 3000 - repair {repair_reserve(gw, 3000)}"):
        extraction_budget(gw, "Where?", 3000)
    frame = gw.count_messages(single_pass_messages("qa", "Where?", [""]))
    assert excerpt_budget(gw, "qa", "Where?", 512) == 4096 - frame - 512 - seam_margin(4096)
    with pytest.raises(BudgetError, match="answer 4000"):
        excerpt_budget(gw, "qa", "Where?", 4000)


def test_the_writer_refuses_a_window_that_leaves_no_room_to_write() -> None:
    brief = WritingBrief(instruction="Write about owls. " * 150, outline="1. Owls", title="Owls",
                         words=100)  # fmt: skip
    small = gateway(512)
    with pytest.raises(ContextWindowError) as info:
        small.run_sync(write_section(small, brief, max_tokens=200))
    assert info.value.stage == "writer" and info.value.context_window == 512
    # a cap larger than the room is lowered to exactly what the window leaves
    caps: list[object] = []
    large = Gateway(
        load_settings(context_window=4096, max_output_tokens=64),
        backend=ScriptedModel(lambda messages, params: caps.append(params["max_tokens"]) or "ok"),
        cache=False,
    )
    assert large.run_sync(write_section(large, brief, max_tokens=4000)) == "ok"
    prompt = large.count_messages(writer_messages(brief))
    assert caps == [4096 - prompt - seam_margin(4096)]
