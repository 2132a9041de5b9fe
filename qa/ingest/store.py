"""Writing into corpus/: safe unique names, the ingest lock, atomic writes, what the index holds."""
from __future__ import annotations

import logging
import re
import unicodedata
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

from ..fsutil import write_atomic

logger = logging.getLogger("qa.ingest")  # one logger for the package

_TEMP_PREFIX = ".ingest-"
_LOCK_NAME = ".ingest.lock"
_MAX_SLUG = 60


def slugify(stem: str) -> str:
    """A safe corpus file stem: letters (any script), digits, '-', '_', '.'; no separators."""
    s = unicodedata.normalize("NFKC", stem).strip().lower()
    s = re.sub(r"[^\w.-]+", "-", s)
    s = re.sub(r"\.{2,}", ".", s)
    s = re.sub(r"-{2,}", "-", s).strip("-._")
    s = s[:_MAX_SLUG].rstrip("-._")
    return s or "document"


def _unique_name(stem: str, taken: set[str]) -> str:
    slug = slugify(stem)
    candidate, n = slug, 2
    while candidate.lower() in taken:
        candidate = f"{slug}-{n}"
        n += 1
    taken.add(candidate.lower())
    return candidate + ".md"


def _indexed(engine) -> tuple[dict, dict]:
    """({doc name: chunk count}, {doc name: sha256}) of the live index; empty when unknown."""
    try:
        manifest = engine.store.manifest() or {}
    except Exception:  # an unreadable index is rebuilt by the engine; here it only means "unknown"
        return {}, {}
    if not isinstance(manifest, dict) or manifest.get("chunking") != engine.settings.chunking_fingerprint():
        return {}, {}
    return dict(manifest.get("doc_chunks") or {}), dict(manifest.get("files") or {})


@contextmanager
def _ingest_lock(settings):
    """Serialises corpus writers (add/remove) across threads and processes."""
    index_dir = Path(settings.index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(index_dir / _LOCK_NAME)):
        yield


def _write_atomic(path: Path, data: bytes) -> None:
    write_atomic(path, data, prefix=_TEMP_PREFIX)  # _sweep_temp_files finds what a kill leaves


def _sweep_temp_files(corpus_dir: Path) -> None:
    """Temp files left by a writer that was killed (we hold the lock, so none is live)."""
    for p in corpus_dir.glob(f"{_TEMP_PREFIX}*.tmp"):
        logger.info("removing %s left by an interrupted add", p.name)
        p.unlink(missing_ok=True)

