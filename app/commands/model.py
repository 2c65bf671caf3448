"""`m1e model import [SRC]`: bring a Llama-family checkpoint (or the bundled demo) into the M1 layout."""

from __future__ import annotations

import argparse
import re
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("model", help="manage local model checkpoints",
                                   description="Manage the checkpoints the local generator runs.")
    sub = parser.add_subparsers(dest="model_command", metavar="ACTION")
    imp = sub.add_parser(
        "import",
        help="import a GGUF file or a Hugging Face Llama directory (default: the demo model)",
        description="Convert a Llama-family checkpoint into the M1 layout the local runtime loads. "
        "SRC is a .gguf file or a Hugging Face model directory (config.json + safetensors). "
        "Without SRC, imports the bundled demo model SmolLM2-135M-Instruct (not a clinical model).",
    )
    imp.add_argument("src", nargs="?", metavar="SRC", help="a .gguf file or a Hugging Face Llama directory")
    imp.add_argument("--out", metavar="DIR", help="where to write (default: <models_dir>/<name>)")
    imp.add_argument("--force", action="store_true", help="replace DIR if it exists")
    imp.add_argument("--dtype", choices=["float32", "bfloat16", "float16"],
                     help="storage dtype of the weights (default: float32 for GGUF, exact; the source's for "
                     "a Hugging Face directory)")
    imp.set_defaults(func=run_import)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _default_name(src: Path) -> str:
    stem = src.stem if src.is_file() else src.name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-").lower() or "model"


def run_import(args: argparse.Namespace) -> int:
    from app.cli import CommandError
    from app.settings import load_settings
    from model.importing import (
        CheckpointImportError,
        count_parameters,
        ensure_demo_checkpoint,
        import_gguf,
        import_hf_llama,
    )

    settings = load_settings()
    models_dir = settings.resolved_models_dir
    try:
        if args.src is None:
            if args.out or args.dtype:
                raise CommandError("--out and --dtype are for SRC; the demo model always goes to "
                                   "<models_dir>/smollm2-135m-instruct in float32")
            out = ensure_demo_checkpoint(models_dir, force=args.force)
            print(f"Demo model SmolLM2-135M-Instruct (not a clinical model) is in {out}")
        else:
            src = Path(args.src).expanduser()
            if not src.exists():
                raise CommandError(f"{src}: no such file or directory")
            out = Path(args.out).expanduser() if args.out else models_dir / _default_name(src)
            if src.is_file():
                out = import_gguf(src, out, force=args.force, dtype=args.dtype or "float32")
            else:
                out = import_hf_llama(src, out, force=args.force, dtype=args.dtype)
            print(f"Imported {src} into {out}")
    except (CheckpointImportError, FileExistsError) as exc:
        raise CommandError(str(exc)) from None
    print(f"{count_parameters(out):,} parameters")
    return 0
