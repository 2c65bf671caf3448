"""Indexing through Ray (`m1e index --ray`): the same index as a single-machine run.

One local Ray instance (127.0.0.1, 2 CPUs, no dashboard) serves the module; the cheap tests of
the seam (rows that cross the wire, the batch actor, addresses, a missing package) need none.
"""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

from indexing.embedding import load_embedder
from indexing.pipeline import IndexPipeline
from indexing.ray_runner import PrepareBatch, RayRunner, RayRunnerError, job_from_json, job_to_json
from indexing.runners import LocalRunner
from indexing.schema import Document, Page
from indexing.store import FileState, IndexStore
from indexing.store.compare import index_differences
from indexing.work import Prepared
from tests.indexing.store_fakes import BrokenEmbedder, FakeAnnotator, HashEmbedder

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
QUERIES = ["blood pressure target", "statin LDL cholesterol", "高血压 降压目标", "heart failure"]


def _corpus(root: Path) -> Path:
    """Real guideline PDFs with sidecars, a copy without one (a link), a text file, a broken PDF."""
    root.mkdir(parents=True)
    for name in ("en-sprint-2015", "zh-hypertension-2018", "zh-dyslipidemia-2016"):
        for suffix in (".pdf", ".pdf.meta.json"):
            shutil.copy(SAMPLES / f"{name}{suffix}", root / f"{name}{suffix}")
    shutil.copy(SAMPLES / "en-sprint-2015.pdf", root / "z-copy-of-sprint.pdf")
    (root / "notes.txt").write_text(
        "Hypertension\n\nA blood pressure target below 130/80 mmHg is recommended for most adults "
        "(Class I, LOE B-R).\n", encoding="utf-8")
    (root / "broken.pdf").write_bytes(b"not a pdf at all")
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _outcomes(report) -> list[tuple]:
    return sorted((o.status, Path(o.path).name, o.document_id, o.reason) for o in
                  report.indexed + report.unchanged + report.failed + report.removed)


# ---- the seam, without Ray --------------------------------------------------------------------


class WireRunner:
    """Does what RayRunner's workers do, in process: jobs and results through their JSON rows and
    PrepareBatch in batches of 2, so everything but Ray Data's scheduling is exercised."""

    name = "wire"

    def prepared(self, preparer, jobs, ahead):
        import pyarrow as pa

        actor = PrepareBatch(preparer)
        for start in range(0, len(jobs), 2):
            chunk = jobs[start : start + 2]
            table = actor(pa.table({"i": list(range(start, start + len(chunk))),
                                    "job": [job_to_json(item, state) for item, state in chunk]}))
            for text, blob in zip(table.column("prepared").to_pylist(), table.column("vectors").to_pylist()):
                yield Prepared.from_row(text, blob)


def test_remote_style_runner_builds_the_same_index(tmp_path):
    corpus = _corpus(tmp_path / "docs")
    embedder = HashEmbedder()
    kw = dict(embedder=embedder, annotator=FakeAnnotator(), chunk_tokens=60, chunk_overlap=10, commit_every=3)
    local = IndexPipeline(tmp_path / "local", runner=LocalRunner(2), **kw).run([corpus])
    embedded_locally = embedder.passages_embedded
    wire = IndexPipeline(tmp_path / "wire", runner=WireRunner(), **kw).run([corpus])
    # The runner embedded every input it read, the byte-identical copy too (the loop links that one
    # when it sees it); the loop embedded nothing a second time.
    sprint = next(o.chunks for o in local.indexed if o.path.endswith("en-sprint-2015.pdf"))
    assert embedder.passages_embedded - embedded_locally == embedded_locally + sprint
    assert _outcomes(wire) == _outcomes(local) and (local.totals.indexed, local.totals.unchanged, local.totals.failed) == (4, 1, 1)
    a, b = IndexStore.open(tmp_path / "local"), IndexStore.open(tmp_path / "wire")
    try:
        assert a.stats().chunks > 5
        vectors = embedder.embed_queries(QUERIES)
        assert index_differences(a, b, QUERIES, vectors) == []
    finally:
        a.close(), b.close()
    rerun = IndexPipeline(tmp_path / "wire", runner=WireRunner(), **kw).run([corpus])
    assert rerun.totals.indexed == 0 and rerun.totals.unchanged == 5  # the failed one fails again


def test_compare_sees_a_difference(tmp_path):
    """The equality check can fail: a different chunk size makes different indexes."""
    corpus = _corpus(tmp_path / "docs")
    IndexPipeline(tmp_path / "a", embedder=HashEmbedder(), chunk_tokens=60).run([corpus])
    IndexPipeline(tmp_path / "b", embedder=HashEmbedder(), chunk_tokens=90).run([corpus])
    a, b = IndexStore.open(tmp_path / "a"), IndexStore.open(tmp_path / "b")
    try:
        assert index_differences(a, b, QUERIES)
    finally:
        a.close(), b.close()


def test_jobs_and_results_cross_the_wire_intact():
    document = Document(document_id="d" * 64, path="/x/registry#g1", format="markdown", title="G",
                        pages=[Page(number=1, text="高血压 text")])
    state = FileState("/x/a.pdf", "a" * 64, "h" * 64, 12, 1.5)
    assert job_from_json(job_to_json(document, None)) == (document, None)
    assert job_from_json(job_to_json(Path("/x/a.pdf"), state)) == (Path("/x/a.pdf"), state)
    prepared = Prepared(path="/x/a.pdf", status="failed", reason="not a PDF")
    back = Prepared.from_row(**{"text": prepared.to_row()["prepared"], "blob": prepared.to_row()["vectors"]})
    assert back.vectors is None and back.reason == "not a PDF" and back.status == "failed"


