"""`m1e grade PATH`: what kind of evidence one file is, and the grades it prints itself."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from app.rendering import printable
from indexing.labels import DocumentGrade, StatedGrade


class GradeReport(BaseModel):
    """What `m1e grade --json` prints."""

    path: str
    title: str
    format: str
    pages: int
    grade: DocumentGrade
    stated_grades: list[StatedGrade] = Field(default_factory=list)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "grade",
        help="grade one document: source type, evidence level and the recommendation grades it prints",
        description=(
            "Read one PDF, markdown or text file (and its metadata sidecar, if any), decide its source "
            "type and evidence level (1 strongest ... 5 expert opinion) with the reasons, and list the "
            "recommendation grades the document states, each with its page."
        ),
    )
    parser.add_argument("path", metavar="PATH", help="the file (or guideline folder of section files) to grade")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--limit", type=int, default=50, metavar="N",
                        help="show at most N stated grades in text output (default: 50; --json shows all)")
    parser.set_defaults(func=run)


def grade_file(path: Path) -> GradeReport:
    from app.cli import CommandError
    from evidence.annotator import EvidenceAnnotator
    from evidence.stated_grades import extract_stated_grades, scheme_hint_for
    from indexing.errors import ReadError
    from indexing.readers import read_document

    if not path.exists():
        raise CommandError(f"{path}: no such file")
    try:
        document = _folder_document(path) if path.is_dir() else read_document(path)
    except ReadError as exc:
        raise CommandError(f"{path}: {exc.reason}") from None
    try:
        from indexing.cleaning import clean_document

        document = clean_document(document)
    except ImportError:
        pass
    annotator = EvidenceAnnotator()
    grade = annotator.grade_document(document)
    hint = scheme_hint_for(document.meta.organization, document.title)
    stated = [g for page in document.pages for g in extract_stated_grades(page.text, page.number, scheme_hint=hint)]
    return GradeReport(path=str(path), title=document.title, format=document.format, pages=len(document.pages),
                       grade=grade, stated_grades=stated)


def _folder_document(path: Path):
    """A guideline kept as a folder of markdown section files (indexing.readers.demo)."""
    from app.cli import CommandError
    from indexing.readers import ReadError
    from indexing.readers.demo import guideline_folder_document

    try:
        return guideline_folder_document(path)
    except ReadError as exc:
        raise CommandError(f"{exc}; m1e grade takes one file or one such guideline folder") from None


def _describe(g: StatedGrade) -> str:
    parts = [p for p in (f"strength {g.strength}" if g.strength else "",
                         f"certainty {g.certainty}" if g.certainty else "",
                         g.direction or "") if p]
    return f"{g.scheme}: \"{g.quote}\" ({', '.join(parts)})" if parts else f"{g.scheme}: \"{g.quote}\""


def run(args) -> int:
    report = grade_file(Path(args.path).expanduser())
    if args.json:
        print(report.model_dump_json(indent=2))
        return 0
    g = report.grade
    print(printable(report.title, one_line=True))
    unit = "page" if report.format == "pdf" else "section"
    print(f"  file:        {report.path} ({report.format}, {report.pages} {unit}{'s' if report.pages != 1 else ''})")
    print(f"  source type: {g.source_type.label}")
    print(f"  level:       {g.level.label}")
    print(f"  confidence:  {g.confidence:.2f} (from {g.origin})")
    print("  reasons:")
    for reason in g.reasons:
        print(f"    - {reason}")
    if not report.stated_grades:
        print("  stated grades: none found")
        return 0
    print(f"  stated grades: {len(report.stated_grades)}")
    for sg in report.stated_grades[: max(0, args.limit)]:
        unit = "p." if report.format == "pdf" else "sec."
        page = f"{unit} {sg.page}" if sg.page is not None else f"{unit} ?"
        print(printable(f"    {page:>7}  {_describe(sg)}"))
        if sg.recommendation:
            rec = sg.recommendation if len(sg.recommendation) <= 160 else sg.recommendation[:157] + "..."
            print(printable(f"             {rec}"))
    if len(report.stated_grades) > args.limit:
        print(f"    ... {len(report.stated_grades) - args.limit} more (use --json for all)")
    return 0
