"""How long `import longdoc` takes, beside the heavy libraries it must not load.

Prints the median of several fresh interpreters per module, measured in one run,
and the ratio to a bare interpreter start. Target: `import longdoc` < 0.5 s and
none of torch, chromadb, litellm loaded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HEAVY = ("torch", "chromadb", "litellm")
ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}  # litellm must not fetch prices


def time_import(statement: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True, env=ENV)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--with-heavy", action="store_true", help="time the heavy libraries too")
    args = parser.parse_args()
    code = f"import sys, longdoc; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    bare = time_import("pass", args.runs)
    ours = time_import("import longdoc", args.runs)
    print(f"interpreter start          {bare:6.3f} s")
    print(f"import longdoc             {ours:6.3f} s  (+{ours - bare:.3f} s over a bare start)")
    print(f"heavy modules loaded       {loaded or 'none'}")
    if args.with_heavy:
        for name in HEAVY:
            t = time_import(f"import {name}", max(1, args.runs // 2))
            print(f"import {name:<19} {t:6.3f} s  ({t / ours:.1f}x import longdoc)")
    ok = ours < 0.5 and not loaded
    print(f"target (< 0.5 s, no heavy modules): {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
