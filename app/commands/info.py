"""`m1e info`: what is indexed, which generator answers, and whether it is the demo model."""

from __future__ import annotations

import argparse

from app.commands._common import one_line_errors, open_assistant


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="show index and generator status",
        description="Show where the index lives, what it holds (documents, chunks, grades), the embedder, "
        "and which generator writes answers (and whether it is the demo model).",
    )
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    assistant = open_assistant()
    with one_line_errors():
        info = assistant.info()
    if args.json:
        print(info.model_dump_json(indent=2))
        return 0
    idx = info.index
    print(f"Index:      {idx.index_dir}" + ("" if idx.exists else " (empty: run `m1e index PATH` or start `m1e ui`)"))
    if idx.exists:
        print(f"            {idx.documents} documents, {idx.pages} pages, {idx.chunks} chunks")
        if idx.by_level:
            print("            by level: " + ", ".join(f"L{k}: {v}" for k, v in sorted(idx.by_level.items())))
        if idx.by_source_type:
            print("            by source type: " + ", ".join(f"{k}: {v}" for k, v in sorted(idx.by_source_type.items())))
        print(f"Embedder:   {idx.embedder} ({idx.dim} dimensions)")
    g = info.generator
    print(f"Generator:  {g.name}: {g.label}" + (f" [{g.detail}]" if g.detail else ""))
    if info.demo_model:
        print("            DEMO MODEL: proves the runtime offline; not a clinical model, not medical advice.")
    print(f"Data dir:   {info.data_dir}")
    print(f"Models dir: {info.models_dir}")
    return 0
