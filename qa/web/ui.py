"""The Gradio Blocks app: the page's layout, its handlers and the two named API endpoints."""
# No ``from __future__ import annotations``: gr.api reads the endpoint
# functions' type hints at run time.
import inspect
import logging
from pathlib import Path

import gradio as gr

from qa import Engine, InvalidQuestion, QAError
from qa.errors import NoMatchingDocuments

from .i18n import DEFAULT_LANG, LANGS, filter_text, request_lang, t, translate_message, where_text
from .inputs import (EXAMPLES, K_DEFAULT, K_MAX, K_MIN, UPLOAD_TYPES, BadFilter, coerce_k, coerce_where,
                     jsonable, scope_where)
from .render import (ingest, render_documents, render_header, render_result, render_upload,
                     render_welcome, scope_choices)

logger = logging.getLogger("qa.app")

# the interface speaks the browser's language (or ?lang=zh / ?lang=en)
PICK_LANGUAGE_JS = """() => {
    const q = new URLSearchParams(window.location.search).get('lang');
    if (q === 'zh' || q === 'en') return q;
    return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}"""
# on a phone the answer is below the fold: bring it into view once it is there
REVEAL_JS = """() => { if (window.innerWidth < 700) {
    document.getElementById('qa-result')?.scrollIntoView({behavior: 'smooth', block: 'start'}); } }"""


def scope_options(lang: str) -> list[tuple[str, str]]:
    """The "search in" radio's (label, value) pairs; the values are :data:`qa.web.inputs.SCOPES`."""
    return [(t(lang, "scope_all"), "all"), (t(lang, "scope_doc"), "doc"), (t(lang, "scope_city"), "city")]


def api_lang(request) -> str:
    """An API caller's language, from its Accept-Language header (gradio_client sends none: English)."""
    try:
        return request_lang(request.headers.get("accept-language")) if request is not None else DEFAULT_LANG
    except Exception:  # a request without headers still gets an answer
        return DEFAULT_LANG


class _Blocks(gr.Blocks):
    """gradio_client fills in the defaults of arguments a caller leaves out, but Gradio refuses
    a raw HTTP call that sends fewer values than the endpoint takes. For the API endpoints,
    the missing trailing values are the function's own defaults (None where it has none,
    which the handler then refuses with a clear message)."""

    def validate_inputs(self, block_fn, inputs):
        fn = getattr(block_fn, "fn", None)
        if getattr(fn, "__name__", "") in ("api_ask", "api_retrieve") and len(inputs) < len(block_fn.inputs):
            params = [p for p in inspect.signature(fn).parameters.values() if p.name != "request"]
            inputs.extend(None if p.default is p.empty else p.default
                          for p in params[len(inputs):len(block_fn.inputs)])
        return super().validate_inputs(block_fn, inputs)


