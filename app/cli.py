"""`m1e`: the command line. Each subcommand lives in its own module under `app/commands/`."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> module under app.commands that defines `register(subparsers)`; the module's parser
# sets `func(args) -> int` as its default.
COMMANDS = ["index", "ask", "search", "grade", "documents", "history", "feedback", "model", "ui", "info"]


class CommandError(Exception):
    """A failure to report as one line and a non-zero exit, without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="m1e",
        description="m1-evidence: offline, evidence-grounded clinical question answering.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"app.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"app.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("m1e: interrupted", file=sys.stderr)
        return 130
    except (CommandError, OSError, ValueError) as exc:
        print(f"m1e {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # `python -m app.cli`: run the imported module's main, so its CommandError is the one the
    # commands raise (this file as __main__ would define a second, unrelated class).
    from app.cli import main as _main

    sys.exit(_main())
