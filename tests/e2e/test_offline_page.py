"""The page never reaches past 127.0.0.1 (issue 13 item 11): a page load and an ask in a real
Chromium, with every request recorded, and every URL the page's DOM points at checked (a
favicon is fetched by the browser itself, outside the page's request events). The one outward
URL a page may hold is a cited record's DOI as a link (`<a href="https://doi.org/...">`, issue
11): it loads nothing unless the clinician clicks it."""

from __future__ import annotations

import shutil
from urllib.parse import urlsplit

import pytest

from tests.e2e.test_browser import CHROMIUM_ARGS, QUESTION, start_ui, stop_ui

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (bash .ci/setup --test installs it)"),
]

LOCAL_SCHEMES = {"data", "blob", "about"}
URL_ATTRIBUTES = """() => Array.from(document.querySelectorAll('[href],[src]')).map(
    e => [e.tagName, e.getAttribute('href') ? e.href : e.src]).filter(p => p[1])"""


def a_doi_link(tag: str, url: str) -> bool:
    """A clickable DOI link (never a resource the page loads by itself)."""
    return tag == "A" and url.startswith("https://doi.org/10.")


def leaves_the_machine(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme not in LOCAL_SCHEMES and parts.hostname not in ("127.0.0.1", "localhost")


def test_page_load_and_ask_stay_on_127_0_0_1(app_data):
    from playwright.sync_api import expect, sync_playwright

    url, proc = start_ui(app_data, M1E_GENERATOR="extractive")
    requested: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
            try:
                context = browser.new_context()
                context.on("request", lambda request: requested.append(request.url))
                # Anything bound elsewhere is recorded above and refused here, so the test never
                # depends on whether this machine has a network.
                context.route(lambda u: leaves_the_machine(u), lambda route: route.abort())
                page = context.new_page()
                page.set_default_timeout(120_000)
                page.goto(url)
                page.get_by_label("Question").fill(QUESTION)
                page.get_by_role("button", name="Ask").click()
                expect(page.locator(".st-key-answer_box")).to_contain_text("Answer by:")  # finished
                page.wait_for_timeout(1000)  # late requests (fonts, icons) after the answer
                pointed_at = page.evaluate(URL_ATTRIBUTES)
            finally:
                browser.close()
    finally:
        stop_ui(proc)
    assert any(u.startswith(url) for u in requested)  # the recording works
    fetched = sorted({u for u in requested if leaves_the_machine(u)})
    assert not fetched, f"the page reached past 127.0.0.1: {fetched}"
    outside = sorted({u for tag, u in pointed_at if leaves_the_machine(u) and not a_doi_link(tag, u)})
    assert not outside, f"the page points past 127.0.0.1: {outside}"
