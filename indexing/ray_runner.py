"""A runner (indexing/runners.py) that reads, cleans, chunks, grades and embeds as Ray Data tasks.

Used by `m1e index --ray ADDRESS` (or the `ray` setting) when one machine embeds too slowly.
Each Ray worker is an actor that loads the preparer once (the embedder travels as a reference
to its local model directory, indexing/embedding.py) and takes batches of inputs; results come
back to the driver as JSON text plus float32 vector bytes, in input order (Ray Data's
`preserve_order`), and the driver alone commits them, so a crash or rerun behaves exactly as a
single-machine run. The nodes read the files themselves: they need the same paths (a shared
filesystem), this package and the embedding model installed.

Ray is an optional dependency (`pip install 'm1-evidence[ray]'`), imported only here and only
when a RayRunner connects.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from indexing.runners import Job
from indexing.schema import Document
from indexing.store import FileState
from indexing.work import Prepared, Preparer

# How long a cluster address may take to accept a TCP connection before it is called unreachable;
# a live Ray head answers in milliseconds even across a data centre.
CONNECT_TIMEOUT_S = 5.0
# Inputs per task: enough chunks per embedder call (a PubMed abstract makes 1-3, a guideline
# hundreds) to batch well, few enough that 2 workers share a 2,000-file run evenly.
BATCH_DOCUMENTS = 16


class RayRunnerError(RuntimeError):
    """Ray is missing, the cluster cannot be reached, or its tasks failed; the message says which."""


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the extra, not just the core
    except ImportError as exc:
        raise RayRunnerError(
            f"indexing on a Ray cluster needs the optional package ray[data] ({exc}); "
            "install it with: pip install 'm1-evidence[ray]'  (or: pip install 'ray[data]')"
        ) from None
    return ray


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast, naming the address, when nothing listens there (ray.init would retry for minutes).
    "auto" and "local" are not network addresses: ray.init resolves or starts those itself."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise RayRunnerError(f"Ray address {address!r} is not HOST:PORT, ray://HOST:PORT, 'auto' or 'local'")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise RayRunnerError(f"the Ray cluster at {address} is unreachable ({reason})") from None


def job_to_json(item: Path | Document, state: FileState | None) -> str:
    what = {"document": item.model_dump(mode="json")} if isinstance(item, Document) else {"path": str(item)}
    what["state"] = dataclasses.asdict(state) if state is not None else None
    return json.dumps(what, ensure_ascii=False)


def job_from_json(text: str) -> Job:
    what = json.loads(text)
    item = Document.model_validate(what["document"]) if "document" in what else Path(what["path"])
    return item, FileState(**what["state"]) if what["state"] is not None else None


class PrepareBatch:
    """One Ray Data actor: the preparer loaded once, then batches of jobs read, graded and embedded."""

    def __init__(self, preparer: Preparer) -> None:
        self.preparer = preparer

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        jobs = [job_from_json(text) for text in batch.column("job").to_pylist()]
        results = [self.preparer.prepare(item, state) for item, state in jobs]
        self.preparer.embed([p for p in results if p.status == "read"])
        rows = [p.to_row() for p in results]
        return pa.table(
            {
                "i": batch.column("i"),
                "prepared": pa.array([r["prepared"] for r in rows], pa.large_string()),
                "vectors": pa.array([r["vectors"] for r in rows], pa.large_binary()),
            }
        )


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ERROR_LINE = re.compile(r"(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt)(?::.*)?")


def _root_cause(exc: BaseException) -> str:
    """The error a task raised, not Ray's wrappers: the first exception line of the remote
    traceback Ray carries in its message (Python prints a chain root first)."""
    lines = [_ANSI.sub("", line).rstrip() for line in str(exc).splitlines()]
    for line in lines:
        if line and not line[0].isspace() and _ERROR_LINE.fullmatch(line):
            return line
    first = next((line.strip() for line in lines if line.strip()), "")
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class RayRunner:
    """Runs the per-input work on the Ray cluster at `address` with `workers` actors (default:
    one per CPU the cluster has). Connects on first use; a Ray session already open in this
    process is used as it is and left open."""

    name = "ray"

    def __init__(self, address: str, workers: int | None = None, batch_documents: int = BATCH_DOCUMENTS) -> None:
        if workers is not None and workers < 1:
            raise RayRunnerError(f"Ray workers must be at least 1, got {workers}")
        self.address = address
        self.workers = workers
        self.batch_documents = max(1, int(batch_documents))
        self._owned = False

    def connect(self) -> Any:
        ray = import_ray()
        if ray.is_initialized():
            return ray
        check_reachable(self.address)
        try:
            ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
        except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, version mismatch...
            raise RayRunnerError(f"cannot connect to the Ray cluster at {self.address}: {exc}") from None
        self._owned = True
        return ray

    def close(self) -> None:
        if self._owned:
            import ray

            ray.shutdown()
            self._owned = False

    def __enter__(self) -> RayRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pool_size(self, ray: Any) -> int:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if self.workers is None:
            return max(1, cpus)
        if self.workers > cpus:  # the extra actors would wait for CPUs forever
            raise RayRunnerError(f"{self.workers} Ray workers asked for, but the cluster at {self.address} has {cpus} CPUs")
        return self.workers

    def prepared(self, preparer: Preparer, jobs: Sequence[Job], ahead: int) -> Iterator[Prepared]:
        """Results in job order; Ray Data's streaming executor bounds what is in flight (`ahead`
        is the local runner's knob and not needed here)."""
        if not jobs:
            return
        ray = self.connect()
        rows = [{"i": i, "job": job_to_json(item, state)} for i, (item, state) in enumerate(jobs)]
        dataset = ray.data.from_items(rows).map_batches(
            PrepareBatch,
            fn_constructor_args=(preparer,),
            batch_size=self.batch_documents,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=self._pool_size(ray)),
        )
        context = dataset.context
        context.execution_options.preserve_order = True  # commits must follow input order
        context.enable_progress_bars = False  # the CLI has its own bar
        context.print_on_execution_start = False
        returned = 0
        try:
            for row in dataset.iter_rows():
                if row["i"] != returned:
                    raise RayRunnerError(f"Ray returned input {row['i']} where {returned} was due (order lost)")
                returned += 1
                yield Prepared.from_row(row["prepared"], row["vectors"])
            if returned != len(jobs):
                raise RayRunnerError(f"Ray returned {returned} of {len(jobs)} inputs")
        except RayRunnerError:
            raise
        except Exception as exc:  # noqa: BLE001 - a task's error (with its remote traceback), a lost node...
            raise RayRunnerError(f"Ray tasks on the cluster at {self.address} failed: {_root_cause(exc)}") from exc

    def __str__(self) -> str:
        return f"ray at {self.address}"

    def __repr__(self) -> str:
        return f"RayRunner({self.address!r}, workers={self.workers})"
