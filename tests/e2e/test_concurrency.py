"""Eight threads ask at once through one Assistant while an index batch commits."""

from __future__ import annotations

import re
import threading
import time

from app import Answer, Assistant
from tests.app.fakes import ScriptedGenerator, quote_evidence

QUESTIONS = {
    "What is the first-line urate-lowering therapy for gout?": r"gout|urate|allopurinol",
    "How should sepsis be treated with fluids and antibiotics?": r"sepsis|septic",
    "What HbA1c target is recommended in type 2 diabetes?": r"a1c|hba1c|glyc",
    "Which anticoagulant prevents stroke in atrial fibrillation?": r"atrial fibrillation|anticoag|af\b",
    "How is community-acquired pneumonia treated in adults?": r"pneumonia",
    "How much intravenous fluid in acute pancreatitis?": r"pancrea",
    "How should osteoporosis in postmenopausal women be treated?": r"osteopor|bisphosphonate|fracture",
    "How is acute kidney injury staged and managed?": r"kidney|aki\b|renal",
}

NEW_DOCS = {
    f"topic{i}.md": f"# Lymeria guideline {i}\n\nFor lymeria fever stage {i}, doxycycline for {10 + i} days is recommended.\n"
    for i in range(5)
}


def slow_quote(request):
    time.sleep(0.05)  # widen the window in which threads interleave
    return quote_evidence(request)


def test_parallel_asks_during_an_index_batch_keep_their_own_evidence(app_data, tmp_path):
    assistant = Assistant()
    scripted = ScriptedGenerator(slow_quote, demo=False)
    assistant._generators["local"] = scripted  # a second, model-like generator path in half the threads
    assistant.search("warm up the shared store and embedder")
    corpus = tmp_path / "incoming"
    corpus.mkdir()
    for name, text in NEW_DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")

    start = threading.Barrier(len(QUESTIONS) + 1)
    answers: dict[str, Answer] = {}
    errors: list[BaseException] = []
    reports = []

    def index_batch():
        start.wait()
        try:
            reports.append(assistant.index([corpus]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def ask(question: str, generator: str):
        start.wait()
        try:
            answers[question] = assistant.ask(question, generator=generator)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=index_batch)]
    for i, question in enumerate(QUESTIONS):
        threads.append(threading.Thread(target=ask, args=(question, "local" if i % 2 else "extractive")))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert len(answers) == len(QUESTIONS)

    for question, topic in QUESTIONS.items():
        answer = answers[question]
        assert answer.question == question
        ids = [e.evidence_id for e in answer.evidence]
        assert answer.evidence and len(set(ids)) == len(ids)
        # every citation names a passage of *this* answer's evidence and is supported by it
        assert answer.citations and all(c.evidence_id in ids and c.known for c in answer.citations)
        on_topic = [e for e in answer.evidence if re.search(topic, (e.title + " " + e.text).lower())]
        assert len(on_topic) >= len(answer.evidence) / 2, (question, [e.title for e in answer.evidence])
        cited = {c.evidence_id for c in answer.citations}
        assert any(re.search(topic, (e.title + " " + e.text).lower()) for e in answer.evidence if e.evidence_id in cited)

    # the scripted model quoted its own request's E1: the prompt and the evidence stayed together
    for request in scripted.requests:
        assert request.evidence[0].text.split(". ")[0].rstrip(".") in request.messages[-1]["content"]

    # the batch committed, and the shared store now serves the new documents
    assert reports and reports[0].totals.indexed == len(NEW_DOCS)
    found = assistant.search("How long is doxycycline given for lymeria fever?")
    assert found and "Lymeria" in found[0].title
