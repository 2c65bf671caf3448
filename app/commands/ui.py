"""`m1e ui`: start the Streamlit web UI on the configured host and port."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app.commands._common import open_assistant


def streamlit_script() -> Path:
    """streamlit_app.py beside the package (source tree / editable install), else the packaged copy."""
    root_script = Path(__file__).resolve().parents[2] / "streamlit_app.py"
    if root_script.is_file():
        return root_script
    return Path(__file__).resolve().parents[1] / "ui" / "entry.py"


def streamlit_command(script: Path, host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.headless",
        "true",
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--server.maxUploadSize",
        str(open_assistant().settings.upload_max_mb),
    ]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ui",
        help="start the web UI",
        description="Start the Streamlit web UI (host and port from the ui_host / ui_port settings). On first start "
        "with an empty index it indexes the bundled demo guidelines.",
    )
    parser.add_argument("--host", help="address to listen on (default: ui_host setting, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: ui_port setting, 8501)")
    parser.add_argument("--print-command", action="store_true", help="print the streamlit command instead of running it")
    parser.add_argument("--no-demo", action="store_true", help="do not index the demo guidelines when the index is empty")
    parser.set_defaults(func=run)


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def exposure_warning(host: str) -> str | None:
    """The UI has no login: anyone who can reach the port can ask and upload. Say so whenever
    it listens beyond this machine."""
    if host.strip().lower() in LOOPBACK_HOSTS or host.strip().startswith("127."):
        return None
    return (
        f"m1e ui: warning: listening on {host}, reachable from other machines, and the UI has no "
        "authentication: anyone who can reach it can read the index and upload files. "
        "Put it behind the hospital's authenticating proxy, or keep the default 127.0.0.1."
    )


def run(args: argparse.Namespace) -> int:
    settings = open_assistant().settings
    host = args.host or settings.ui_host
    port = args.port or settings.ui_port
    command = streamlit_command(streamlit_script(), host, port)
    warning = exposure_warning(host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    if args.print_command:
        print(" ".join(command))
        return 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    print(f"m1e ui: http://{host}:{port}  (Ctrl-C to stop)", flush=True)
    if not args.no_demo:
        start_demo_if_empty(env)
    # Become streamlit (no wrapper process), so signals such as Ctrl-C reach it directly.
    os.execve(command[0], command, env)
    return 0  # not reached


def start_demo_if_empty(env: dict[str, str]) -> bool:
    """With an empty index, start indexing the demo guidelines now, beside the server (see
    app.startup), so the first visitor finds them indexed or under way, not waiting to begin."""
    from app.startup import read_status, start_demo_indexing

    assistant = open_assistant()
    summary = assistant.index_summary()
    status = read_status(assistant.settings.data_dir)
    if (summary.exists and summary.documents) or (status is not None and status.state == "running"):
        return False
    print("m1e ui: the index is empty: indexing the bundled demo guidelines now (the page works meanwhile)", flush=True)
    start_demo_indexing(env)
    return True
