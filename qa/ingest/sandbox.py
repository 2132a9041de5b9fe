"""Run a converter in a child process with bounded memory and time.

A hostile file (a zip bomb that slips past the checks, a PDF that makes the
parser loop, deeply nested markup) then costs at most ``memory_mb`` and
``timeout_s``, is refused with a reason, and never stalls the process that
serves questions: the parsing happens outside its GIL and address space.

The child is forked, so it starts in milliseconds with the parent's modules
(and a test's monkeypatches) in place; its address-space limit is what the
parent already maps plus ``memory_mb``, since a fork shares the parent's mappings
(heap the parent freed but still maps can be reused on top of the budget).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import time

from ..errors import IngestError

logger = logging.getLogger("qa.ingest")


def run_bounded(fn, args: tuple = (), kwargs: dict | None = None, *, memory_mb: float, timeout_s: float):
    """``fn(*args, **kwargs)`` in a forked child; its exceptions are raised here.

    Raises ``IngestError`` when the child runs out of its memory budget, runs past
    ``timeout_s`` (it is killed), or dies without answering.
    """
    if "fork" not in multiprocessing.get_all_start_methods():  # not on Linux: no isolation
        return fn(*args, **(kwargs or {}))
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(send, fn, args, kwargs or {}, memory_mb), daemon=True)
    t0 = time.monotonic()
    child.start()
    send.close()
    try:
        if not recv.poll(timeout_s):
            raise IngestError(f"reading this file took longer than {timeout_s:g} s, so it was stopped "
                              "(QA_CONVERT_TIMEOUT_S)")
        try:
            ok, value = recv.recv()
        except (EOFError, OSError):
            child.join(5)
            raise IngestError(f"the reader crashed on this file (exit {child.exitcode})") from None
    finally:
        recv.close()
        if child.is_alive():
            child.kill()
        child.join(5)
        logger.debug("bounded %s: %.2f s, exit %s", getattr(fn, "__name__", fn), time.monotonic() - t0,
                     child.exitcode)
    if ok:
        return value
    raise value


def _mapped_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(send, fn, args, kwargs, memory_mb) -> None:
    try:
        limit = _mapped_bytes() + int(memory_mb * 1024 * 1024)
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard),
                                                hard))
        result = (True, fn(*args, **kwargs))
    except MemoryError:
        result = (False, IngestError(f"reading this file needs more than {memory_mb:g} MB of memory, so it "
                                     "was refused (QA_CONVERT_MEMORY_MB)"))
    except BaseException as exc:  # handed to the parent, which raises it
        result = (False, exc)
    try:
        send.send(result)
    except Exception as exc:  # an unpicklable result or exception
        send.send((False, IngestError(f"could not read this file ({type(exc).__name__})")))
    finally:
        send.close()
        os._exit(0)  # no atexit handlers or inherited threads of the parent
