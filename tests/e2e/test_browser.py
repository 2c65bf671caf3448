"""The web UI in a real Chromium: ask, see the streamed answer and graded evidence, upload a PDF.

Runs `streamlit run streamlit_app.py` on 127.0.0.1 against a copy of the demo index and drives
Debian's chromium through Playwright (never `playwright install`). Saves a screenshot of the
answered question in the test's temp dir; with M1E_UPDATE_SCREENSHOT=1 the three-turn test
refreshes data/screenshot.png, the picture in the README (an answer with its highlighted PDF citation).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (bash .ci/setup --test installs it)"),
]

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "What HbA1c target is recommended for adults with type 2 diabetes?"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_pdf(path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    c.setTitle("Zebrafish fever management guideline")
    c.setFont("Helvetica-Bold", 16)
    c.drawString(72, 770, "Zebrafish fever management guideline")
    c.setFont("Helvetica", 11)
    lines = [
        "Recommendation 1: For adults with zebrafish fever, oral rehydration is recommended",
        "as first-line therapy (strong recommendation, moderate certainty evidence).",
        "Recommendation 2: Antipyretics may be used for comfort (conditional recommendation).",
    ]
    for i, line in enumerate(lines):
        c.drawString(72, 730 - 16 * i, line)
    c.showPage()
    c.save()


def start_ui(app_data: Path, **env_extra: str):
    port = free_port()
    env = {**os.environ, "M1E_DATA_DIR": str(app_data), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **env_extra}
    # This checkout's code, not whichever one the venv's editable install points at.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "app.cli", "ui", "--host", "127.0.0.1", "--port", str(port)]  # = `m1e ui`
    log = app_data / "streamlit.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=app_data, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        return url, proc
    except BaseException:
        stop_ui(proc)
        raise


def stop_ui(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


REPLY = "Metformin is recommended as first-line therapy [E1]. " + " ".join(f"more{i}" for i in range(150))


@pytest.fixture(scope="module")
def ui(tmp_path_factory, demo_index_dir: Path):
    """One `m1e ui` for this module: a copy of the demo index, and a slow OpenAI-compatible
    server on 127.0.0.1 for the openai generator (extractive stays the default)."""
    from tests.app.openai_server import FakeChatServer

    data = tmp_path_factory.mktemp("browser") / "data"
    shutil.copytree(demo_index_dir, data / "index", ignore=shutil.ignore_patterns("writer.lock"))
    with FakeChatServer(reply=REPLY, chunk_delay_s=0.15) as chat:
        url, proc = start_ui(data, M1E_GENERATOR="extractive", M1E_SERVER_URL=chat.url, M1E_SERVER_RETRIES="0")
        try:
            yield url, data, chat
        finally:
            stop_ui(proc)


@pytest.fixture(scope="module")
def browser(ui):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# A slow machine (load average 8 on 2 cores) takes tens of seconds per rerun; Playwright's
# `expect` does not follow `page.set_default_timeout`, so both get the same generous limit.
SLOW_MACHINE_TIMEOUT_MS = 120_000


@pytest.fixture
def page(browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=SLOW_MACHINE_TIMEOUT_MS)
    page = browser.new_page(viewport={"width": 1400, "height": 1500})
    page.set_default_timeout(SLOW_MACHINE_TIMEOUT_MS)
    yield page
    page.close()


def test_ask_then_upload_a_pdf_in_a_real_browser(ui, page, tmp_path):
    from playwright.sync_api import expect

    url, data, _ = ui

    pdf = tmp_path / "zebrafish-fever.pdf"
    make_pdf(pdf)
    page.goto(url)
    question = page.get_by_label("Question")
    question.fill(QUESTION)
    page.get_by_role("button", name="Ask").click()

    answer = page.locator(".st-key-answer_box")
    link = answer.locator('a[href^="#evidence-e"]').first
    expect(link).to_be_visible()
    target = link.get_attribute("href").lstrip("#")
    assert link.get_attribute("target") is None  # an in-page jump, not a new tab
    card = page.locator(f".st-key-card_{target}")
    expect(card).to_contain_text(link.inner_text().strip("[]") + " ·")
    expect(card).to_contain_text("Level")
    expect(card.get_by_text("Why this level")).to_be_visible()
    expect(page.locator(f"#{target}")).to_have_count(1)  # the anchor the link jumps to
    page.wait_for_timeout(500)
    shot = tmp_path / "screenshot.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank frame

    page.get_by_text("Library", exact=True).click()
    expect(page.get_by_text("Add documents")).to_be_visible()
    page.locator('input[type="file"]').set_input_files(str(pdf))
    expect(page.get_by_text("zebrafish-fever.pdf")).to_be_visible()
    page.get_by_role("button", name="Index uploaded files").click()
    expect(page.get_by_text("Indexed 1 file(s)")).to_be_visible()
    expect(page.get_by_label("Remove a document from the index")).to_be_visible()

    page.get_by_text("Ask", exact=True).first.click()
    question = page.get_by_label("Question")
    question.fill("What is the first-line therapy for zebrafish fever?")
    page.get_by_role("button", name="Ask").click()
    expect(page.locator(".st-key-answer_box")).to_contain_text("rehydration")
    expect(page.locator(".st-key-card_evidence-e1")).to_contain_text("Zebrafish fever")
    page.get_by_text("Show page 1 of the PDF").first.click()
    expect(page.get_by_text("page 1", exact=True)).to_be_visible()  # the rendered page preview
    saved = list((data / "uploads").glob("*-zebrafish-fever.pdf"))
    assert len(saved) == 1 and saved[0].read_bytes() == pdf.read_bytes()


def test_server_answer_streams_and_stop_ends_it(ui, page):
    """The openai generator on a slow server: the answer appears piece by piece, Stop cuts it off."""
    from playwright.sync_api import expect

    url, _, chat = ui
    page.goto(url)
    page.get_by_label("Generator").click()
    page.get_by_role("option", name="OpenAI-compatible server").click()
    page.get_by_label("Question").fill(QUESTION)
    page.get_by_role("button", name="Ask").click()
    expect(page.get_by_text("Metformin is recommended")).to_be_visible()  # streamed, not finished
    expect(page.get_by_text("more149")).to_have_count(0)  # not the end yet
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_text("Stopped: the answer was not finished.")).to_be_visible()
    assert chat.disconnected.wait(30)  # the server saw the connection closed
    assert chat.requests[-1]["body"]["stream"] is True
    assert "<<<EVIDENCE E1>>>" in chat.requests[-1]["body"]["messages"][-1]["content"]


def test_conversation_history_after_reload_and_markdown_export(ui, page, tmp_path):
    """Three turns (two of them follow-ups), a reload, the history reopens them, Markdown export."""
    from playwright.sync_api import expect

    url, _, _ = ui
    page.goto(url)
    expect(page.get_by_label("Question")).to_be_visible()
    # The UI server is shared by this module: earlier tests' answers are in the history already.
    before = page.locator('[class*="st-key-history_"]').count()
    turns = [QUESTION, "and in pregnancy?", "what about older adults?"]
    standalone = "What HbA1c target is recommended for adults with type 2 diabetes, in pregnancy?"
    for n, turn in enumerate(turns, 1):
        page.get_by_label("Question").fill(turn)
        page.get_by_role("button", name="Ask").click()
        expect(page.locator(".st-key-answer_box")).to_be_visible()
        expect(page.locator('[class*="st-key-history_"]')).to_have_count(before + n)
    expect(page.get_by_text("Earlier in this conversation (2)")).to_be_visible()
    expect(page.locator(".st-key-answer_box")).to_contain_text(standalone.rstrip("?") + ", older adults?")
    shot = tmp_path / "conversation.png"
    page.screenshot(path=str(shot), full_page=False)
    with page.expect_download() as download:
        page.get_by_role("button", name="Markdown").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert exported.startswith("# What HbA1c target") and "older adults" in exported.splitlines()[0]
    assert "| ID | Source type | Level | Stated grade | Year | Location | Title | DOI |" in exported

    page.reload()
    history = page.locator('[class*="st-key-history_"]')
    expect(history).to_have_count(before + 3)
    # Newest first: the first question of this conversation. Right after a reload the page's first
    # run may still be finishing when the entry is drawn; on a loaded CI machine a click in that
    # moment was once lost (the entry stayed closed for 120 s), so a user would click again: so do we.
    for attempt in range(3):
        history.nth(2).click()
        try:
            expect(page.locator(".st-key-answer_box")).to_be_visible(timeout=30_000)
            break
        except AssertionError:
            if attempt == 2:
                raise
    expect(page.locator(".st-key-card_evidence-e1")).to_contain_text("Level")
    page.mouse.move(900, 10)  # away from the entry, so its tooltip does not cover the next one
    expect(page.get_by_role("tooltip")).to_have_count(0)
    history.nth(1).click()  # the follow-up "and in pregnancy?"
    expect(page.locator(".st-key-answer_box")).to_contain_text("Answering: " + standalone)
    expect(page.get_by_text("Earlier in this conversation (1)")).to_be_visible()
    page.screenshot(path=str(tmp_path / "history.png"), full_page=False)
    assert shot.stat().st_size > 10_000


# The CTT meta-analysis (data/samples/en-ctt-2010.pdf) is the demo corpus's answer to this
# question: the extractive generator cites its page 2 as [E1] for the question and for the first
# follow-up (checked with the demo index on 2026-12-05), so the conversation reaches a PDF citation.
PDF_QUESTION = "How much does lowering LDL cholesterol with statins reduce major vascular events?"
PDF_TITLE = "Efficacy and safety of more intensive lowering of LDL cholesterol"
MARKER_MIN_PIXELS = 500  # a highlighted sentence at preview size covers thousands; none: 0


def marker_pixels(png: bytes) -> int:
    """Pixels of the preview painted with highlight.MARKER_RGBA (a translucent yellow) over the
    page's white or light paper: red stays high, blue drops well below green."""
    import io

    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((r > 220) & (g > 190) & (g < 250) & (b < 190) & (g - b > 50)).sum())


