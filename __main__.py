"""``python -m longdoc``: the command-line interface."""

from longdoc.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
