"""`m1e history`: the answers kept locally; reopen one with its evidence as it was, delete one or all."""

from __future__ import annotations

import argparse
import sys

from app.commands._common import add_action_command, add_entry_id_argument, open_assistant


def register(subparsers: argparse._SubParsersAction) -> None:
    parser, actions = add_action_command(
        subparsers,
        "history",
        help="list, show or delete the answers kept locally",
        description="Every answer (web UI and `m1e ask`) is kept in <data_dir>/history.sqlite3 exactly as written. "
        "`show` prints one with its evidence and says which cited sources have changed or been removed since.",
    )
    actions.add_parser("list", help="newest first (the default)")
    show = actions.add_parser("show", help="print one answer with its evidence")
    add_entry_id_argument(show)
    show.add_argument("--format", choices=["md", "json"], default="md")
    delete = actions.add_parser("delete", help="delete one answer")
    add_entry_id_argument(delete)
    clear = actions.add_parser("clear", help="delete every answer")
    clear.add_argument("--yes", action="store_true", help="confirm")
    parser.add_argument("--limit", type=int, default=50, metavar="N", help="list at most N answers (default 50)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.cli import CommandError
    from app.history import History, source_states

    assistant = open_assistant()
    history = History(assistant.settings.data_dir)
    if args.action == "show":
        entry = history.get(args.entry_id)
        if args.format == "json":
            print(entry.model_dump_json(indent=2))
            return 0
        sys.stdout.write(entry.answer.to_markdown())
        for state in source_states(entry.answer, assistant.documents()).values():
            if state.status != "current":
                print(f"\n! {state.evidence_id}: {state.message}")
        return 0
    if args.action == "delete":
        history.delete(args.entry_id)
        print(f"deleted history entry {args.entry_id}")
        return 0
    if args.action == "clear":
        if not args.yes:
            raise CommandError("`m1e history clear` deletes every kept answer; add --yes to confirm")
        print(f"deleted {history.clear()} history entries")
        return 0
    entries = history.entries(limit=args.limit)
    if not entries:
        print(f"No answers kept yet in {history.path}.")
        return 0
    for e in entries:
        print(f"{e.entry_id:>5}  {e.created_at:%Y-%m-%d %H:%M}  {' '.join(e.asked.split())[:90]}")
    return 0
