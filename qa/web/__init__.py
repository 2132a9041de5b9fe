"""The web UI and HTTP API over :class:`qa.Engine` (``python app.py`` serves it).

- :mod:`qa.web.i18n`: the interface text, one JSON catalogue per language in ``locales/``
- :mod:`qa.web.marking`: document text as escaped HTML with the answer marked
- :mod:`qa.web.render`: the Jinja2 templates in ``templates/``, filled from ``qa`` results
- :mod:`qa.web.ui`: ``build_app``, the Gradio layout, its handlers and the ``/ask``, ``/retrieve`` API
- :mod:`qa.web.serve`: ``launch`` (theme, ``static/app.css``, upload cap), ``parse_args``, ``main``

``build_app`` and ``launch`` load gradio on first use, so the text and rendering
modules import without it.
"""
from __future__ import annotations

import importlib

_LAZY = {"build_app": ".ui", "launch": ".serve", "parse_args": ".serve", "main": ".serve"}
__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
