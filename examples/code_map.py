"""A code map of a repository: each file summarized, then each folder from its files and
subfolders, then the repository; Markdown with links to every file and to the line
ranges of its definitions. Run it again after editing a file: only that file and the
folders above it are summarized again (summaries are kept by content hash).

    .venv/bin/python examples/code_map.py [--repo PATH] [--out MAP.md] [--model M --api-base URL]

The default repository is longdoc's own ``workflows/codemap`` package (six files), small
enough for the embedded SmolLM2-135M, which shows the plumbing only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import longdoc
from longdoc.cli.core import add_model_options, settings_from_args

REPO = Path(longdoc.__file__).resolve().parent / "workflows" / "codemap"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO, help="a source tree (default: ours)")
    parser.add_argument("--out", type=Path, default=Path("code_map.md"), help="the Markdown")
    add_model_options(parser)  # the CLI's --model, --api-base, --context-window, --no-cache
    args = parser.parse_args()
    with longdoc.Gateway(settings_from_args(args)) as gateway:
        result = longdoc.code_map(args.repo, out=args.out, gateway=gateway)
    print(result.summary)
    print(
        f"-- {len(result.files)} files, {len(result.folders)} folders: {result.summarized} "
        f"summarized, {result.reused} reused; {result.usage.total.calls} calls -> {args.out}"
    )


if __name__ == "__main__":
    main()
