"""Where the per-input work (indexing/work.py) runs: the seam between the batch loop and compute.

The loop in indexing/pipeline.py hands a runner its `Preparer` and the inputs with what the
store knows of each, and takes back `Prepared` results in input order; it alone touches the
store, so commits, their order and every crash guarantee are the same whatever the runner.

- `LocalRunner`: reader threads in this process; embedding is left to the loop, which batches
  it across files (the embedder is the slow part and already uses every core).
- `indexing.ray_runner.RayRunner`: Ray Data tasks on a Ray cluster that also embed, so results
  arrive with their vectors.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, runtime_checkable

from indexing.schema import Document
from indexing.store import FileState
from indexing.work import Prepared, Preparer

Job = tuple[Path | Document, FileState | None]


@runtime_checkable
class Runner(Protocol):
    """Runs `preparer.prepare` over jobs; yields results in job order. Results may come back
    already embedded (`vectors` set); the loop embeds the rest."""

    name: str

    def prepared(self, preparer: Preparer, jobs: Sequence[Job], ahead: int) -> Iterator[Prepared]: ...


class LocalRunner:
    """Reader threads: at most `ahead` results in flight, so memory stays flat on any batch."""

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, int(workers))

    def prepared(self, preparer: Preparer, jobs: Sequence[Job], ahead: int) -> Iterator[Prepared]:
        ahead = max(1, ahead) + 2 * self.workers
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="m1e-read") as pool:
            pending: deque[Future] = deque()
            queue = iter(jobs)
            for item, state in queue:
                pending.append(pool.submit(preparer.prepare, item, state))
                if len(pending) >= ahead:
                    break
            while pending:
                result = pending.popleft().result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.append(pool.submit(preparer.prepare, *nxt))
                yield result

    def __str__(self) -> str:
        return "local"

    def __repr__(self) -> str:
        return f"LocalRunner(workers={self.workers})"
