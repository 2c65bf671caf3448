"""The web UI's helpers: escaping untrusted text, saving uploads, rendering a PDF page."""

from __future__ import annotations

import pytest

from app.ui.preview import PreviewError, render_pdf_page
from app.ui.text import anchor_id, answer_markdown, escape_markdown
from app.ui.uploads import UploadError, safe_filename, save_upload


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
