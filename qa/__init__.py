"""Question answering over Chinese IP documents, in Chinese or English.

    >>> import qa
    >>> qa.retrieve("how long is the average patent grant cycle?", k=3)
    >>> qa.ask("宁波2023年知识产权质押融资金额是多少？").answer
    '394.11亿元'

The functions here use one process-wide :class:`Engine` built from
``Settings.from_env()``; make your own ``Engine(settings)`` for anything else.
"""
from __future__ import annotations

import logging
import threading

from typing import TYPE_CHECKING

from .errors import IngestError, InvalidQuestion, QAError
from .settings import Settings

if TYPE_CHECKING:
    from .schema import Answer
    from .pipeline import Engine
    from .schema import Passage

# Heavy stages load on first use, so `python -m qa.pool` or `qa --help` stay instant.
_LAZY = {"Answer": ".schema", "Engine": ".pipeline", "Passage": ".schema"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(name)

__all__ = ["Answer", "Engine", "IngestError", "InvalidQuestion", "Passage", "QAError", "Settings",
           "ask", "default_engine", "retrieve"]

logging.getLogger(__name__).addHandler(logging.NullHandler())

_engine: Engine | None = None
_engine_lock = threading.Lock()


def default_engine() -> "Engine":
    global _engine
    with _engine_lock:
        if _engine is None:
            from .pipeline import Engine
            _engine = Engine(Settings.from_env())
        return _engine


def retrieve(question: str, k: int = 5, where: dict | None = None) -> "list[Passage]":
    """The ``k`` passages that best answer ``question``, best first; ``where`` limits the search
    to one document, city or year: ``{"doc": "report.md"}``, ``{"city": "宁波"}``, ``{"year": 2023}``."""
    return default_engine().retrieve(question, k, where)


def ask(question: str, k: int = 5, where: dict | None = None) -> "Answer":
    """The exact answer span (or ``None`` when the documents don't say), with its evidence;
    ``where`` as in :func:`retrieve`."""
    return default_engine().ask(question, k, where)
