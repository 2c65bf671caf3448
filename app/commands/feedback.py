"""`m1e feedback export`: clinicians' feedback on answers and citations, as JSON Lines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.commands._common import add_action_command, add_entry_id_argument, open_assistant


def register(subparsers: argparse._SubParsersAction) -> None:
    parser, actions = add_action_command(
        subparsers,
        "feedback",
        help="give feedback on a kept answer, or export all feedback as JSON Lines",
        description="Feedback (helpful, wrong citation, outdated, free text) on a whole answer or on one citation, "
        "kept in <data_dir>/feedback.sqlite3 with the question, the answer and the index generation.",
    )
    export = actions.add_parser("export", help="write every feedback record as JSON Lines")
    export.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")
    add = actions.add_parser("add", help="feedback on an answer from `m1e history`")
    add_entry_id_argument(add, help="the history entry (see `m1e history`)")
    add.add_argument("verdict", choices=["helpful", "wrong_citation", "outdated", "other"])
    add.add_argument("--evidence", metavar="EN", help="about one citation (E1, E2, ...) rather than the whole answer")
    add.add_argument("--comment", default="", help="free text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.cli import CommandError
    from app.feedback import FeedbackLog
    from app.history import History

    assistant = open_assistant()
    log = FeedbackLog(assistant.settings.data_dir)
    if args.action == "add":
        entry = History(assistant.settings.data_dir).get(args.entry_id)
        log.add(entry.answer, args.verdict, evidence_id=args.evidence, comment=args.comment,
                history_id=entry.entry_id, index_generation=entry.index_generation)
        print(f"feedback kept for history entry {entry.entry_id}")
        return 0
    if args.action != "export":
        raise CommandError("choose an action: `m1e feedback export` or `m1e feedback add N VERDICT`")
    if args.output:
        path = Path(args.output).expanduser()
        with path.open("w", encoding="utf-8") as out:
            count = log.export_jsonl(out)
        print(f"wrote {count} feedback record(s) to {path}", file=sys.stderr)
    else:
        log.export_jsonl(sys.stdout)
    return 0
