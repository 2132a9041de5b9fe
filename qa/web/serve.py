"""Serving the app: its look (theme and ``static/app.css``), ``launch`` and the command line."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import gradio as gr

import qa
from qa import Settings

logger = logging.getLogger("qa.app")

CSS_PATH = Path(__file__).resolve().parent / "static" / "app.css"
UPLOAD_CACHE_CLEANUP = (1800, 3600)  # every 30 minutes, delete uploads older than an hour

THEME = gr.themes.Soft(
    primary_hue="indigo", neutral_hue="slate",
    font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Noto Sans CJK SC",
          "PingFang SC", "Microsoft YaHei", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
).set(
    button_primary_background_fill="*primary_600",
    button_primary_background_fill_hover="*primary_700",
    button_primary_text_color="white",
    button_primary_background_fill_dark="*primary_500",
    button_primary_background_fill_hover_dark="*primary_600",
)


def css() -> str:
    """The page's CSS, as gradio reads it from :data:`CSS_PATH`."""
    return CSS_PATH.read_text(encoding="utf-8")


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, *,
           settings: Settings | None = None, delete_cache: tuple[int, int] | None = UPLOAD_CACHE_CLEANUP,
           **kwargs):
    """Serve ``demo`` with the page's look; extra ``kwargs`` go to ``Blocks.launch``.

    Uploads are capped at ``settings.max_file_mb`` (QA_MAX_FILE_MB, the same cap
    ingestion applies) before they reach the disk, and gradio's upload cache is
    swept every ``delete_cache[0]`` seconds of files older than ``delete_cache[1]``
    (ingestion copies what it keeps into the corpus).
    """
    if settings is None:
        try:
            settings = Settings.from_env()
        except ValueError:  # a bad QA_* value: the engine reports it; the cap falls back to the default
            settings = Settings()
    if delete_cache is not None and getattr(demo, "delete_cache", None) is None:
        demo.delete_cache = tuple(delete_cache)  # read by gradio when launch() creates the server
    options = dict(server_name=host, server_port=port, show_error=False, footer_links=["api"],
                   theme=THEME, css_paths=[CSS_PATH], max_file_size=int(settings.max_file_mb * 1024 * 1024))
    options.update(kwargs)
    return demo.launch(**options)


def parse_args(argv: list[str] | None = None, settings: Settings | None = None) -> argparse.Namespace:
    """--host/--port, defaulting to Settings (QA_HOST/QA_PORT), defaulting to 127.0.0.1:7860."""
    parser = argparse.ArgumentParser(prog="app.py", description="Serve the IP-report Q&A web UI and API.")
    try:
        settings = settings or Settings.from_env()
        host, port = settings.host, settings.port
    except ValueError as exc:  # e.g. QA_PORT=abc
        parser.error(f"bad QA_* environment setting: {exc}")
    parser.add_argument("--host", default=host, help=f"address to listen on (QA_HOST; default {host})")
    parser.add_argument("--port", type=int, default=port, help=f"port to listen on (QA_PORT; default {port})")
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(f"--port must be from 1 to 65535, not {args.port}")
    return args


def main(argv: list[str] | None = None) -> int:
    """``python app.py``: warm the process-wide engine up, then serve it."""
    from .ui import build_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    # The queue answers 4 questions at a time; one onnxruntime thread per question beats two
    # that fight over the cores (bench/load.py, 8 clients: 20.2 against 18.7 req/s).
    os.environ.setdefault("QA_ENCODER_THREADS", "1")
    engine = qa.default_engine()  # the one process-wide engine, from Settings.from_env()
    logger.info("loading the model and the index (the first run builds it; this can take a minute)")
    try:
        engine.warm_up()
    except Exception as exc:  # a missing model or unreadable corpus: say so in one line
        logger.debug("warm-up failed", exc_info=True)
        print(f"error: could not load the model and index: {type(exc).__name__}: {exc}\n"
              f"(model folder: {engine.settings.model_dir}; `make model` prepares it)", file=sys.stderr)
        return 1
    demo = build_app(engine)
    logger.info("serving on http://%s:%d/", args.host, args.port)
    launch(demo, args.host, args.port)
    return 0
