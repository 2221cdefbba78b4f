"""Several replicas of one model (api_base lists several): litellm's Router under our retries."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from longdoc.agents.gateway import Gateway
from longdoc.config import load_settings
from longdoc.errors import ConfigError
from longdoc.testing.fake_openai import FakeOpenAI, _make_handler, _Server

DOC = " ".join(
    f"Paragraph {i} tells of the harbour, the ships and the year {1800 + i}." for i in range(200)
)


class Killable(FakeOpenAI):
    """A fake server whose :meth:`kill` also drops open keep-alive connections, as death does."""

    def start(self) -> Killable:
        sockets: list[socket.socket] = []
        self._sockets = sockets

        class Tracking(_Server):
            def process_request(self, request: Any, client_address: Any) -> None:
                sockets.append(request)
                super().process_request(request, client_address)

        self._server = Tracking(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.fail_tokenize(10**6, status=404)  # no /tokenize: every run counts alike
        return self

    def kill(self) -> None:
        self.stop()
        for s in self._sockets:
            with contextlib.suppress(OSError):  # already closed
                s.shutdown(socket.SHUT_RDWR)


def answer(request: dict[str, Any]) -> str:
    """A deterministic reply made from the prompt, whichever replica gets it."""
    text = request["messages"][-1]["content"]
    return "notes " + hashlib.sha256(text.encode()).hexdigest()[:12]


def gateway_for(*servers: FakeOpenAI, **overrides: Any) -> Gateway:
    settings = load_settings(
        model="openai/fake", api_base=",".join(s.api_base for s in servers), cache=False,
        context_window=1024, max_output_tokens=64, retries=4, **overrides,
    )  # fmt: skip
    gateway = Gateway(settings)

    async def no_wait(seconds: float) -> None:  # backoff is skipped, not slept
        return None

    gateway._sleep = no_wait
    return gateway


@pytest.fixture
def replicas() -> Any:
    servers = [Killable(responder=answer).start() for _ in range(2)]
    yield servers
    for s in servers:
        s.stop()


def test_one_endpoint_is_called_directly_and_counts_no_replicas(replicas: list[Killable]) -> None:
    with gateway_for(replicas[0]) as gw:
        assert gw.endpoint.replicas == ()
        assert gw.complete("hello").text.startswith("notes ")
        assert gw.usage().replicas == {}
    assert len(replicas[0].requests) == 1


def test_api_base_takes_a_list_in_the_toml_and_commas_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "longdoc.toml"
    toml.write_text('model = "openai/x"\napi_base = ["http://a:1/v1/", "http://b:2/v1"]\n')
    monkeypatch.setenv("LONGDOC_CONFIG", str(toml))
    assert load_settings().api_bases == ("http://a:1/v1", "http://b:2/v1")
    monkeypatch.setenv("LONGDOC_API_BASE", "http://c:3/v1, http://d:4/v1")
    assert load_settings().api_bases == ("http://c:3/v1", "http://d:4/v1")
    with pytest.raises(ConfigError, match="api_base"):
        load_settings(api_base="http://c:3/v1,,http://d:4/v1")
    with pytest.raises(ConfigError, match="routing_strategy"):
        load_settings(routing_strategy="round-robin")


@pytest.mark.parametrize("strategy", ["simple-shuffle", "least-busy"])
def test_calls_spread_over_replicas_and_the_ledger_counts_each(
    replicas: list[Killable], strategy: str
) -> None:
    with gateway_for(*replicas, routing_strategy=strategy) as gw:
        assert gw.endpoint.replicas == tuple(s.api_base for s in replicas)

        async def many() -> list[str]:
            done = await asyncio.gather(*(gw.acomplete(f"question {i}") for i in range(30)))
            return [c.text for c in done]

        texts = gw.run_sync(many())
        usage = gw.usage()
    assert len(set(texts)) == 30
    by_server = {s.api_base: len(s.requests) for s in replicas}
    assert {u: r.requests for u, r in usage.replicas.items()} == by_server
    assert sum(by_server.values()) == 30
    if strategy == "simple-shuffle":  # a random spread: all 30 on one has odds 2**-29
        assert all(by_server.values()), by_server


def test_a_chain_finishes_on_the_other_replica_when_one_stops_mid_run(
    replicas: list[Killable],
) -> None:
    from longdoc.api import ask

    reference = Killable(responder=answer).start()
    try:
        with gateway_for(reference) as gw:
            expected = ask("What happened?", text=DOC, strategy="chain", gateway=gw)
    finally:
        reference.stop()
    assert expected.parts >= 3, "several workers, so the stop falls mid-run"

    # The third request, whichever replica gets it, stops that replica before it answers.
    seen = 0
    lock = threading.Lock()
    reached, killed = threading.Event(), threading.Event()
    victim: list[Killable] = []

    def responder_of(server: Killable) -> Any:
        def respond(request: dict[str, Any]) -> str:
            nonlocal seen
            with lock:
                seen += 1
                last = seen == 3
            if last:
                victim.append(server)
                reached.set()
                killed.wait(10)  # the reply is written to a closed socket: lost
            return answer(request)

        return respond

    for s in replicas:
        s.responder = responder_of(s)

    def killer() -> None:
        if reached.wait(30):
            victim[0].kill()
        killed.set()

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    with gateway_for(*replicas) as gw:
        result = ask("What happened?", text=DOC, strategy="chain", gateway=gw)
    thread.join(5)
    assert victim, "the run reached its third request"
    (survivor,) = [s for s in replicas if s is not victim[0]]
    assert result.answer == expected.answer
    assert result.parts == expected.parts
    replica_usage = result.usage.replicas
    stopped_at = len(victim[0].requests)
    assert replica_usage[victim[0].api_base].failures == 1
    assert replica_usage[victim[0].api_base].requests == stopped_at <= 3
    assert replica_usage[survivor.api_base].requests == len(survivor.requests)
    assert replica_usage[survivor.api_base].failures == 0
    # Every call was answered once: the lost one was retried, on the survivor.
    assert len(survivor.requests) + stopped_at == len(reference.requests) + 1
    line = result.usage.replicas_line()
    assert line is not None and "(1 failed)" in line


def test_the_cli_says_which_replica_served_how_many_calls(
    replicas: list[Killable],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from longdoc.cli import main

    monkeypatch.setenv("LONGDOC_MODEL", "openai/fake")
    monkeypatch.setenv("LONGDOC_API_BASE", ",".join(s.api_base for s in replicas))
    monkeypatch.setenv("LONGDOC_CONTEXT_WINDOW", "1024")
    monkeypatch.setenv("LONGDOC_CACHE", "false")
    book = tmp_path / "book.txt"
    book.write_text(DOC, encoding="utf-8")
    assert main(["ask", "Which year?", "--file", str(book), "--strategy", "chain"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    served = {s.api_base: len(s.requests) for s in replicas}
    assert "replicas: " in err and sum(served.values()) > 1
    for url, n in served.items():
        if n:
            assert f"{url} {n} requests" in err


def test_usage_of_two_runs_adds_up_stages_and_replicas() -> None:
    from longdoc.agents.gateway.ledger import ReplicaUsage, StageUsage, Usage

    a = Usage.from_stages({"extract": StageUsage(calls=2)}, {"u1": ReplicaUsage(requests=2)})
    b = Usage.from_stages(
        {"worker": StageUsage(calls=3)},
        {"u1": ReplicaUsage(requests=1), "u2": ReplicaUsage(requests=3, failures=1)},
    )
    total = a + b  # what auto reports after reason escalated to the chain
    assert total.total.calls == 5 and set(total.stages) == {"extract", "worker"}
    assert total.replicas == {
        "u1": ReplicaUsage(requests=3),
        "u2": ReplicaUsage(requests=3, failures=1),
    }
    assert a.replicas["u1"].requests == 2  # the operands are left as they were


@pytest.mark.parametrize(
    ("path", "strategy"), [("async", "simple-shuffle"), ("sync", "least-busy")]
)
def test_a_replica_never_has_more_than_its_limit_in_flight_and_the_rest_wait(
    replicas: list[Killable], path: str, strategy: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    # The first four requests are held until all four are in flight together (two on each
    # replica, by the limit); the other eight must wait meanwhile, none sent nor refused.
    first_four = threading.Barrier(4)
    arrived = 0
    lock = threading.Lock()

    def held(request: dict[str, Any]) -> str:
        nonlocal arrived
        with lock:
            arrived += 1
            hold = arrived <= 4
        if hold:
            first_four.wait(timeout=30)
        return answer(request)

    for s in replicas:
        s.responder = held
    questions = [f"question {i}" for i in range(12)]
    with gateway_for(
        *replicas, max_concurrency=16, replica_max_parallel=2, routing_strategy=strategy
    ) as gw:
        if path == "async":

            async def many() -> list[str]:
                done = await asyncio.gather(*(gw.acomplete(q) for q in questions))
                return [c.text for c in done]

            texts = gw.run_sync(many())
        else:
            with ThreadPoolExecutor(len(questions)) as pool:
                texts = [c.text for c in pool.map(gw.complete, questions)]
        usage = gw.usage()
        pool_state = gw._replicas
    assert len(set(texts)) == len(questions)  # all answered
    # Two in flight on each at once (the held first four), never a third.
    assert not first_four.broken
    assert [s.max_in_flight for s in replicas] == [2, 2]
    assert sum(len(s.requests) for s in replicas) == len(questions)  # no request refused
    assert usage.total.retries == 0 and usage.total.failures == 0
    assert all(r.failures == 0 for r in usage.replicas.values())
    assert pool_state is not None and pool_state.in_flight() == dict.fromkeys(
        (s.api_base for s in replicas), 0
    )
    assert pool_state.cooling() == set()  # waiting benched no replica


def test_when_every_replica_is_down_the_error_names_them_all(replicas: list[Killable]) -> None:
    from longdoc.errors import ModelConnectionError, ReplicasUnreachableError

    urls = tuple(s.api_base for s in replicas)
    for s in replicas:
        s.kill()
    with gateway_for(*replicas) as gw, pytest.raises(ReplicasUnreachableError) as caught:
        gw.complete("hello")
    error = caught.value
    assert isinstance(error, ModelConnectionError)
    assert error.urls == urls and error.attempts == 5  # retries=4: the budget was spent
    message = str(error)
    assert message.startswith(f"cannot connect to any replica: {urls[0]}, {urls[1]} (")
    assert "\n" not in message and "No deployments" not in message


def test_the_cli_exits_with_one_line_naming_every_replica_when_all_are_down(
    replicas: list[Killable],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from longdoc.cli import main

    for s in replicas:
        s.kill()
    monkeypatch.setenv("LONGDOC_MODEL", "openai/fake")
    monkeypatch.setenv("LONGDOC_API_BASE", ",".join(s.api_base for s in replicas))
    monkeypatch.setenv("LONGDOC_CONTEXT_WINDOW", "1024")
    monkeypatch.setenv("LONGDOC_CACHE", "false")
    monkeypatch.setenv("LONGDOC_RETRIES", "1")  # two attempts: one on each replica
    book = tmp_path / "book.txt"
    book.write_text(DOC, encoding="utf-8")
    assert main(["ask", "Which year?", "--file", str(book), "--strategy", "chain"]) != 0
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    urls = ", ".join(s.api_base for s in replicas)
    assert f"cannot connect to any replica: {urls} (" in err
    assert "Traceback" not in err and "No deployments" not in err
