"""Indexing throughput: the whole pipeline against the floor of embedding the same chunks alone.

    python bench/indexing.py                    # 200 and 400 pages
    python bench/indexing.py --pages 60 120     # quick

For each corpus size a fresh child process renders clinical-style PDFs (reportlab; sentences
from the open-medicine guideline summaries, shuffled into paragraphs under headings), indexes
them with the real pipeline (MiniLM, evidence annotator), then embeds the very same chunk
texts again with the warm model: that second time is the floor. The ratio wall / floor is the
target (<= 1.25); CPU seconds of both are recorded too (`cpu_ratio`), because on a shared machine
the load can change between the two runs by more than the pipeline's own overhead. Peak RSS of
each child shows whether memory stays flat as the corpus grows. Prints a table; writes
bench/results/indexing.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "indexing.json"

WORDS_PER_PAGE = 420
PAGES_PER_PDF = (4, 12)


def _sentences() -> tuple[list[str], list[str]]:
    """Sentences and headings from the demo guideline summaries (markdown bullets and prose)."""
    from indexing.readers.demo import open_medicine_dir
    from indexing.text import split_sentences

    sentences, headings = [], []
    for path in sorted(open_medicine_dir().rglob("*.md")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = re.sub(r"[*_`|>]", "", line).strip(" -\t")
            if line.startswith("#"):
                headings.append(line.strip("# ").strip())
            elif len(line.split()) >= 6:
                sentences += [s for s in split_sentences(line, semicolons="all") if len(s.split()) >= 4]
    return sentences, headings


def make_corpus(directory: Path, pages: int, seed: int = 0) -> int:
    """Render PDFs totalling `pages` pages; returns the number of files."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

    rng = random.Random(seed)
    sentences, headings = _sentences()
    styles = getSampleStyleSheet()
    directory.mkdir(parents=True, exist_ok=True)
    done, n_files = 0, 0
    while done < pages:
        n = min(rng.randint(*PAGES_PER_PDF), pages - done)
        story = [Paragraph(f"Clinical practice guideline {n_files + 1}: {rng.choice(headings)}", styles["Title"])]
        for page in range(n):
            words = 0
            story.append(Paragraph(f"{page + 1}. {rng.choice(headings)}", styles["Heading2"]))
            while words < WORDS_PER_PAGE:
                para = " ".join(rng.choice(sentences) for _ in range(rng.randint(3, 6)))
                para = para.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                story += [Paragraph(para, styles["BodyText"]), Spacer(1, 4)]
                words += len(para.split())
            if page < n - 1:
                story.append(PageBreak())
        SimpleDocTemplate(str(directory / f"guideline-{n_files:04d}.pdf"), pagesize=A4).build(story)
        done += n
        n_files += 1
    return n_files


def _cpu_s() -> float:
    """CPU seconds of this process (all threads) and its children, finished or running: on a
    shared machine whose load swings between the pipeline and the floor run, the CPU ratio shows
    the work the pipeline adds to embedding, which the wall ratio cannot. The PDF reader worker
    is long-lived (indexing/readers/pdf_worker.py) and still running when the pipeline returns,
    so RUSAGE_CHILDREN alone missed all the parsing; running children are read from /proc."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime + _running_children_cpu_s()


def _running_children_cpu_s() -> float:
    """utime + stime of this process's live children (Linux /proc; 0 elsewhere)."""
    total, me, tick = 0, os.getpid(), os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text(encoding="ascii")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) "; the name may hold spaces
        if int(fields[1]) == me:  # ppid
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def child(corpus: Path, workers: int, annotate: bool) -> dict:
    """Runs in a fresh process: pipeline, then the embed-only floor on the same chunks."""
    from indexing.embedding import load_embedder
    from indexing.pipeline import IndexPipeline
    from indexing.store import IndexStore

    annotator = None
    if annotate:
        from evidence.annotator import EvidenceAnnotator

        annotator = EvidenceAnnotator()
    embedder = load_embedder()
    embedder.embed_passages(["warm-up sentence"] * 8)  # first-call costs are not the pipeline's
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = IndexPipeline(Path(tmp) / "index", embedder=embedder, annotator=annotator, workers=workers)
        cpu0, started = _cpu_s(), time.perf_counter()
        report = pipeline.run([corpus])
        wall, cpu = time.perf_counter() - started, _cpu_s() - cpu0
        rss_pipeline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        store = IndexStore.open(Path(tmp) / "index")
        texts = [c.text for d in store.documents() for c in store.document_chunks(d.document_id)]
        store.close()
    cpu0, started = _cpu_s(), time.perf_counter()
    for start in range(0, len(texts), pipeline.embed_batch_chunks):
        embedder.embed_passages(texts[start : start + pipeline.embed_batch_chunks])
    floor, floor_cpu = time.perf_counter() - started, _cpu_s() - cpu0
    return {
        "files": report.totals.indexed,
        "failed": report.totals.failed,
        "pages": report.totals.pages,
        "chunks": report.totals.chunks,
        "wall_s": wall,
        "floor_s": floor,
        "ratio": wall / floor if floor else None,
        "cpu_s": cpu,
        "floor_cpu_s": floor_cpu,
        "cpu_ratio": cpu / floor_cpu if floor_cpu else None,
        "pages_per_s": report.totals.pages / wall,
        "chunks_per_s": report.totals.chunks / wall,
        "stage_s": report.stage_seconds.model_dump(),
        "peak_rss_mb": rss_pipeline,
        "workers": workers,
        "annotated": annotate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[200, 400], help="corpus sizes in pages")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-annotate", action="store_true")
    parser.add_argument("--child", nargs=1, metavar="CORPUS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), args.workers, not args.no_annotate)))
        return

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for pages in args.pages:
            corpus = Path(tmp) / f"corpus-{pages}"
            t0 = time.perf_counter()
            n_files = make_corpus(corpus, pages)
            print(f"rendered {n_files} PDFs ({pages} pages) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            cmd = [sys.executable, __file__, "--child", str(corpus), "--workers", str(args.workers)]
            if args.no_annotate:
                cmd.append("--no-annotate")
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=ROOT).stdout
            rows.append({"corpus_pages": pages, **json.loads(out.strip().splitlines()[-1])})

    header = f"{'pages':>6} {'files':>5} {'chunks':>6} {'wall s':>7} {'floor s':>7} {'ratio':>5} {'cpu x':>5} {'pages/s':>7} {'chunks/s':>8} {'read':>6} {'clean+chunk':>11} {'annotate':>8} {'embed':>6} {'write':>6} {'peak MB':>7}"
    print(header)
    for r in rows:
        s = r["stage_s"]
        print(
            f"{r['pages']:>6} {r['files']:>5} {r['chunks']:>6} {r['wall_s']:>7.1f} {r['floor_s']:>7.1f} {r['ratio']:>5.2f} "
            f"{r['cpu_ratio']:>5.2f} "
            f"{r['pages_per_s']:>7.2f} {r['chunks_per_s']:>8.1f} {s['read']:>6.1f} {s['clean_chunk']:>11.1f} "
            f"{s['annotate']:>8.1f} {s['embed']:>6.1f} {s['write']:>6.1f} {r['peak_rss_mb']:>7.0f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "bench": "indexing",
        "note": "stage seconds for read/clean+chunk/annotate are summed worker time overlapped with embedding; "
        "floor = embedding the same chunk texts alone with the warm model; ratio = wall / floor (target <= 1.25); "
        "cpu_ratio = CPU seconds of the pipeline (with its PDF worker) / CPU seconds of the floor",
        "cpu_count": os.cpu_count(),
        "loadavg_at_end": os.getloadavg(),
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
