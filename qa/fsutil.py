"""Crash-safe file writes shared by the corpus and the index: a temp file in the
same folder, fsync, then an atomic rename; a failed write leaves no temp file."""
from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_atomic(path: Path, data: bytes, prefix: str = ".") -> None:
    tmp = path.parent / f"{prefix}{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
