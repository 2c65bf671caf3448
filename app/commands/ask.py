"""`m1e ask`: answer a question from the indexed evidence, cited and graded."""

from __future__ import annotations

import argparse
import sys

from app.commands._common import add_filter_arguments, add_generator_argument, filters_from, one_line_errors, open_assistant
from app.rendering import printable, stated_grade_text, table, warnings_text
from evidence.schema import Answer, Evidence


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ask",
        help="answer a question from the indexed evidence",
        description="Answer a clinical question from the indexed evidence. The answer cites passages as [E1], [E2]; "
        "the table after it shows each passage's source type, evidence level (1 strongest), the grade the "
        "source itself states and where in the source it is (p. 12 for a PDF page, section 2 of 4 for a "
        "guideline kept as section files). Warnings follow (demo model, insufficient evidence, unsupported "
        "claims, conflicts). Every answer is kept in the local history (`m1e history`).",
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
    parser.add_argument(
        "--format",
        choices=["text", "md", "json"],
        default="text",
        help="text: streamed answer and a table (default); md: Markdown with the evidence table, passages and "
        "warnings (what the web UI exports); json: the whole Answer",
    )
    parser.add_argument("--json", action="store_true", help="the same as --format json")
    parser.add_argument("--no-history", action="store_true", help="do not keep this answer in the local history")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    fmt = "json" if args.json else args.format
    assistant = open_assistant()
    filters = filters_from(args)
    answer: Answer | None = None
    plain = PlainText(sys.stdout)
    with one_line_errors():
        for item in assistant.stream(args.question, mode=args.mode, generator=args.generator, filters=filters, k=args.k):
            if isinstance(item, Answer):
                answer = item
            elif fmt == "text":
                plain.write(printable(item))  # answer text quotes documents: no terminal escapes
    assert answer is not None
    if not args.no_history:
        from app.history import History

        History(assistant.settings.data_dir).add(answer, asked=args.question, index_generation=assistant.index_generation())
    totals = {d.document_id: d.n_pages for d in assistant.documents()}
    if fmt == "json":
        print(answer.model_dump_json(indent=2))
        return 0
    if fmt == "md":
        sys.stdout.write(answer.to_markdown(totals))
        return 0
    plain.close()
    print("\n")
    if answer.evidence:
        print("Evidence" if answer.mode == "evidence" else "Related evidence (not given to the model)")
        print(evidence_rows(answer.evidence, totals))
        print()
    warnings = warnings_text(answer)
    if warnings:
        print(warnings)
        print()
    total = answer.timings.get("total")
    print(f"Answer by: {answer.model_label}" + (f" in {total:.1f} s" if total is not None else ""))
    return 0


def evidence_rows(evidence: list[Evidence], totals: dict[str, int]) -> str:
    from evidence.export import location_label

    rows = []
    for e in evidence:
        g = e.grade
        rows.append([e.evidence_id, g.source_type.label if g else "ungraded", int(g.level) if g else None,
                     stated_grade_text(e), e.year, location_label(e, totals.get(e.document_id)), e.title])
    return table(["ID", "Source type", "Level", "Stated grade", "Year", "Location", "Title"], rows, [4, 24, 5, 24, 4, 14, 60])


class PlainText:
    """Streamed answer text for a terminal: Markdown bold markers (`**`) are dropped, even when a
    marker arrives split over two pieces, so the terminal shows words, not syntax."""

    def __init__(self, out) -> None:
        self.out = out
        self.held = ""

    def write(self, piece: str) -> None:
        text = (self.held + piece).replace("**", "")
        self.held = "*" if text.endswith("*") else ""
        self.out.write(text[:-1] if self.held else text)
        self.out.flush()

    def close(self) -> None:
        if self.held:
            self.out.write(self.held)
        self.held = ""
