"""Which paths may be added: inside cwd, home, the temp dir or Settings.allowed_upload_dirs."""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from ..errors import IngestError
from .messages import _public_error
from .model import FileResult

logger = logging.getLogger("qa.ingest")  # one logger for the package


def allowed_roots(settings) -> list[Path]:
    """Folders files may be added from: cwd, home, the temp dir, and Settings.allowed_upload_dirs.

    The filesystem root is never a root (a server started in ``/`` must not
    serve ``/etc``).
    """
    candidates = []
    for get in (Path.cwd, Path.home, lambda: Path(tempfile.gettempdir())):
        try:
            candidates.append(get())
        except (OSError, RuntimeError, KeyError):
            pass
    candidates += [Path(p).expanduser() for p in settings.allowed_upload_dirs if str(p).strip()]
    roots = []
    for root in candidates:
        try:
            root = root.resolve()
        except (OSError, RuntimeError, ValueError):
            continue
        if root == Path(root.anchor):
            logger.warning("ignoring %s as an upload folder: it is the filesystem root", root)
            continue
        if root not in roots:
            roots.append(root)
    return roots


def check_path(raw: Path | str, roots: list[Path]) -> Path:
    """The resolved path if it exists inside an allowed root, else ``IngestError``."""
    try:
        given = Path(os.fspath(raw)).expanduser()
        resolved = given.resolve(strict=True)
    except FileNotFoundError:
        raise IngestError("no such file or folder") from None
    except (OSError, RuntimeError, ValueError) as exc:  # loops, NUL bytes, permissions
        why = "a symbolic link loop" if isinstance(exc, RuntimeError) else _public_error(exc)
        raise IngestError(f"cannot open this path ({why})") from None
    if not any(resolved.is_relative_to(r) for r in roots):
        how = " (it escapes with '..')" if ".." in given.parts else \
              " (a link pointing elsewhere)" if given.absolute().is_symlink() else ""
        raise IngestError(f"outside the folders files may be added from{how}: the current folder, "
                          "your home folder, the temp folder, or QA_ALLOWED_UPLOAD_DIRS")
    return resolved


def _expand(raw, roots: list[Path]) -> list[FileResult | tuple[str, Path]]:
    """(display name, resolved path) for each file under ``raw``; FileResults for bad paths."""
    display = Path(os.fspath(raw)).name or str(raw)
    try:
        path = check_path(raw, roots)
    except IngestError as exc:
        return [FileResult(display, False, str(exc))]
    if not path.is_dir():
        return [(display, path)]
    out: list[FileResult | tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(path):  # symlinked folders are not followed
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in sorted(filenames):
            if fn.startswith("."):
                continue
            child = Path(dirpath) / fn
            shown = f"{path.name}/{child.relative_to(path).as_posix()}"
            try:
                out.append((shown, check_path(child, roots)))
            except IngestError as exc:
                out.append(FileResult(shown, False, str(exc)))
    if not out:
        return [FileResult(display, False, "the folder has no files to add")]
    return out