def test_embedder_travels_as_its_model_directory():
    import pickle

    embedder = load_embedder()
    blob = pickle.dumps(embedder)
    assert len(blob) < 1000 and str(embedder.model_dir).encode() in blob  # a reference, not weights
    assert pickle.loads(blob) is embedder  # loaded once per process


def test_unreachable_address_is_named(tmp_path):
    pytest.importorskip("ray")
    address = f"127.0.0.1:{_free_port()}"
    with pytest.raises(RayRunnerError, match=f"Ray cluster at {address} is unreachable"):
        RayRunner(address).connect()
    with pytest.raises(RayRunnerError, match="not HOST:PORT"):
        RayRunner("no-port-here").connect()


def test_missing_package_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    with pytest.raises(RayRunnerError, match=r"ray\[data\].*pip install 'm1-evidence\[ray\]'"):
        RayRunner("auto").connect()


def test_cli_names_the_unreachable_address(tmp_path, capsys):
    pytest.importorskip("ray")
    from app.cli import main

    address = f"127.0.0.1:{_free_port()}"
    (tmp_path / "a.txt").write_text("Metformin is first-line therapy.\n", encoding="utf-8")
    code = main(["index", str(tmp_path / "a.txt"), "--index", str(tmp_path / "idx"), "--ray", address])
    err = capsys.readouterr().err
    assert code == 1 and f"Ray cluster at {address} is unreachable" in err
    assert not (tmp_path / "idx").exists()  # failed before touching the index


# ---- on a local Ray instance -------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray session is already open in this process")
    temp = tmp_path_factory.mktemp("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1", _temp_dir=str(temp))
    yield ray
    ray.shutdown()


class _StopAfterFirstCommit:
    """A progress callback that 'crashes' the run once the first commit is done."""

    def __init__(self) -> None:
        self.committed = False

    def __call__(self, event) -> None:
        if event.stage == "committing":
            self.committed = True
        elif self.committed:
            raise KeyboardInterrupt("stopped after the first commit")


def test_ray_index_equals_single_machine_index(ray_session, tmp_path, capsys):
    """Ray run stopped after its first commit, finished by `m1e index --ray`: the index equals a
    local run's (documents, passages, grades, vectors, search results), with no duplicates."""
    from app.cli import main
    from evidence.annotator import EvidenceAnnotator

    corpus = _corpus(tmp_path / "docs")
    embedder = load_embedder()
    local = IndexPipeline(tmp_path / "local", embedder=embedder, annotator=EvidenceAnnotator()).run([corpus])

    stop = _StopAfterFirstCommit()
    partial = IndexPipeline(tmp_path / "ray", embedder=embedder, annotator=EvidenceAnnotator(), commit_every=2,
                            runner=RayRunner("local", workers=2))
    with pytest.raises(KeyboardInterrupt):
        partial.run([corpus], progress=stop)
    store = IndexStore.open(tmp_path / "ray")
    assert 0 < store.stats().documents < local.totals.documents_in_index  # the first commit stayed
    store.close()

    code = main(["index", str(corpus), "--index", str(tmp_path / "ray"), "--ray", "local", "--ray-workers", "1"])
    out = capsys.readouterr().out
    assert code == 1 and "failed 1" in out and "broken.pdf" in out  # the broken file, as locally
    assert "ray at local) in" in out and "indexed" in out

    a, b = IndexStore.open(tmp_path / "local"), IndexStore.open(tmp_path / "ray")
    try:
        assert a.stats().documents == b.stats().documents == local.totals.documents_in_index
        assert a.stats().chunks == b.stats().chunks and all(d.grade is not None for d in b.documents())
        assert index_differences(a, b, QUERIES, embedder.embed_queries(QUERIES)) == []
        ids_a, vectors_a = a.live_vectors()
        assert len(set(ids_a)) == len(ids_a) and np.allclose(np.linalg.norm(vectors_a, axis=1), 1, atol=1e-4)
    finally:
        a.close(), b.close()


def test_failing_ray_tasks_end_the_run_naming_the_cluster(ray_session, tmp_path):
    """A worker whose embedder breaks: one error naming the cluster and the cause; nothing half-written."""
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for n in range(3):
        (corpus / f"{n}.txt").write_text(f"Document {n} about metformin and HbA1c targets.\n", encoding="utf-8")
    pipeline = IndexPipeline(tmp_path / "idx", embedder=BrokenEmbedder(), runner=RayRunner("local", workers=1))
    with pytest.raises(RayRunnerError, match="Ray tasks on the cluster at local failed: .*embedder exploded on this node"):
        pipeline.run([corpus])
    store = IndexStore.open(tmp_path / "idx")
    assert store.stats().documents == 0
    store.close()


def test_ray_setting_names_the_cluster_or_off(monkeypatch):
    from app.settings import load_settings

    assert load_settings().ray_address is None  # default: this process
    assert load_settings(ray="auto").ray_address == "auto"
    assert load_settings(ray="off").ray_address is None
    monkeypatch.setenv("M1E_RAY", "10.1.2.3:6379")
    monkeypatch.setenv("M1E_RAY_WORKERS", "3")
    settings = load_settings()
    assert (settings.ray_address, settings.ray_workers) == ("10.1.2.3:6379", 3)