def test_three_turns_reload_reopen_highlighted_pdf_citation_and_export(ui, page, tmp_path):
    """What a clinician does in a day (issue 11): a question and two follow-ups, a reload, the
    history in the sidebar reopens the first answer with its citations, the cited PDF page shows
    the quoted sentence highlighted, and the answer exports as Markdown with its [E1] citation."""
    from playwright.sync_api import expect

    url, _, _ = ui
    page.goto(url)
    sidebar = page.locator('[data-testid="stSidebar"]')

    def listed(turn: str):  # the sidebar's entry for a turn: its label is cut at 60 characters
        return sidebar.locator('[class*="st-key-history_"]').filter(has_text=turn[:50])

    expect(page.get_by_label("Question")).to_be_visible(timeout=120_000)
    turns = [PDF_QUESTION, "and in women?", "and in older adults?"]
    for n, turn in enumerate(turns):
        page.get_by_label("Question").fill(turn)
        page.get_by_role("button", name="Ask").click()
        expect(listed(turn)).to_have_count(1, timeout=120_000)
        if n:
            expect(page.get_by_text(f"Earlier in this conversation ({n})")).to_be_visible(timeout=60_000)
    expect(page.locator(".st-key-answer_box")).to_contain_text("in women, in older adults", timeout=60_000)

    page.reload()
    for turn in turns:  # every turn is kept, listed by what was typed
        expect(listed(turn)).to_have_count(1, timeout=120_000)
    listed(PDF_QUESTION).click()
    answer = page.locator(".st-key-answer_box")
    expect(answer.locator('a[href="#evidence-e1"]').first).to_be_visible(timeout=60_000)  # its [E1] link, as it was
    card = page.locator(".st-key-card_evidence-e1")
    expect(card).to_contain_text(PDF_TITLE, timeout=60_000)
    expect(card).to_contain_text("cited in the answer", timeout=60_000)

    card.get_by_text("Show page 2 of the PDF").click()
    # "page 2" alone: the quoted words were found and drawn (else the caption says they were not).
    expect(card.get_by_text("page 2", exact=True)).to_be_visible(timeout=120_000)
    preview = card.locator('[data-testid="stImage"] img').first
    expect(preview).to_be_visible(timeout=60_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=preview.element_handle(), timeout=60_000)
    marked = marker_pixels(preview.screenshot())
    print(f"marker pixels in the preview: {marked}")
    assert marked >= MARKER_MIN_PIXELS
    card.scroll_into_view_if_needed()
    shot = tmp_path / "highlighted-citation.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000
    if os.environ.get("M1E_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, ROOT / "data" / "screenshot.png")

    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Markdown").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert PDF_QUESTION.rstrip("?") in exported.splitlines()[0]
    assert "[E1]" in exported and PDF_TITLE in exported


# Another wording of PDF_QUESTION (so the history test above, which counts its own entries, is
# unaffected in any order) with the same [E1]: the CTT PDF's page 2 (checked on the demo index).
OPEN_PDF_QUESTION = "By how much do statins reduce major vascular events per mmol/L of LDL cholesterol lowered?"


def test_the_cited_pdf_opens_whole_at_the_cited_page(ui, page):
    """"Open the PDF at page 2" on a PDF citation (issue 11 item 3): the link points at a blob of
    the cited PDF's exact bytes with `#page=2` (what the browser's PDF viewer opens at), and a
    click opens that URL in a new tab holding a PDF document. The viewer's own page box lives in
    Chromium's extension frame, out of a test's reach (a screenshot of this Chromium showed it
    at "2 / 2"), so the test checks the URL, the blob's type and bytes and the new tab."""
    import re
    from urllib.parse import urlsplit

    from playwright.sync_api import expect

    url, _, _ = ui
    requested: list[str] = []
    page.context.on("request", lambda request: requested.append(request.url))  # this tab and the one it opens
    page.goto(url)
    page.get_by_label("Question").fill(OPEN_PDF_QUESTION)
    page.get_by_role("button", name="Ask").click()
    card = page.locator(".st-key-card_evidence-e1")
    expect(card).to_contain_text(PDF_TITLE)
    card.get_by_text("Show page 2 of the PDF").click()
    link = card.frame_locator('iframe[title="Open the PDF at page 2"]').locator("a#open-pdf")
    expect(link).to_have_text("Open the PDF at page 2")
    origin = re.escape(url)
    expect(link).to_have_attribute("href", re.compile(rf"^blob:{origin}/[0-9a-f-]+#page=2$"))
    expect(link).to_have_attribute("target", "_blank")
    href = link.get_attribute("href")
    blob = link.evaluate("""async a => {
        const r = await fetch(a.href.split('#')[0]);
        return {type: r.headers.get('content-type'), bytes: Array.from(new Uint8Array(await r.arrayBuffer()))};
    }""")
    assert blob["type"] == "application/pdf"
    assert bytes(blob["bytes"]) == (ROOT / "data" / "samples" / "en-ctt-2010.pdf").read_bytes()
    expect(card.get_by_role("button", name="Download the whole PDF")).to_be_visible()

    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url == href
    assert tab.evaluate("document.contentType") == "application/pdf"  # the viewer's document, not a download
    tab.close()
    assert href.split("#")[0] in requested  # the recording saw the new tab's load (a request has no fragment)
    # The viewer loads its own parts from chrome:// and chrome-extension:// (inside the browser);
    # what must not happen is a request over the network to anywhere but this server.
    elsewhere = [u for u in requested if urlsplit(u).scheme in ("http", "https", "ws", "wss")
                 and urlsplit(u).hostname not in ("127.0.0.1", "localhost")]
    assert not elsewhere, f"opening the PDF reached past 127.0.0.1: {elsewhere[:5]}"
