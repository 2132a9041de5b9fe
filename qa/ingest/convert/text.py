"""Plain text and Markdown (.txt, .md): decoded by :func:`decode_text`, front matter checked strictly."""
from __future__ import annotations

import logging

from ... import corpus
from ...errors import IngestError
from ..encoding import decode_text

logger = logging.getLogger("qa.ingest")  # one logger for the package


def convert(data: bytes, display: str, progress: bool) -> tuple[str, str | None, dict]:
    """(body after any front matter, its ``title``, the front matter)."""
    text, encoding = decode_text(data)
    if encoding != "utf-8":
        logger.info("%s: decoded as %s", display, encoding)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        meta, start = corpus.split_front_matter(text, strict=True)
    except corpus.UnsafeFrontMatter as exc:
        raise IngestError(f"refusing this file's front matter: {exc}") from None
    text = text[start:]
    title = str(meta.get("title") or "").strip() or None
    return text, title, meta
