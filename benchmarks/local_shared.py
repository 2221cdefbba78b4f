"""Two longdoc processes on one machine: one shared llama.cpp server versus one each.

One process makes N sequential calls (a chain's workers, in miniature) on the embedded
model with the default settings (all cores); meanwhile a second process makes calls
without pause. Printed side by side, with the ratio to the process running alone:

* ``two servers``: the second process uses another data dir, so it runs its own server
  on every core, as every process did before servers were shared;
* ``one shared server``: both processes use one data dir, so they share one server.

Each call sends about 600 prompt tokens and generates exactly ``--tokens`` (ignore_eos),
so every call does the same work. Run: ``.venv/bin/python benchmarks/local_shared.py``
on an otherwise idle machine: beside other busy processes two servers simply take a
larger share of the cores than one, and the figures measure the neighbours.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from longdoc.agents.gateway.local import REGISTRY_FOLDER, pid_alive

REPO = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "ANONYMIZED_TELEMETRY": "False",
}

WORKER = """
import json, sys, time
from pathlib import Path
from longdoc.agents.gateway import Gateway
from longdoc.config import load_settings

calls, tokens, forever = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "forever"
text = Path(sys.argv[4]).read_text(encoding="utf-8")[:2400]
gateway = Gateway(load_settings(cache=False))

def call(i):
    prompt = f"Part {i}. Summarise what happens in this passage.\\n\\n{text}"
    gateway.complete(prompt, max_tokens=tokens, extra_body={"ignore_eos": True})

call(0)  # joins or starts the server; not timed
print(json.dumps({"ready": True}), flush=True)
i = 1
started = time.perf_counter()
try:
    while forever or i <= calls:
        call(i)
        i += 1
except KeyboardInterrupt:  # how the busy process is stopped; its exit handlers still run
    sys.exit(0)
print(json.dumps({"seconds": time.perf_counter() - started}), flush=True)
"""


def _worker(data_dir: Path, *, calls: int, tokens: int, forever: bool) -> subprocess.Popen[str]:
    text = REPO / "examples" / "data" / "persuasion.txt"
    mode = "forever" if forever else "once"
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(calls), str(tokens), mode, str(text)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=data_dir,  # outside the repository root, whose folders shadow packages
        env={**ENV, "LONGDOC_DATA_DIR": str(data_dir)},
    )


def _measure(data_dir: Path, other_dir: Path | None, *, calls: int, tokens: int) -> float:
    """Seconds for ``calls`` calls in one process, beside a busy second one if asked."""
    background = None
    if other_dir is not None:
        background = _worker(other_dir, calls=0, tokens=tokens, forever=True)
        assert background.stdout is not None
        background.stdout.readline()  # {"ready": true}: its server is up and busy
    measured = _worker(data_dir, calls=calls, tokens=tokens, forever=False)
    assert measured.stdout is not None
    measured.stdout.readline()  # ready
    servers = _server_pids(data_dir, other_dir)
    result = json.loads(measured.stdout.readline())
    measured.wait()
    if background is not None:
        background.send_signal(signal.SIGINT)  # its exit handlers leave the server
        background.wait()
    # each phase starts cold, and no folder is removed while a server still watches it
    deadline = time.monotonic() + 60
    while any(pid_alive(pid) for pid in servers) and time.monotonic() < deadline:
        time.sleep(0.1)
    return float(result["seconds"])


def _server_pids(*data_dirs: Path | None) -> list[int]:
    entries = [d / REGISTRY_FOLDER for d in data_dirs if d is not None]
    return [json.loads(e.read_text())["pid"] for f in entries for e in f.glob("*.json")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=6, help="timed calls of the process")
    parser.add_argument("--tokens", type=int, default=32, help="tokens generated per call")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="longdoc-bench-") as tmp:
        one, two = Path(tmp) / "one", Path(tmp) / "two"
        one.mkdir()
        two.mkdir()
        options = {"calls": args.calls, "tokens": args.tokens}
        alone = _measure(one, None, **options)
        separate = _measure(one, two, **options)
        shared = _measure(one, one, **options)
    work = f"~600 prompt + {args.tokens} generated tokens"
    print(f"{args.calls} calls of {work} each, {os.cpu_count()} cores")
    print(f"{'setting':<44}{'seconds':>9}{'x alone':>9}")
    for name, seconds in (
        ("alone", alone),
        ("beside a busy process, two servers (before)", separate),
        ("beside a busy process, one shared server", shared),
    ):
        print(f"{name:<44}{seconds:>9.1f}{seconds / alone:>9.2f}")


if __name__ == "__main__":
    main()
