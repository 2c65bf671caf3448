"""The web UI's helpers: escaping untrusted text, saving uploads, rendering a PDF page."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.ui.preview import PreviewError, render_pdf_page
from app.ui.text import anchor_id, answer_markdown, escape_markdown
from app.ui.uploads import UploadError, safe_filename, save_upload, save_uploads
from tests import hostile_inputs


def test_escape_markdown_leaves_no_live_syntax():
    hostile = "<script>alert(1)</script> **b** _i_ [x](http://e) ![i](x.png) `c` $x$ :smile: # h | t"
    escaped = escape_markdown(hostile)
    for token in ("<", ">", "*", "_", "[", "]", "(", ")", "`", "$", ":", "#", "|", "!"):
        assert token not in escaped.replace("\\" + token, "")


def test_answer_markdown_links_only_known_citations_and_keeps_lists():
    md = answer_markdown("**Heading <b>**\n- Use metformin [E1] not [E7].\n2. second [E2]", {"E1", "E2"})
    lines = md.splitlines()
    assert lines[0] == r"**Heading \<b\>**"
    assert lines[1].startswith("- Use metformin [\\[E1\\]](#evidence-e1)") and r"\[E7\]" in lines[1]
    assert lines[2] == r"2. second [\[E2\]](#evidence-e2)"
    assert anchor_id('E1"><img') == "evidence-e1img"


def test_uploads_are_saved_with_safe_names(tmp_path):
    assert safe_filename("../../etc/passwd.pdf") == "passwd.pdf"
    assert safe_filename("C:\\x\\..\\Guide <v2>.PDF") == "Guide _v2.pdf"
    path = save_upload("../guide.pdf", b"%PDF-1.4 fake", tmp_path / "uploads", max_mb=1)
    assert path.parent == tmp_path / "uploads" and path.name.endswith("-guide.pdf")
    assert save_upload("guide.pdf", b"%PDF-1.4 fake", tmp_path / "uploads", max_mb=1) == path
    with pytest.raises(UploadError, match="not a PDF"):
        save_upload("evil.pdf", b"MZ\x90\x00", tmp_path, max_mb=1)
    with pytest.raises(UploadError, match="only PDF, markdown and text"):
        save_upload("run.sh", b"rm -rf /", tmp_path, max_mb=1)
    with pytest.raises(UploadError, match="1 MB upload limit"):
        save_upload("big.txt", b"x" * (1024 * 1024 + 1), tmp_path, max_mb=1)


def test_pdf_page_preview(tmp_path):
    from reportlab.pdfgen import canvas

    pdf = tmp_path / "two.pdf"
    c = canvas.Canvas(str(pdf))
    c.drawString(72, 720, "page one")
    c.showPage()
    c.drawString(72, 720, "page two")
    c.save()
    image = render_pdf_page(pdf, 2, width_px=400)
    assert 350 <= image.width <= 450 and image.height > image.width
    with pytest.raises(PreviewError, match="has no page 3"):
        render_pdf_page(pdf, 3)
    with pytest.raises(PreviewError, match="not a readable PDF"):
        render_pdf_page(tmp_path / "missing.pdf", 1)


# ---------------------------------------------------------------- hostile input (issue 13)
class _Upload:
    def __init__(self, name: str, data: bytes | None):
        self.name, self._data = name, data

    def getvalue(self) -> bytes:
        if self._data is None:
            raise OSError(5, "Input/output error")  # a read that fails mid-batch
        return self._data


def _utf8_len(name: str) -> int:
    return len(name.encode("utf-8"))


@pytest.mark.parametrize("case", hostile_inputs.params("upload"))
def test_hostile_upload_name_is_saved_and_indexed(case, tmp_path):
    """Item 7: names are capped in bytes, so a long multi-byte name saves and indexes."""
    saved = save_uploads([_Upload(case.build, b"# Statins\n\nHigh-intensity statin therapy is recommended.\n")], tmp_path / "up", 1)
    assert not saved.errors and len(saved.paths) == 1
    path = saved.paths[0]
    assert _utf8_len(path.name + ".part") <= 255 and path.read_bytes().startswith(b"# Statins")
    assert not any(ord(c) < 32 for c in path.name)
    report = _pipeline(tmp_path).run([path])
    assert [o.path for o in report.indexed] == [str(path.resolve())], report.failed


def test_one_bad_upload_never_stops_the_batch(tmp_path):
    """Item 7: the files around a failing one are saved, and then all of them are indexed."""
    batch = [
        _Upload("first.md", b"# First\n\nMetformin is first-line therapy for type 2 diabetes.\n"),
        _Upload("broken.txt", None),
        _Upload("notes.exe", b"MZ"),
        _Upload(70 * "中文" + ".md", b"# Second\n\nA blood pressure target below 130/80 mmHg.\n"),
    ]
    saved = save_uploads(batch, tmp_path / "up", 1)
    assert [p.name.split("-", 1)[1] for p in saved.paths][0] == "first.md" and len(saved.paths) == 2
    assert len(saved.errors) == 2
    assert saved.errors[0].startswith("broken.txt: cannot save the upload (Input/output error)")
    assert "only PDF, markdown and text" in saved.errors[1]
    report = _pipeline(tmp_path).run(saved.paths)
    assert len(report.indexed) == 2 and not report.failed


def _pipeline(tmp_path):
    from indexing.pipeline import IndexPipeline
    from tests.indexing.store_fakes import HashEmbedder

    return IndexPipeline(tmp_path / "index", embedder=HashEmbedder(), chunk_tokens=40, chunk_overlap=8)


def _pdf_with_mediabox(path, width_pt: float, height_pt: float):
    """A one-page PDF with the given MediaBox (nothing drawn)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] >>" % (width_pt, height_pt),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


