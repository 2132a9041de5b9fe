"""PDF -> text with pypdf (imported on first use): encrypted, damaged and fontless PDFs refused."""
from __future__ import annotations

import io
import unicodedata

from tqdm import tqdm

from ...errors import IngestError


def convert(data: bytes, display: str, progress: bool) -> tuple[str, str | None, dict]:
    """(text, PDF metadata title, {}); a page progress bar under ``display`` when ``progress``."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as exc:
        raise IngestError(f"cannot read this PDF; it looks damaged ({exc})") from None
    if encrypted:
        try:  # owner-password-only PDFs open with an empty user password
            opened = bool(reader.decrypt(""))
        except Exception:
            opened = False
        if not opened:
            raise IngestError("this PDF is encrypted (password-protected); save an unprotected copy and add that")
    pages = []
    try:
        for page in tqdm(reader.pages, desc=display, unit="page", delay=1.0, leave=False,
                         disable=not progress):
            pages.append(page.extract_text() or "")
    except Exception as exc:
        raise IngestError(f"cannot read the text of this PDF; it looks damaged ({exc})") from None
    title = None
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:
        pass
    text = "\n\n".join(pages)
    # symbol fonts put bullets in the private-use area; mostly such characters means no usable text
    junk = sum(1 for ch in text if ch == "\ufffd" or unicodedata.category(ch) in ("Co", "Cn"))
    visible = sum(1 for ch in text if not ch.isspace())
    if visible and junk / visible > 0.3:
        raise IngestError("this PDF's text cannot be extracted (its fonts have no Unicode mapping)")
    if junk:
        text = "".join(ch for ch in text if ch != "\ufffd" and unicodedata.category(ch) not in ("Co", "Cn"))
    return text, title, {}

