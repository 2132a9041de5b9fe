"""What ingestion hands around: the result for one file, a converted document, its content key."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .normalize import normalize_text


@dataclass
class FileResult:
    """What happened to one input file (``add_files``) or document (``remove_document``).

    ``name`` is the input file's name (``folder/sub/file.pdf`` for files found in
    a folder) for adds, and the corpus file name for removals.
    """
    name: str
    ok: bool
    message: str
    chunks: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Converted:
    """One input file turned into a corpus document, not yet written."""
    display: str
    source: Path
    original: str  # the file name the user gave (a link keeps its own name)
    fmt: str
    title: str
    body: str
    meta: dict = field(default_factory=dict)
    keys: tuple[str, ...] = ()  # content hashes that make another document a duplicate of this one


def _content_key(body: str) -> str:
    """Hash of a body with layout whitespace and compatibility forms ignored: the same text is
    the same document, whether it was stored before ingest normalisation existed or after."""
    lines = (" ".join(ln.split()) for ln in normalize_text(body).splitlines())
    return hashlib.sha256("\n".join(ln for ln in lines if ln).encode("utf-8")).hexdigest()
