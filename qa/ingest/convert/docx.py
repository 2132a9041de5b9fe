"""Word .docx -> Markdown-ish text with python-docx (imported on first use); zip bombs refused first."""
from __future__ import annotations

import io
import re

from ...errors import IngestError
from ..messages import _size

DOCX_MAX_UNPACKED_MB = 200  # all members of a .docx together, unpacked
DOCX_MAX_RATIO = 100  # a member this much smaller packed than unpacked ...
DOCX_RATIO_MIN_MB = 10  # ... and at least this big unpacked is a zip bomb


def check_zip(data: bytes) -> None:
    """Refuse a .docx whose members unpack to too much (a zip bomb), before any of it is read.

    The sizes are the ones the zip declares; :mod:`zipfile` (which python-docx
    reads through) never returns more than a member's declared size.
    """
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise IngestError(f"cannot read this .docx; it looks damaged or is not a Word file ({exc})") from None
    total = 0
    mb = 1024 * 1024
    for info in members:
        total += info.file_size
        if total > DOCX_MAX_UNPACKED_MB * mb:
            raise IngestError(f"this .docx unpacks to more than {DOCX_MAX_UNPACKED_MB} MB "
                              "(a zip bomb?); it is refused rather than opened")
        if info.file_size > DOCX_RATIO_MIN_MB * mb and info.file_size > DOCX_MAX_RATIO * max(1, info.compress_size):
            ratio = info.file_size / max(1, info.compress_size)
            raise IngestError(f"this .docx has a part ({info.filename}) packed {ratio:.0f}:1, "
                              f"{_size(info.file_size)} unpacked (a zip bomb?); it is refused rather than opened")


def convert(data: bytes, display: str, progress: bool) -> tuple[str, str | None, dict]:
    """(text with Markdown headings, lists and `|` table rows, core-properties title, {})."""
    import docx
    from docx.table import Table

    check_zip(data)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:
        raise IngestError(f"cannot read this .docx; it looks damaged or is not a Word file ({exc})") from None
    lines = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells = []
                for cell in row.cells:  # merged cells repeat: keep each once
                    text = " ".join(cell.text.split())
                    if text and (not cells or cells[-1] != text):
                        cells.append(text)
                if cells:
                    lines.append(" | ".join(cells))
            lines.append("")
            continue
        text = block.text.strip()
        if not text:
            lines.append("")
            continue
        try:
            style = (block.style.name or "") if block.style is not None else ""
        except Exception:
            style = ""
        m = re.match(r"(?i)heading\s*(\d)", style)
        if style.lower() == "title":
            lines.append("# " + " ".join(text.split()))
        elif m:  # the document title is level 1; Word's Heading 1 is a section
            lines.append("#" * min(6, int(m.group(1)) + 1) + " " + " ".join(text.split()))
        elif "list" in style.lower():
            lines.append("- " + text)
        else:
            lines.append(text)
        lines.append("")
    title = None
    try:
        title = document.core_properties.title or None
    except Exception:
        pass
    return "\n".join(lines), title, {}

