"""A link that opens a cited PDF in the browser's own PDF viewer at the cited page, offline.

Why a Blob URL: Streamlit serves no file of ours at a URL we control (its media files are an
internal API, and a download is sent as an attachment, which the browser saves instead of
showing), and browsers refuse to open `data:` URLs in a new tab. So the PDF's bytes travel
in the page (base64, inside a small same-origin iframe, `st.iframe`), a script there turns them
into a `blob:` URL, and the link points at `blob:…#page=N`: the viewer (Chromium's, Firefox's
pdf.js) opens at page N. Nothing leaves 127.0.0.1; the blob lives while the card is shown.

Only the bytes `Assistant.source_pdf` gave are embedded (the indexed content, checked by hash),
and only up to `MAX_LINK_BYTES`: a larger PDF is offered as a download only.
"""

from __future__ import annotations

import base64
import html

# The bytes ride in the page as base64 (4/3 of the size) and again in the browser as a Blob, for
# each PDF card whose preview is open. 32 MiB is 500 times the largest demo PDF (data/samples,
# under 64 KB) and keeps a card's message (about 43 MB) well below Streamlit's 200 MB websocket
# limit (server.maxMessageSize); a larger PDF still has its download button.
MAX_LINK_BYTES = 32 * 2**20

LINK_ID = "open-pdf"

_STYLE = """
body { margin: 0; font-family: "Source Sans Pro", "Source Sans", system-ui, sans-serif; }
a { display: inline-block; padding: 0.35rem 0.75rem; border: 1px solid rgba(49, 51, 63, 0.2);
    border-radius: 0.5rem; color: rgb(49, 51, 63); background: white; text-decoration: none;
    font-size: 14px; line-height: 1.6; }
a:hover { border-color: rgb(255, 75, 75); color: rgb(255, 75, 75); }
a[aria-disabled="true"] { opacity: 0.5; pointer-events: none; }
"""

# Decodes the base64 once and points the link at the Blob; until then the link is disabled.
_SCRIPT = """
(function () {
  var raw = atob(document.getElementById("pdf-data").textContent.trim());
  var bytes = new Uint8Array(raw.length);
  for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  var url = URL.createObjectURL(new Blob([bytes], {type: "application/pdf"}));
  var link = document.getElementById("%(link)s");
  link.href = url + "#page=" + link.dataset.page;
  link.removeAttribute("aria-disabled");
})();
"""


def open_at_page_html(data: bytes, page: int, label: str | None = None) -> str:
    """The iframe document: one link "Open the PDF at page N" onto `data` at 1-based `page`.

    `data` must be a PDF (it starts with `%PDF-`) of at most MAX_LINK_BYTES; ValueError names
    what is wrong otherwise. The base64 text sits in an inert `<script type="text/plain">`
    (base64 has no `<`, so it cannot end the element); `label` is escaped."""
    if not data.startswith(b"%PDF-"):
        raise ValueError("not a PDF (the bytes do not start with %PDF-)")
    if len(data) > MAX_LINK_BYTES:
        raise ValueError(f"the PDF is {len(data) / 2**20:.1f} MiB; the limit for opening it in the browser is "
                         f"{MAX_LINK_BYTES / 2**20:.0f} MiB (MAX_LINK_BYTES)")
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ValueError(f"page must be a positive whole number, not {page!r}")
    text = html.escape(label or f"Open the PDF at page {page}")
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><style>{_STYLE}</style></head><body>'
        f'<a id="{LINK_ID}" target="_blank" aria-disabled="true" data-page="{page}">{text}</a>'
        f'<script id="pdf-data" type="text/plain">{encoded}</script>'
        f"<script>{_SCRIPT % {'link': LINK_ID}}</script></body></html>"
    )
