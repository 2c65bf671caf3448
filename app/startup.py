"""Indexing the demo corpus when `m1e ui` starts, not when the first browser connects.

`m1e ui` finds an empty index and starts `python -m app.startup` beside the server: it indexes
the bundled demo guidelines, prints one live line to the terminal (file, passages, elapsed,
rate) and a clear finish, and keeps `<data_dir>/demo-indexing.json` up to date so the web page
shows the same line and knows not to start a second indexer. Readers never wait: each commit
is atomic, so questions asked meanwhile see the guidelines indexed so far.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

STATUS_FILE = "demo-indexing.json"


class DemoIndexStatus(BaseModel):
    pid: int
    state: Literal["running", "done", "failed"]
    line: str = ""  # the live progress line, or the finish
    started: float = 0.0  # time.time() when indexing began: the page shows a clock that keeps moving
    updated: float = 0.0


def status_path(data_dir: str | Path) -> Path:
    return Path(data_dir).expanduser() / STATUS_FILE


def read_status(data_dir: str | Path) -> DemoIndexStatus | None:
    """The indexer's last word; a "running" status whose process is gone reads as failed."""
    try:
        status = DemoIndexStatus.model_validate_json(status_path(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError, ValidationError):
        return None
    if status.state == "running" and not _alive(status.pid):
        return status.model_copy(update={"state": "failed", "line": status.line + " (the indexer stopped)"})
    return status


def write_status(data_dir: str | Path, status: DemoIndexStatus) -> None:
    path = status_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    tmp.write_text(status.model_dump_json(), encoding="utf-8")
    tmp.replace(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_demo_indexing(env: dict[str, str]) -> subprocess.Popen:
    """The indexer as a child of `m1e ui` (its output goes to the same terminal)."""
    return subprocess.Popen([sys.executable, "-m", "app.startup"], env=env)


def index_demo_now() -> int:
    from app.assistant import Assistant
    from app.settings import load_settings
    from app.ui.text import index_line

    assistant = Assistant(load_settings())
    data_dir = assistant.settings.data_dir
    started, wall = time.monotonic(), time.time()
    write_status(data_dir, DemoIndexStatus(pid=os.getpid(), state="running", line="starting", started=wall, updated=wall))

    def progress(p) -> None:
        line = index_line(p.files_done, p.files_total, p.chunks, time.monotonic() - started, p.stage,
                          Path(str(p.current_path or "")).name)
        print("\r\033[2K" + line, end="", flush=True, file=sys.stderr)
        write_status(data_dir, DemoIndexStatus(pid=os.getpid(), state="running", line=line, started=wall, updated=time.time()))

    try:
        report = assistant.index_demo(progress=progress)
    except Exception as exc:  # noqa: BLE001 - reported to the terminal and the page, then re-raised
        write_status(data_dir, DemoIndexStatus(pid=os.getpid(), state="failed", line=f"indexing failed: {exc}"))
        raise
    t = report.totals
    line = (f"demo corpus indexed: {t.indexed} file(s), {t.chunks} passages in {time.monotonic() - started:.0f} s; "
            f"{t.failed} failed")
    print("\r\033[2K" + "m1e ui: " + line, file=sys.stderr, flush=True)
    write_status(data_dir, DemoIndexStatus(pid=os.getpid(), state="done", line=line, updated=time.time()))
    return 0


if __name__ == "__main__":
    sys.exit(index_demo_now())
