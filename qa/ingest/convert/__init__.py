"""One file -> a cleaned corpus document, not yet written: read (size-capped), convert, clean, title.

Each format has its own module with ``convert(data, display, progress) ->
(text, title or None, front matter)``; :data:`CONVERTERS` maps a file
extension to the format recorded in front matter and its converter. The heavy
parsers (pypdf, python-docx, trafilatura) are imported inside the converters, on first use.
"""
from __future__ import annotations

import hashlib
import stat
import unicodedata
from pathlib import Path

from ... import corpus
from ...errors import IngestError
from ..messages import _public_error, _size
from ..model import _Converted, _content_key
from ..normalize import normalize_text
from ..titles import _WORD, _pick_title, _with_heading
from . import docx, html, pdf, text

# extension -> (the ``format`` recorded in front matter, its converter)
CONVERTERS = {".txt": ("txt", text.convert), ".md": ("md", text.convert), ".pdf": ("pdf", pdf.convert),
              ".docx": ("docx", docx.convert), ".html": ("html", html.convert), ".htm": ("html", html.convert)}
FORMATS = {suffix: fmt for suffix, (fmt, _) in CONVERTERS.items()}


def convert_file(path: Path, settings, *, display: str | None = None, progress: bool = False) -> _Converted:
    """Read, convert and clean one file; ``IngestError`` says why a file can't go in."""
    display = display or path.name
    fmt, converter = CONVERTERS.get(path.suffix.lower(), (None, None))
    if fmt is None:
        kind = path.suffix.lower() or "(no extension)"
        hint = "; save it as .docx" if kind == ".doc" else ""
        raise IngestError(f"unsupported file type {kind}{hint} (supported: {', '.join(sorted(FORMATS))})")
    data = _read_capped(path, settings.max_file_mb)
    text, title, meta = converter(data, display, progress)
    text = _strip_controls(text)
    if not _WORD.search(text):
        what = {"pdf": "this PDF has no extractable text (scanned pages? OCR is not supported)",
                "html": "this page has no text outside scripts, styles and navigation"}.get(fmt)
        raise IngestError(what or "the file has no text")
    # before anything is written, so every offset computed later indexes the stored file
    body = corpus.normalise(normalize_text(text))
    title, title_from = _pick_title(title, body, path.stem)
    title = normalize_text(title)  # a metadata title or the file name; body lines already are
    final = _with_heading(body, title, title_from)
    # the file itself, the text as written, the text before a heading was added (a corpus file re-added)
    keys = (hashlib.sha256(data).hexdigest(), _content_key(final), _content_key(body))
    return _Converted(display, path, Path(display).name, fmt, title, final, meta, keys)


def _read_capped(path: Path, max_mb: float) -> bytes:
    cap = int(max_mb * 1024 * 1024)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise IngestError("not a regular file")
        if st.st_size > cap:
            raise IngestError(f"the file is {_size(st.st_size)}, over the {max_mb:g} MB limit (QA_MAX_FILE_MB)")
        with open(path, "rb") as fh:
            data = fh.read(cap + 1)
    except OSError as exc:
        raise IngestError(f"cannot read the file ({_public_error(exc)})") from None
    if len(data) > cap:  # it grew while we looked
        raise IngestError(f"the file is over the {max_mb:g} MB limit (QA_MAX_FILE_MB)")
    if not data.strip():
        raise IngestError("the file is empty")
    return data


def _strip_controls(text: str) -> str:
    """Line ends to \\n, page breaks to blank lines, other control characters dropped (\\t kept)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")

