"""`m1e ask`: answer a question from the indexed evidence, cited and graded."""

from __future__ import annotations

import argparse
import sys

from app.commands._common import add_filter_arguments, add_generator_argument, filters_from, one_line_errors, open_assistant
from app.rendering import evidence_table, printable, warnings_text
from evidence.schema import Answer


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ask",
        help="answer a question from the indexed evidence",
        description="Answer a clinical question from the indexed evidence. The answer cites passages as [E1], [E2]; "
        "the table after it shows each passage's source type, evidence level (1 strongest) and the grade the "
        "source itself states. Warnings follow (demo model, insufficient evidence, unsupported claims, conflicts).",
    )
    parser.add_argument("question", help="the question, in quotes")
    parser.add_argument(
        "--mode",
        choices=["evidence", "plain"],
        default="evidence",
        help="evidence: answer only from retrieved evidence, cited (default); plain: the model's own answer, uncited",
    )
    add_generator_argument(parser)
    add_filter_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the whole Answer as JSON instead of text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    assistant = open_assistant()
    filters = filters_from(args)
    answer: Answer | None = None
    with one_line_errors():
        for item in assistant.stream(args.question, mode=args.mode, generator=args.generator, filters=filters, k=args.k):
            if isinstance(item, Answer):
                answer = item
            elif not args.json:
                sys.stdout.write(printable(item))  # answer text quotes documents: no terminal escapes
                sys.stdout.flush()
    assert answer is not None
    if args.json:
        print(answer.model_dump_json(indent=2))
        return 0
    print("\n")
    if answer.evidence:
        print("Evidence" if answer.mode == "evidence" else "Related evidence (not given to the model)")
        print(evidence_table(answer.evidence))
        print()
    warnings = warnings_text(answer)
    if warnings:
        print(warnings)
        print()
    total = answer.timings.get("total")
    print(f"Answer by: {answer.model_label}" + (f" in {total:.1f} s" if total is not None else ""))
    return 0