def build_app(engine: Engine) -> gr.Blocks:
    """The Gradio app over ``engine`` (queued; start it with :func:`launch`)."""

    def search(method, question, k, where):
        # no filter: the very call the page made before filters existed
        return method(question, k, where=where) if where else method(question, k)

    # -- handlers behind the page --

    def ask_state(question, k, where):
        try:
            return {"kind": "answer", "answer": search(engine.ask, question, k, where), "where": where}
        except NoMatchingDocuments:
            logger.info("no document matches %s", where)
            return {"kind": "no_match", "where": where}
        except InvalidQuestion as exc:
            return {"kind": "error", "message": str(exc)}
        except QAError as exc:
            logger.warning("could not answer %r: %s", question, exc)
            return {"kind": "error", "message": str(exc)}
        except ValueError:
            logger.exception("error answering %r", question)
            return {"kind": "internal"}
        except Exception:
            logger.exception("error answering %r", question)
            return {"kind": "internal"}

    def ask_ui(question, k, scope, scope_value, lang):
        try:
            k = coerce_k(k)
        except ValueError:
            state = {"kind": "bad_k"}
            return render_result(state, lang, engine), state
        try:
            where = scope_where(scope, scope_value)
        except BadFilter as exc:  # kept as key and params, so a language switch re-says it
            state = {"kind": "bad_filter", "key": exc.key, "params": exc.params}
            return render_result(state, lang, engine), state
        state = ask_state(question, k, where)
        return render_result(state, lang, engine), state

    def scope_picker(scope, current, lang):
        """The document or city dropdown for ``scope``, its choices read afresh from the index."""
        choices = scope_choices(scope, engine)
        values = [value for _, value in choices]
        label = {"doc": t(lang, "scope_pick_doc"), "city": t(lang, "scope_pick_city")}.get(scope, "")
        return gr.update(choices=choices, value=current if current in values else (values[0] if values else None),
                         visible=scope in ("doc", "city"), label=label)

    def pick_example(sample):
        return sample[0] if isinstance(sample, (list, tuple)) else sample

    def relabel(lang, result_state, upload_state, scope, scope_value):
        return (
            render_header(lang, engine),
            gr.update(label=t(lang, "tab_ask")),
            gr.update(label=t(lang, "tab_docs")),
            gr.update(label=t(lang, "question"), placeholder=t(lang, "placeholder")),
            gr.update(value=t(lang, "ask")),
            gr.update(label=t(lang, "k"), info=t(lang, "k_info")),
            gr.update(label=t(lang, "examples")),
            render_result(result_state, lang, engine),
            render_documents(lang, engine),
            gr.update(label=t(lang, "upload")),
            gr.update(value=t(lang, "add")),
            render_upload(upload_state, lang),
            gr.update(choices=scope_options(lang), label=t(lang, "scope")),
            scope_picker(scope, scope_value, lang),
        )

    def add_documents(files, lang):
        paths = [Path(f if isinstance(f, str) else getattr(f, "name", f)) for f in (files or [])]
        if not paths:
            state = {"kind": "none"}
        elif ingest is None or not hasattr(ingest, "add_files"):
            state = {"kind": "unavailable"}
        else:
            try:
                results = ingest.add_files(engine, paths, progress=False)
                state = {"kind": "results", "results": [
                    {"name": r.name, "ok": bool(r.ok), "message": r.message, "chunks": int(r.chunks or 0)}
                    for r in results]}
            except QAError as exc:
                state = {"kind": "failed", "message": str(exc)}
            except Exception:
                logger.exception("error adding %s", paths)
                state = {"kind": "internal"}
        return (render_upload(state, lang), state, render_documents(lang, engine),
                render_header(lang, engine), None)

    # -- the named API endpoints --

    def api_inputs(k, doc, city, year, lang):
        """k and the filter as the library takes them, or a gr.Error in the caller's language."""
        try:
            k = coerce_k(k)
        except ValueError as exc:
            raise gr.Error(str(exc) if lang == DEFAULT_LANG else t(lang, "bad_k", lo=K_MIN, hi=K_MAX),
                           print_exception=False) from None
        try:
            return k, coerce_where(doc, city, year)
        except BadFilter as exc:
            raise gr.Error(filter_text(exc.key, exc.params, lang), print_exception=False) from None

    def api_message(exc, where, lang):
        if isinstance(exc, NoMatchingDocuments):
            return t(lang, "filter.no_match", what=where_text(where, lang))
        return translate_message(str(exc), lang)

    def api_ask(question: str, k: int = K_DEFAULT, doc: str = "", city: str = "", year: str | int = "",
                request: gr.Request = None) -> dict:
        """Answer a question (Chinese or English) from the indexed documents.

        ``doc`` (a corpus file name), ``city`` and ``year`` limit the search to the documents
        that match them all; empty (the default) searches everything. A filter that matches
        no indexed document is an error, in the Accept-Language of the request.

        Returns Answer.to_dict(). ``status`` says which case applies:

        - "answer": confident; ``answer`` is the exact span, ``source_text[start:end]``
          of ``passage.source``, inside ``sentence`` (``sentence_start:sentence_end``).
        - "sentence": not confident enough to state an answer; ``answer`` is null, but
          ``sentence`` and ``passage`` hold the most relevant sentence and ``span`` (with
          ``start``/``end``) the reader's best guess, which may be null.
        - "not_found": the documents don't say; ``answer``, ``sentence`` and ``span`` are
          null, ``reason`` says why in English and ``reason_code`` is one of year_absent,
          year_not_in_passages, place_absent, no_key_words, not_close (or a newer code
          from qa.answer.REASONS).

        Always present: ``question`` (as the library read it), ``passages`` (the k ranked
        passages), ``confidence`` (the calibrated probability that ``span`` is right),
        and ``kind`` (the kind of answer the question asks for).
        """
        lang = api_lang(request)
        k, where = api_inputs(k, doc, city, year, lang)
        try:
            return jsonable(search(engine.ask, question, k, where).to_dict())
        except (QAError, ValueError) as exc:
            raise gr.Error(api_message(exc, where, lang), print_exception=False) from None
        except Exception:
            logger.exception("API ask failed for %r", question)
            raise gr.Error("The question could not be answered because of a server error.") from None

    def api_retrieve(question: str, k: int = K_DEFAULT, doc: str = "", city: str = "", year: str | int = "",
                     request: gr.Request = None) -> list[dict]:
        """The k passages (1-20) that best answer a question, best first, as Passage.to_dict();
        ``doc``, ``city``, ``year`` filter as in /ask."""
        lang = api_lang(request)
        k, where = api_inputs(k, doc, city, year, lang)
        try:
            return jsonable([p.to_dict() for p in search(engine.retrieve, question, k, where)])
        except (QAError, ValueError) as exc:
            raise gr.Error(api_message(exc, where, lang), print_exception=False) from None
        except Exception:
            logger.exception("API retrieve failed for %r", question)
            raise gr.Error("The passages could not be retrieved because of a server error.") from None

    lang0 = DEFAULT_LANG
    title = " · ".join(t(code, "title") for _, code in LANGS)  # IP Reports Q&A · 知识产权报告问答
    with _Blocks(title=title, analytics_enabled=False) as demo:
        with gr.Row(elem_id="qa-top", equal_height=False):
            header = gr.HTML(render_header(lang0, engine), elem_id="qa-header", scale=1, min_width=320)
            lang = gr.Radio(LANGS, value=lang0, show_label=False, container=False, elem_id="qa-lang",
                            scale=0, min_width=160)
        result_state = gr.State(None)
        upload_state = gr.State(None)
        with gr.Tabs(elem_id="qa-tabs"):
            with gr.Tab(t(lang0, "tab_ask"), id="ask", elem_id="qa-tab-ask") as tab_ask:
                with gr.Row(elem_id="qa-askrow", equal_height=False):
                    question = gr.Textbox(label=t(lang0, "question"), placeholder=t(lang0, "placeholder"),
                                          lines=1, max_lines=4, scale=5, min_width=300, autofocus=True,
                                          elem_id="qa-question")
                    ask_btn = gr.Button(t(lang0, "ask"), variant="primary", scale=1, min_width=120,
                                        elem_id="qa-ask", size="lg")
                with gr.Row(elem_id="qa-options"):
                    examples = gr.Dataset(components=[question], samples=[[q] for q in EXAMPLES],
                                          label=t(lang0, "examples"), elem_id="qa-examples", scale=2,
                                          min_width=300, samples_per_page=len(EXAMPLES))
                    k = gr.Slider(K_MIN, K_MAX, value=K_DEFAULT, step=1, label=t(lang0, "k"),
                                  info=t(lang0, "k_info"), scale=1, min_width=270, elem_id="qa-k")
                with gr.Row(elem_id="qa-scope-row", equal_height=False):
                    scope = gr.Radio(scope_options(lang0), value="all", label=t(lang0, "scope"),
                                     elem_id="qa-scope", scale=0, min_width=300)
                    # its choices come from the index each time the scope or the tab is chosen
                    scope_value = gr.Dropdown([], value=None, label="", visible=False, interactive=True,
                                              elem_id="qa-scope-value", scale=1, min_width=280)
                result = gr.HTML(render_welcome(lang0), elem_id="qa-result")
            with gr.Tab(t(lang0, "tab_docs"), id="docs", elem_id="qa-tab-docs") as tab_docs:
                docs_table = gr.HTML(render_documents(lang0, engine), elem_id="qa-docs")
                with gr.Row(elem_id="qa-upload-row"):
                    upload = gr.File(label=t(lang0, "upload"), file_count="multiple", file_types=UPLOAD_TYPES,
                                     elem_id="qa-upload", scale=3)
                    add_btn = gr.Button(t(lang0, "add"), variant="primary", elem_id="qa-add", scale=1,
                                        min_width=160)
                upload_result = gr.HTML("", elem_id="qa-upload-result")

        ask_inputs = [question, k, scope, scope_value, lang]
        gr.on([question.submit, ask_btn.click], ask_ui, ask_inputs, [result, result_state],
              api_visibility="private", concurrency_id="ask") \
            .then(None, js=REVEAL_JS, api_visibility="private")
        examples.click(pick_example, examples, question, api_visibility="private", queue=False) \
            .then(ask_ui, ask_inputs, [result, result_state], api_visibility="private",
                  concurrency_id="ask") \
            .then(None, js=REVEAL_JS, api_visibility="private")
        lang.change(relabel, [lang, result_state, upload_state, scope, scope_value],
                    [header, tab_ask, tab_docs, question, ask_btn, k, examples, result, docs_table, upload,
                     add_btn, upload_result, scope, scope_value], api_visibility="private")
        # documents come and go in the Documents tab (and from the command line): the document and
        # city choices are read again whenever the scope changes, the Ask tab is opened or an add ends
        gr.on([scope.change, tab_ask.select], scope_picker, [scope, scope_value, lang], scope_value,
              api_visibility="private")
        tab_docs.select(lambda lg: render_documents(lg, engine), lang, docs_table, api_visibility="private")
        add_btn.click(add_documents, [upload, lang],
                      [upload_result, upload_state, docs_table, header, upload],
                      api_visibility="private", concurrency_limit=1, concurrency_id="ingest") \
            .then(scope_picker, [scope, scope_value, lang], scope_value, api_visibility="private")
        demo.load(None, None, lang, js=PICK_LANGUAGE_JS)

        gr.api(api_ask, api_name="ask", concurrency_id="ask")
        gr.api(api_retrieve, api_name="retrieve", concurrency_id="ask")

    demo.queue(default_concurrency_limit=4)
    return demo
