"""The page's HTML: the Jinja2 templates in ``templates/``, filled from ``qa`` results.

Autoescape is on, so everything from a document, a question or a library message
is escaped by the template; the only pre-built HTML passed in is the Markup of
:mod:`qa.web.marking` (document text escaped there, with the answer marked).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from . import marking
from .i18n import filter_text, reason_text, t, translate_message, translator, where_text
from .inputs import K_MAX, K_MIN

if TYPE_CHECKING:
    from qa import Answer, Engine, Passage

try:  # the ingestion module is optional: without it the Documents tab only lists
    from qa import ingest
except ImportError:  # pragma: no cover - depends on the checkout
    ingest = None

logger = logging.getLogger("qa.app")

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
ENV = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=StrictUndefined,
                  trim_blocks=True, lstrip_blocks=True)


def render(name: str, lang: str, **context) -> str:
    """Template ``name`` in ``lang``: its ``t("key", ...)`` calls look up that catalogue."""
    return ENV.get_template(name).render(t=translator(lang), lang=lang, **context).strip()


# ---- the answer --------------------------------------------------------------

def confidence(value: float, confident: bool = True) -> dict:
    """The confidence bar; a span the library would not state is never labelled "high"."""
    c = max(0.0, min(1.0, float(value or 0.0)))
    level = "high" if c >= 0.7 and confident else "medium" if c >= 0.45 else "low"
    return {"level": level, "value": round(c * 100), "percent": f"{c * 100:.0f}"}


def passage_items(answer: Answer, passages: list[Passage], docs: dict[str, str]) -> list[dict]:
    items = []
    for p in passages:
        body, context, hit = marking.passage_body(answer, p, docs.get(p.source, ""))
        items.append({"rank": p.rank, "title": p.title, "section": p.section, "source": p.source,
                      "score": float(p.score), "body": body, "context": context, "hit": hit})
    return items


def render_answer(answer: Answer, lang: str, docs: dict[str, str], scope: str | None = None) -> str:
    """One card by ``answer.status``, followed by the ranked passages: the answer card
    (confident span), the most-relevant-sentence card (not confident), or the honest
    not-found card with its reason. ``scope`` names what a filtered search looked in."""
    status = marking.answer_status(answer)
    view = {"status": status, "answer": answer.answer, "span": answer.span, "reason": None, "scope": scope,
            "sentence": None, "source": None, "conf": None, "context": None,
            "passages": passage_items(answer, answer.passages, docs),
            "heading": "passages" if status == "answer" else "passages_nf"}
    if status == "not_found":
        view["reason"] = reason_text(answer, lang)
    else:
        p = answer.passage
        text = docs.get(p.source, "") if p else ""
        view.update(sentence=marking.sentence_html(answer, text), context=marking.card_context(answer, text),
                    source={"title": p.title, "section": p.section, "source": p.source} if p else None)
        if status == "answer":
            view["conf"] = confidence(answer.confidence)
        elif answer.span:
            view["conf"] = confidence(answer.confidence, confident=False)
    return render("answer.html.j2", lang, **view)


def render_error(lang: str, message: str, *, internal: bool = False, scope: bool = False) -> str:
    """A refused question (or, with ``scope``, a refused filter), or a failure of ours (``internal``)."""
    return render("error.html.j2", lang, internal=internal, scope=scope,
                  message="" if internal else translate_message(message, lang))


def render_welcome(lang: str) -> str:
    return render("welcome.html.j2", lang)


def render_result(state: dict | None, lang: str, engine: Engine) -> str:
    """What the Ask tab shows for a handler's ``state`` (kept so a language switch re-renders it)."""
    if not state:
        return render_welcome(lang)
    kind = state.get("kind")
    if kind == "answer":
        return render_answer(state["answer"], lang, doc_texts(engine), scope_label(state.get("where"), engine))
    if kind == "bad_k":
        return render_error(lang, t(lang, "bad_k", lo=K_MIN, hi=K_MAX))
    if kind == "bad_filter":
        return render_error(lang, filter_text(state["key"], state.get("params") or {}, lang), scope=True)
    if kind == "no_match":
        return render_error(lang, t(lang, "filter.no_match", what=where_text(state["where"], lang)), scope=True)
    return render_error(lang, state.get("message", ""), internal=state.get("kind") == "internal")


