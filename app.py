"""Web UI and HTTP API for the IP-report question answering system.

    python app.py [--host 127.0.0.1] [--port 7860]

Host and port come from ``--host/--port``, else ``QA_HOST/QA_PORT``, else
127.0.0.1:7860. One process-wide :class:`qa.Engine` is warmed up before the
server starts, so the first question is as fast as the rest.

This file is the entry point only; the app lives in :mod:`qa.web` (layout and
handlers in ``qa/web/ui.py``, HTML in Jinja2 templates, CSS in
``qa/web/static/app.css``, interface text in ``qa/web/locales/{en,zh}.json``).
Two named API endpoints are callable with ``gradio_client``::

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/")
    client.predict("宁波2023年知识产权质押融资金额是多少？", 5, api_name="/ask")       # Answer.to_dict()
    client.predict("how long is the average patent grant cycle?", 5, api_name="/retrieve")  # [Passage.to_dict()]

Tests and other programs mount the UI with ``build_app(engine)`` and start it
with ``launch(demo, ...)`` (which adds the page's CSS and theme).
"""
import sys

from qa.web.i18n import LANGS, REASON_TEXT, TEXT, reason_text, t, translate_message
from qa.web.inputs import EXAMPLES, K_DEFAULT, K_MAX, K_MIN, UPLOAD_TYPES, coerce_k
from qa.web.marking import CONTEXT_CHARS, answer_status
from qa.web.render import (list_docs, render_answer, render_documents, render_error, render_header,
                           render_result, render_upload, render_welcome)
from qa.web.serve import CSS_PATH, THEME, UPLOAD_CACHE_CLEANUP, css, launch, main, parse_args
from qa.web.ui import build_app

CSS = css()  # the page's CSS as text (launch passes the file, CSS_PATH)

__all__ = [
    "CONTEXT_CHARS", "CSS", "CSS_PATH", "EXAMPLES", "K_DEFAULT", "K_MAX", "K_MIN", "LANGS", "REASON_TEXT",
    "TEXT", "THEME", "UPLOAD_CACHE_CLEANUP", "UPLOAD_TYPES", "answer_status", "build_app", "coerce_k",
    "launch", "list_docs", "main", "parse_args", "reason_text", "render_answer", "render_documents",
    "render_error", "render_header", "render_result", "render_upload", "render_welcome", "t",
    "translate_message",
]

if __name__ == "__main__":
    sys.exit(main())