@pytest.mark.parametrize("case", hostile_inputs.params("preview"))
def test_hostile_page_preview_fails_fast_with_a_reason(case, tmp_path):
    """Item 13: the pixel count is checked before rendering (it took 5 GB before)."""
    import resource
    import time

    pdf = _pdf_with_mediabox(tmp_path / "giant.pdf", *case.build)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(PreviewError, match=case.expect):
        render_pdf_page(pdf, 1)
    assert time.monotonic() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB: under 200 MB more


def test_preview_of_a_large_but_real_page_is_scaled_to_the_pixel_cap(tmp_path):
    from app.ui.preview import MAX_PREVIEW_PIXELS

    pdf = _pdf_with_mediabox(tmp_path / "poster.pdf", 2384, 3370)  # A0
    image = render_pdf_page(pdf, 1, width_px=4000)
    assert image.width * image.height <= MAX_PREVIEW_PIXELS and image.width > 1000


def test_error_text_is_shown_escaped(app_data, monkeypatch):
    """Item 12: a server's error text in the UI is literal text: no bold, no javascript: link."""
    from streamlit.testing.v1 import AppTest

    from tests.app.openai_server import FakeChatServer

    hostile = "**overloaded** [details](javascript:alert(document.cookie)) <b>x</b>"
    with FakeChatServer(refuse_with=hostile) as server:
        monkeypatch.setenv("M1E_GENERATOR", "openai")
        monkeypatch.setenv("M1E_SERVER_URL", server.url)
        at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "streamlit_app.py"), default_timeout=180)
        at.run()
        at.text_area(key="question").input("What HbA1c target is recommended for adults with type 2 diabetes?")
        next(b for b in at.button if b.label == "Ask").click()
        at.run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and r"refused the request\: HTTP 400" in errors[0]
    shown = errors[0]
    assert r"\*\*overloaded\*\*" in shown and r"\[details\]\(javascript\:" in shown and r"\<b\>" in shown
    assert "](javascript:" not in shown and "**overloaded**" not in shown


def test_upload_summary_counts_the_files_refused_at_upload(monkeypatch):
    """Issue 11: a file shown red ("not a PDF") sat under "Indexed 2 file(s); 0 failed". The
    summary now counts what the red lines under it show, and is a warning, not a success."""
    from types import SimpleNamespace

    from app.ui import page

    shown: list[tuple[str, str]] = []
    fake_st = SimpleNamespace(**{kind: (lambda text, kind=kind: shown.append((kind, text)))
                                 for kind in ("success", "warning", "error")})
    monkeypatch.setattr(page, "st", fake_st)
    report = SimpleNamespace(indexed=["a.pdf", "b.md"], unchanged=[], seconds=0,
                             failed=[SimpleNamespace(path="/up/c.pdf", reason="no text layer")])
    page.show_report(report, rejected=["scan.pdf: not a PDF"])
    assert shown[0] == ("warning", "Indexed 2 file(s); 0 unchanged; 2 failed.")
    assert [kind for kind, _ in shown[1:]] == ["error", "error"]
    assert shown[1][1] == escape_markdown("c.pdf: no text layer")  # file names are shown inert
    assert shown[2][1] == escape_markdown("scan.pdf: not a PDF")
    shown.clear()
    page.show_report(SimpleNamespace(indexed=["a.pdf"], unchanged=["b.md"], failed=[], seconds=0))
    assert shown == [("success", "Indexed 1 file(s); 1 unchanged; 0 failed.")]


def test_generation_line_rates_over_the_writing_time_only():
    """The live line while a model writes: the rate leaves out the wait for retrieval and model
    loading (elapsed 6.1 s, writing 4.9 s: 57 tokens are 11.6 tokens/s, not 9.3)."""
    from app.ui.text import generation_line

    assert generation_line(57, 6.1, 4.9) == "Writing: 57 tokens · 11.6 tokens/s · 6.1 s"
    assert generation_line(0, 2.0, 0.0) == "Writing: 0 tokens · 0.0 tokens/s · 2.0 s"
    assert generation_line(12, 3.0, 2.0, unit="pieces") == "Writing: 12 pieces · 6.0 pieces/s · 3.0 s"


def test_the_open_at_page_link_carries_only_a_pdf_of_bounded_size(monkeypatch):
    """pdf_link.open_at_page_html: the link starts disabled and points at `blob:…#page=N` once its
    script has run (the browser test checks that part); it embeds only PDF bytes, within
    MAX_LINK_BYTES, at a positive page, and escapes its label."""
    import base64

    import app.ui.pdf_link as pdf_link

    data = b"%PDF-1.4\n" + bytes(range(256)) * 4
    page = pdf_link.open_at_page_html(data, 7, label="Open <b>it</b>")
    assert 'data-page="7"' in page and 'aria-disabled="true"' in page and 'target="_blank"' in page
    assert base64.b64encode(data).decode() in page and '"#page=" + link.dataset.page' in page
    assert "Open &lt;b&gt;it&lt;/b&gt;" in page and "<b>" not in page
    with pytest.raises(ValueError, match="not a PDF"):
        pdf_link.open_at_page_html(b"<html>not a pdf</html>", 1)
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="page must be a positive whole number"):
            pdf_link.open_at_page_html(data, bad)
    monkeypatch.setattr(pdf_link, "MAX_LINK_BYTES", len(data) - 1)
    with pytest.raises(ValueError, match="MAX_LINK_BYTES"):
        pdf_link.open_at_page_html(data, 1)
