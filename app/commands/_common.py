"""What the app's subcommands share: building the assistant, filters, and turning errors into one line."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from app.assistant import Assistant
from app.generators import GENERATOR_NAMES, GenerationError
from app.settings import SettingsError, load_settings
from evidence.schema import SearchFilters
from indexing.labels import EvidenceLevel, SourceType


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters")
    group.add_argument(
        "--source-type",
        action="append",
        choices=[t.value for t in SourceType],
        metavar="TYPE",
        help="keep only this source type (repeatable): " + ", ".join(t.value for t in SourceType),
    )
    group.add_argument("--year-min", type=int, metavar="YEAR", help="keep sources published in or after YEAR")
    group.add_argument("--year-max", type=int, metavar="YEAR", help="keep sources published in or before YEAR")
    group.add_argument(
        "--min-level",
        type=int,
        choices=[1, 2, 3, 4, 5],
        metavar="N",
        help="keep evidence at least this strong (1 strongest ... 5 expert opinion)",
    )
    parser.add_argument("--k", type=int, metavar="N", help="passages to retrieve (default: top_k setting)")


def add_action_command(
    subparsers: argparse._SubParsersAction, name: str, help: str, description: str
) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """A command whose first word is an ACTION (`m1e history show N`, `m1e feedback add N ...`).

    One place builds the command and its action list so `history` and `feedback` read alike.
    """
    parser = subparsers.add_parser(name, help=help, description=description)
    return parser, parser.add_subparsers(dest="action", metavar="ACTION")


def add_entry_id_argument(parser: argparse.ArgumentParser, help: str = "the number `m1e history` lists") -> None:
    """The history entry an action works on, as `m1e history` numbers it."""
    parser.add_argument("entry_id", type=int, metavar="N", help=help)


def add_generator_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--generator",
        choices=GENERATOR_NAMES,
        help="who writes the answer (default: generator setting): extractive digest, local model, or an OpenAI-compatible server",
    )


def filters_from(args: argparse.Namespace) -> SearchFilters | None:
    if args.year_min and args.year_max and args.year_min > args.year_max:
        from app.cli import CommandError

        raise CommandError(f"--year-min {args.year_min} is after --year-max {args.year_max}")
    filters = SearchFilters(
        source_types=[SourceType(t) for t in args.source_type] if args.source_type else None,
        year_min=args.year_min,
        year_max=args.year_max,
        min_level=EvidenceLevel(args.min_level) if args.min_level else None,
    )
    return filters if any(v is not None for v in filters.model_dump().values()) else None


def open_assistant() -> Assistant:
    from app.cli import CommandError

    try:
        return Assistant(load_settings())
    except SettingsError as exc:
        raise CommandError(str(exc)) from exc


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Generation and settings failures become a CommandError (one line, exit 1)."""
    from app.cli import CommandError

    try:
        yield
    except (GenerationError, SettingsError) as exc:
        raise CommandError(str(exc)) from exc
