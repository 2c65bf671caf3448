"""`m1e documents`: list the indexed documents, or remove one from the index."""

from __future__ import annotations

import argparse
import json

from app.commands._common import open_assistant
from app.rendering import printable, table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "documents",
        help="list or remove indexed documents",
        description="List the indexed documents with their grades, or remove one (by id or a unique id prefix "
        "of at least 6 characters). Removing never deletes your file, only its entry in the index "
        "(files uploaded through the web UI are the app's own copies and are deleted with it).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    list_parser = actions.add_parser("list", help="list indexed documents (the default)")
    list_parser.add_argument("--json", action="store_true", help="print the document records as JSON")
    remove_parser = actions.add_parser("remove", help="remove a document from the index")
    remove_parser.add_argument("document_id", metavar="ID", help="document id or unique prefix (see `m1e documents`)")
    parser.add_argument("--json", action="store_true", help="print the document records as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    assistant = open_assistant()
    if args.action == "remove":
        record = assistant.remove(args.document_id)
        title = getattr(record, "title", "") or args.document_id
        print(printable(f"removed {record.document_id[:12] if record else args.document_id}: {title}", one_line=True))
        return 0
    docs = assistant.documents()
    if args.json:
        print(json.dumps([d.model_dump(mode="json") for d in docs], indent=2, ensure_ascii=False))
        return 0
    if not docs:
        print(f"No documents indexed in {assistant.index_dir}. Index some with `m1e index PATH`.")
        return 0
    rows = []
    for d in docs:
        g = d.grade
        rows.append(
            [
                d.document_id[:12],
                g.source_type.label if g else "ungraded",
                int(g.level) if g else None,
                d.meta.year if d.meta else None,
                d.n_pages,
                d.n_chunks,
                d.title,
            ]
        )
    print(table(["ID", "Source type", "Level", "Year", "Pages", "Chunks", "Title"], rows, [12, 24, 5, 4, 5, 6, 70]))
    print(f"\n{len(docs)} document(s) in {assistant.index_dir}")
    return 0
