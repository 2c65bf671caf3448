"""`m1e search`: the graded evidence a question retrieves, without writing an answer."""

from __future__ import annotations

import argparse
import json

from app.commands._common import add_filter_arguments, filters_from, one_line_errors, open_assistant
from app.rendering import evidence_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "search",
        help="list the graded evidence for a question (no answer)",
        description="Retrieve and grade the passages that match a question (hybrid dense + lexical search), "
        "strongest evidence first within relevance.",
    )
    parser.add_argument("question", help="the question or keywords, in quotes")
    add_filter_arguments(parser)
    parser.add_argument("--passages", action="store_true", help="print each passage's text under the table")
    parser.add_argument("--json", action="store_true", help="print the evidence list as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    assistant = open_assistant()
    filters = filters_from(args)
    with one_line_errors():
        evidence = assistant.search(args.question, k=args.k, filters=filters)
    if args.json:
        print(json.dumps([e.model_dump(mode="json") for e in evidence], indent=2, ensure_ascii=False))
        return 0
    if not evidence:
        print("No evidence found" + (" under these filters." if filters else ". Is anything indexed? Try `m1e documents`."))
        return 0
    print(evidence_table(evidence, with_passage=args.passages))
    return 0