# ---- the documents -------------------------------------------------------------

def doc_texts(engine: Engine) -> dict[str, str]:
    """Each indexed file's text, to show passages in their surroundings."""
    try:
        return engine.index().extras.get("docs", {}) or {}
    except Exception:  # the page can still show passages without their surroundings
        logger.exception("could not load document texts")
        return {}


def list_docs(engine: Engine) -> list[dict]:
    """name, title, city, chunks for each document: qa.ingest when present, else the live index."""
    if ingest is not None and hasattr(ingest, "list_documents"):
        return ingest.list_documents(engine)
    index = engine.index()
    first = {}
    for c in index.chunks:
        first.setdefault(c.doc, c)
    return [{"name": name, "title": getattr(first.get(name), "title", name),
             "city": getattr(first.get(name), "city", ""), "chunks": n}
            for name, n in sorted((index.manifest.get("doc_chunks") or {}).items())]


def scope_choices(scope: str, engine: Engine) -> list[tuple[str, str]]:
    """The "search in" dropdown's (label, value) pairs: each document by its title (valued by its
    corpus name), or each city the documents name; none for "all"."""
    if scope not in ("doc", "city"):
        return []
    try:
        docs = list_docs(engine)
    except Exception:  # an empty list, not a broken page; the log says why
        logger.exception("could not list documents")
        return []
    if scope == "city":
        return [(c, c) for c in sorted({str(d.get("city") or "").strip() for d in docs} - {""})]
    titles = [str(d.get("title") or d.get("name")) for d in docs]
    repeated = {x for x in titles if titles.count(x) > 1}  # two documents of one title: tell them apart
    return [(f"{title} ({d['name']})" if title in repeated else title, d["name"]) for title, d in zip(titles, docs)]


def scope_label(where: dict | None, engine: Engine) -> str | None:
    """What a filtered search looked in, as the page names it (a document by its title)."""
    if not where:
        return None
    titles = {}
    if "doc" in where:
        try:
            titles = {d.get("name"): d.get("title") for d in list_docs(engine)}
        except Exception:  # the file name will do
            logger.exception("could not list documents")
    return " · ".join(str(titles.get(value) or value) if key == "doc" else str(value) for key, value in where.items())


def render_header(lang: str, engine: Engine) -> str:
    try:
        docs = list_docs(engine)
        stats = t(lang, "stats", docs=len(docs), chunks=sum(int(d.get("chunks") or 0) for d in docs))
    except Exception:
        logger.exception("could not list documents")
        stats = ""
    return render("header.html.j2", lang, stats=stats)


def render_documents(lang: str, engine: Engine) -> str:
    try:
        docs = list_docs(engine)
    except Exception:
        logger.exception("could not list documents")
        return render_error(lang, "", internal=True)
    rows = [{"title": d.get("title") or d.get("name"), "name": d.get("name", ""),
             "city": d.get("city") or "–", "chunks": d.get("chunks", "")} for d in docs]
    return render("documents.html.j2", lang, docs=rows, total=sum(int(d.get("chunks") or 0) for d in docs))


def render_upload(state: dict | None, lang: str) -> str:
    """What became of an upload (``state`` from the add-documents handler)."""
    if not state:
        return ""
    kind = state.get("kind")
    view = {"note": None, "failed": None, "error": None, "results": [], "ok": 0}
    if kind in ("none", "unavailable"):
        view["note"] = "upload_none" if kind == "none" else "upload_unavailable"
    elif kind == "failed":
        view["failed"] = translate_message(state.get("message", ""), lang)
    elif kind == "internal":
        view["error"] = Markup(render_error(lang, "", internal=True))
    else:
        view["results"] = state.get("results", [])
        view["ok"] = sum(1 for r in view["results"] if r["ok"])
    return render("upload.html.j2", lang, **view)
