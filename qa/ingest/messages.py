"""Texts for the person adding files: exception messages without server paths, file sizes."""
from __future__ import annotations

import errno
import re

_ABS_PATH = re.compile(r"""(?<![\w:/])(?:[A-Za-z]:)?[\\/](?:[^\s'"\\/]+[\\/])*([^\s'"\\/]*)""")


def _public_error(exc: BaseException) -> str:
    """An exception's text fit for the person adding files: no server paths.

    OSErrors give their reason (``Permission denied``); any absolute path left
    in other messages is cut to its last component, the name the user knows.
    """
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC and "disk is full" not in (exc.strerror or ""):
        text = f"the disk is full ({exc.strerror or 'No space left on device'})"
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return _ABS_PATH.sub(lambda m: m.group(1) or "…", text)


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.1f} KB"
