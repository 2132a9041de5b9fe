"""The web package without a server or a model: catalogues, templates, escaping, the CSS file."""
import json
import re
import socket
import string
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # app.py lives at the repo root

from qa.answer import REASONS, Answer  # noqa: E402
from qa.retrieve import Passage, clean_question  # noqa: E402
from qa.web import i18n, marking, render  # noqa: E402

WEB = ROOT / "qa" / "web"
LANGS = i18n.LANGUAGES


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def passage(**changes) -> Passage:
    fields = dict(text="金额为<script>alert(1)</script>394亿元。", score=0.91, rank=1, source="a<img>.md",
                  title="<i>T</i>", section="", start=0, end=0)
    fields.update(changes)
    return Passage(**fields)


def doc_and_answer(status: str) -> tuple[Answer, dict[str, str]]:
    """An answer of ``status`` over a document full of markup."""
    doc = "---\ntitle: x\n---\n# <script>alert(1)</script>\n\n前文。金额为<b>394亿元</b>。后文。\n"
    s0, s1 = doc.index("金额"), doc.index("。后文") + 1
    a0 = doc.index("<b>394")
    a1 = a0 + len("<b>394亿元</b>")
    p = passage(text=doc[s0:s1], start=s0, end=s1, section="<u>S</u>")
    other = passage(rank=2, score=0.5)  # its offsets do not match any document: shown as quoted
    if status == "not_found":
        return Answer("<script>q</script>", None, None, None, [p, other], reason="The documents say nothing "
                      "about <2019>.", reason_code="year_absent"), {p.source: doc}
    return Answer("<script>q</script>", doc[a0:a1] if status == "answer" else None, doc[s0:s1], p, [p, other],
                  confidence=0.8, start=a0, end=a1, sentence_start=s0, sentence_end=s1, status=status,
                  span=doc[a0:a1]), {p.source: doc}


class FakeEngine:
    """Just enough of an Engine for the header and the Documents tab."""

    def __init__(self, docs):
        self.docs = docs


@pytest.fixture
def fake_docs(monkeypatch):
    docs = [{"name": "a<b>.md", "title": "<i>T</i>", "city": "宁波", "chunks": 3},
            {"name": "c.md", "title": "", "city": "", "chunks": 2}]
    monkeypatch.setattr(render, "list_docs", lambda engine: engine.docs)
    return FakeEngine(docs)


def every_page(lang: str, engine) -> list[str]:
    """Each template, in each of its branches, in ``lang``."""
    pages = []
    for status in ("answer", "sentence", "not_found"):
        answer, docs = doc_and_answer(status)
        pages.append(render.render_answer(answer, lang, docs))
        pages.append(render.render_answer(Answer(**{**answer.__dict__, "confidence": 0.2}), lang, docs))
    pages += [render.render_error(lang, "The question is too long (5000 characters; the limit is 1000)."),
              render.render_error(lang, "", internal=True), render.render_welcome(lang),
              render.render_result({"kind": "bad_k"}, lang, engine),
              render.render_header(lang, engine), render.render_documents(lang, engine),
              render.render_documents(lang, FakeEngine([]))]
    # a filtered answer says where it looked; each refused filter has its own words
    answer, docs = doc_and_answer("answer")
    pages.append(render.render_answer(answer, lang, docs, scope="宁波"))
    pages.append(render.render_result({"kind": "no_match", "where": {"doc": "a.md", "city": "宁波", "year": "2023"}},
                                      lang, engine))
    for key, params in (("filter.not_text", {"field": "city"}), ("filter.bad_chars", {"field": "doc"}),
                        ("filter.too_long", {"field": "year", "n": 300, "limit": 255}), ("filter.bad_year", {}),
                        ("filter.bad_scope", {}), ("filter.choose", {"field": "doc"})):
        pages.append(render.render_result({"kind": "bad_filter", "key": key, "params": params}, lang, engine))
    results = [{"name": "x.txt", "ok": True, "message": "3 passages"}, {"name": "y.txt", "ok": False, "message": "e"}]
    pages += [render.render_upload(state, lang) for state in (
        {"kind": "none"}, {"kind": "unavailable"}, {"kind": "failed", "message": "The question is empty."},
        {"kind": "internal"}, {"kind": "results", "results": results})]
    return pages


# ---- the catalogues ------------------------------------------------------------

def test_both_catalogues_have_exactly_the_same_keys_and_placeholders():
    raw = {lang: json.loads((WEB / "locales" / f"{lang}.json").read_text(encoding="utf-8")) for lang in LANGS}
    assert set(LANGS) == {"en", "zh"}
    assert set(raw["en"]) == set(raw["zh"])
    for key in raw["en"]:
        for lang in LANGS:
            assert isinstance(raw[lang][key], str) and raw[lang][key].strip(), (lang, key)
        assert placeholders(raw["en"][key]) == placeholders(raw["zh"][key]), key
    assert i18n.LANGS == [("English", "en"), ("中文", "zh")]


@pytest.mark.parametrize("code", sorted(REASONS))
def test_every_reason_code_has_both_languages(code):
    key = f"reason.{code}"
    for lang in LANGS:
        text = i18n.CATALOGUES[lang].get(key)
        assert text and text.strip(), (lang, code)
        assert placeholders(text) == placeholders(REASONS[code]), (lang, code)
    assert i18n.CATALOGUES["en"][key] == REASONS[code]  # the English page says what the library says
    assert not re.search(r"[A-Za-z]", i18n.CATALOGUES["zh"][key].replace("{0}", ""))


def test_every_known_library_message_is_translated():
    for question in ("", "专利" * 2500, "🙂🙂", 123):
        with pytest.raises(ValueError) as err:
            clean_question(question, 1000)
        message = str(err.value)
        assert i18n.translate_message(message, "en") == message
        zh = i18n.translate_message(message, "zh")
        assert zh != message and not re.search(r"[A-Za-z]", zh), (message, zh)
    assert i18n.translate_message("Something new.", "zh") == "Something new."
    for pattern, key in i18n.MESSAGES:  # the English entry is the library's sentence itself
        sample = i18n.t("en", key, *["42"] * re.compile(pattern).groups)
        assert re.fullmatch(pattern, sample), key


def used_keys() -> set[str]:
    """Every catalogue key the code and the templates name literally."""
    keys = set()
    for path in WEB.glob("*.py"):
        keys |= set(re.findall(r"\bt\(\s*\w+\s*,\s*\"([^\"]+)\"\s*[,)]", path.read_text(encoding="utf-8")))
    for path in (WEB / "templates").glob("*.j2"):
        keys |= set(re.findall(r"\bt\(\s*[\"']([^\"']+)[\"']\s*[,)]", path.read_text(encoding="utf-8")))
    return keys


def test_every_key_named_in_the_code_exists():
    keys = used_keys()
    assert {"answer", "tab_ask", "title", "not_found_hint"} <= keys  # the scan sees both kinds of file
    assert keys <= set(i18n.CATALOGUES["en"]), keys - set(i18n.CATALOGUES["en"])


@pytest.mark.parametrize("lang", LANGS)
def test_every_page_renders_with_no_missing_text(lang, fake_docs, monkeypatch):
    asked = set()

    class Recording(dict):
        def get(self, key, default=None):
            asked.add(key)
            return super().get(key, default)

    monkeypatch.setattr(i18n, "CATALOGUES", {k: Recording(v) for k, v in i18n.CATALOGUES.items()})
    for page in every_page(lang, fake_docs):
        assert "⟦" not in page and "{" not in page, page
    assert asked <= set(i18n.CATALOGUES["en"]), asked - set(i18n.CATALOGUES["en"])
    # no dead text: every key is shown somewhere (the switch, a reason, a message, a page, a label)
    dynamic = {"language.name"} | {k for k in i18n.CATALOGUES["en"] if k.startswith(("reason.", "message."))}
    unused = set(i18n.CATALOGUES["en"]) - asked - used_keys() - dynamic
    assert not unused, unused


def test_a_missing_key_is_marked_not_fatal():
    assert i18n.t("zh", "no_such_key") == i18n.missing("no_such_key")
    assert i18n.t("fr", "ask") == i18n.t("en", "ask")  # an unknown language falls back to English


# ---- escaping -------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("status", ["answer", "sentence", "not_found"])
def test_documents_and_questions_are_escaped_and_the_answer_is_marked(lang, status):
    answer, docs = doc_and_answer(status)
    page = render.render_answer(answer, lang, docs)
    for raw in ("<script", "<b>", "<i>", "<u>", "<img>", "<2019>"):
        assert raw not in page, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the second passage, quoted
    assert "&lt;i&gt;T&lt;/i&gt;" in page and "a&lt;img&gt;.md" in page
    if status == "answer":
        assert '<mark id="qa-answer-mark">&lt;b&gt;394亿元&lt;/b&gt;</mark>' in page
        assert page.count('<li class="qa-passage qa-passage-answer"') == 1
    elif status == "sentence":
        assert '<mark class="qa-weak" id="qa-weak-mark">&lt;b&gt;394亿元&lt;/b&gt;</mark>' in page
    else:
        assert "<mark" not in page and "&lt;2019&gt;" in page


def test_messages_and_upload_results_are_escaped():
    assert "&lt;script&gt;" in render.render_error("en", "<script>alert(1)</script>")
    page = render.render_upload({"kind": "results", "results": [
        {"name": "<script>.txt", "ok": False, "message": "<b>bad</b>"}]}, "en")
    assert "<script>" not in page and "<b>" not in page and "&lt;script&gt;.txt" in page
    page = render.render_upload({"kind": "failed", "message": "<script>"}, "zh")
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_marked_text_escapes_every_piece():
    text = "a<b>c&d</b>e"
    out = marking.marked(text, 0, len(text), [(1, 4, 'mark class="x"')])
    assert out == 'a<mark class="x">&lt;b&gt;</mark>c&amp;d&lt;/b&gt;e'


def test_templates_escape_by_default():
    assert render.ENV.autoescape is True
    assert render.ENV.from_string("{{ x }}").render(x="<script>") == "&lt;script&gt;"


# ---- serving ----------------------------------------------------------------------

def test_launch_passes_the_css_file(monkeypatch):
    import gradio as gr

    from qa.web import serve

    assert serve.CSS_PATH.is_file() and serve.CSS_PATH.suffix == ".css"
    assert serve.CSS_PATH.parent == WEB / "static"
    assert ".qa-answer" in serve.css() and "#qa-lang" in serve.css()
    seen = {}
    demo = gr.Blocks()
    monkeypatch.setattr(demo, "launch", lambda **kw: seen.update(kw))
    serve.launch(demo, "127.0.0.1", 7861)
    assert [Path(p) for p in seen["css_paths"]] == [serve.CSS_PATH]
    assert "css" not in seen
    assert (seen["server_name"], seen["server_port"]) == ("127.0.0.1", 7861)
    assert seen["theme"] is serve.THEME


def test_app_py_is_a_thin_entry_point():
    import app

    assert len((ROOT / "app.py").read_text(encoding="utf-8").splitlines()) <= 150
    for name in ("build_app", "launch", "parse_args", "main", "coerce_k", "render_answer", "render_error",
                 "reason_text", "REASON_TEXT", "TEXT", "CSS"):
        assert hasattr(app, name), name
    assert app.CSS == (WEB / "static" / "app.css").read_text(encoding="utf-8")
    for path in WEB.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, path


def test_package_data_is_declared():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data = project["tool"]["setuptools"]["package-data"]["qa.web"]
    assert {"templates/*", "locales/*.json", "static/*"} <= set(data)
    assert any(dep.lower().startswith("jinja2") for dep in project["project"]["dependencies"])


# ---- filters: "search in" on the page, doc / city / year on the API ------------------

HANGZHOU = "hangzhou-ip-model-city.md"
NINGBO_2023 = "ningbo-2023-ip-report.md"
GRANT = "发明专利授权量是多少？"


class Headers:
    """Just the part of gr.Request the API reads."""

    def __init__(self, accept_language):
        self.headers = {"accept-language": accept_language} if accept_language else {}


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """The app over the hashed-vector engine (no model), built once; the tests only read from it.
    Returns (demo, engine, handler-by-name)."""
    import shutil

    from fakes import HashEncoder

    from qa.pipeline import Engine
    from qa.settings import Settings
    from qa.web.ui import build_app

    tmp = tmp_path_factory.mktemp("web")
    shutil.copytree(ROOT / "corpus", tmp / "corpus")
    engine = Engine(Settings.from_env(corpus_dir=tmp / "corpus", index_dir=tmp / "index"), encoder=HashEncoder())
    engine.build(progress=False)
    demo = build_app(engine)
    fns = {}
    for block_fn in demo.fns.values():
        if block_fn.fn is not None:
            fns.setdefault(block_fn.name, block_fn.fn)
    return demo, engine, fns


def gr_error(call):
    import gradio as gr

    with pytest.raises(gr.Error) as err:
        call()
    message = err.value.message
    assert "Traceback" not in message and "File \"" not in message
    return message


def test_filter_values_are_stripped_capped_and_typed():
    from qa.web.inputs import FILTER_MAX_CHARS, BadFilter, coerce_where, scope_where

    assert coerce_where() == {} and coerce_where("", " ", None) == {}
    assert coerce_where(" a.md ", "\t宁波 ", " 2023 ") == {"doc": "a.md", "city": "宁波", "year": "2023"}
    assert coerce_where(year=2023) == {"year": "2023"}
    assert coerce_where(city="宁" * FILTER_MAX_CHARS) == {"city": "宁" * FILTER_MAX_CHARS}
    bad = [(dict(city=5), "filter.not_text"), (dict(doc=["a.md"]), "filter.not_text"),
           (dict(year=True), "filter.not_text"), (dict(year=2023.0), "filter.not_text"),
           (dict(city={"$ne": ""}), "filter.not_text"),
           (dict(doc="a" * (FILTER_MAX_CHARS + 1)), "filter.too_long"),
           (dict(city="宁波\x00"), "filter.bad_chars"), (dict(doc="a\nb.md"), "filter.bad_chars"),
           (dict(year="23"), "filter.bad_year"), (dict(year="２０２３"), "filter.bad_year"),
           (dict(year="2023 or 1=1"), "filter.bad_year")]
    for kwargs, key in bad:
        with pytest.raises(BadFilter) as err:
            coerce_where(**kwargs)
        assert err.value.key == key, kwargs
        assert isinstance(err.value, ValueError) and str(err.value) == i18n.filter_text(key, err.value.params, "en")
    assert scope_where("all", "宁波") == {} and scope_where(None, None) == {}
    assert scope_where("city", " 杭州 ") == {"city": "杭州"}
    assert scope_where("doc", HANGZHOU) == {"doc": HANGZHOU}
    for scope, value, key in (("city", None, "filter.choose"), ("doc", "  ", "filter.choose"),
                              ("year", "2023", "filter.bad_scope"), ("city", 7, "filter.not_text")):
        with pytest.raises(BadFilter) as err:
            scope_where(scope, value)
        assert err.value.key == key, (scope, value)


@pytest.mark.parametrize("lang", LANGS)
def test_filter_messages_name_the_field_in_the_users_language(lang):
    text = i18n.filter_text("filter.too_long", {"field": "city", "n": 300, "limit": 255}, lang)
    assert "300" in text and "255" in text and "⟦" not in text
    assert ("城市" in text) == (lang == "zh") and ("city" in text) == (lang == "en")
    where = i18n.where_text({"city": "宁波", "year": "2023"}, lang)
    assert "宁波" in where and "2023" in where
    assert where == ("city “宁波”, year “2023”" if lang == "en" else "城市“宁波”，年份“2023”")


def test_the_api_language_comes_from_accept_language():
    from qa.web.ui import api_lang

    assert i18n.request_lang(None) == i18n.request_lang("") == "en"
    assert i18n.request_lang("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert i18n.request_lang("fr-FR, en;q=0.5, zh;q=0.7") == "zh"  # by weight, not by order
    assert i18n.request_lang("zh;q=0, en") == "en"  # q=0 refuses a language
    assert i18n.request_lang("de, fr") == "en" and i18n.request_lang("zh;q=abc") == "en"
    assert api_lang(None) == "en" and api_lang(Headers("zh-TW")) == "zh" and api_lang(object()) == "en"


def test_all_documents_asks_exactly_as_before(web):
    _, engine, fn = web
    html, state = fn["ask_ui"](GRANT, 5, "all", None, "en")
    assert state["kind"] == "answer" and state["where"] == {}
    assert state["answer"].to_dict() == engine.ask(GRANT, 5).to_dict()
    assert "qa-scope-note" not in html and "Searched in" not in html
    # the scope's dropdown value is ignored while the scope is "all"
    assert fn["ask_ui"](GRANT, 5, "all", "杭州", "en")[1]["answer"].to_dict() == state["answer"].to_dict()


@pytest.mark.parametrize("lang, note", [("en", "Searched in: 杭州"), ("zh", "仅在：杭州")])
def test_one_city_searches_only_its_documents_and_says_so(web, lang, note):
    _, engine, fn = web
    html, state = fn["ask_ui"](GRANT, 5, "city", "杭州", lang)
    assert state["kind"] == "answer" and state["where"] == {"city": "杭州"}
    sources = {p.source for p in state["answer"].passages}
    assert sources == {HANGZHOU}
    assert {p.source for p in engine.ask(GRANT, 5).passages} != sources  # unfiltered, other documents come up
    assert f'<p class="qa-scope-note" id="qa-scope-note">{note}</p>' in html


def test_one_document_is_named_by_its_title(web):
    _, engine, fn = web
    title = next(d["title"] for d in render.list_docs(engine) if d["name"] == NINGBO_2023)
    html, state = fn["ask_ui"](GRANT, 3, "doc", NINGBO_2023, "en")
    assert {p.source for p in state["answer"].passages} == {NINGBO_2023}
    assert "Searched in: " + title in html.replace("&#34;", '"')


@pytest.mark.parametrize("lang", LANGS)
def test_bad_scopes_are_plain_messages_in_the_page(web, lang):
    _, _, fn = web
    cases = [(("city", "上海"), {"en": "No indexed document matches city “上海”.",
                                 "zh": "没有已索引的文档符合城市“上海”。"}),
             (("doc", None), {"en": "Choose a document to search in.", "zh": "请选择要搜索的文档。"}),
             (("city", "宁" * 300), {"en": "The city filter is too long (300 characters; the limit is 255).",
                                     "zh": "城市筛选条件太长（300 个字符，上限为 255 个）。"}),
             (("year", "2023"), {"en": i18n.t("en", "filter.bad_scope"), "zh": i18n.t("zh", "filter.bad_scope")})]
    for (scope, value), expected in cases:
        html, state = fn["ask_ui"](GRANT, 5, scope, value, lang)
        assert state["kind"] in ("no_match", "bad_filter"), state
        assert 'id="qa-error"' in html and expected[lang] in html, (scope, html)
        assert i18n.t(lang, "filter_title") in html and "Traceback" not in html
        # switching language re-says the same refusal
        other = "zh" if lang == "en" else "en"
        assert expected[other] in render.render_result(state, other, web[1])
    # a question the library refuses is still a question error, filter or not
    html, state = fn["ask_ui"]("", 5, "city", "杭州", lang)
    assert state["kind"] == "error" and i18n.t(lang, "error_title") in html


def test_the_scope_dropdown_lists_documents_by_title_and_the_cities(web):
    _, engine, fn = web
    docs = render.list_docs(engine)
    pick = fn["scope_picker"]
    up = pick("doc", None, "en")
    assert up["visible"] is True and up["label"] == "Document"
    assert up["choices"] == [(d["title"], d["name"]) for d in docs] and up["value"] == docs[0]["name"]
    assert pick("doc", NINGBO_2023, "zh")["value"] == NINGBO_2023  # a choice still there stays chosen
    up = pick("city", NINGBO_2023, "zh")
    assert up["choices"] == [("宁波", "宁波"), ("杭州", "杭州")]  # each city once, in a stable order
    assert up["value"] in ("宁波", "杭州") and up["label"] == "城市"
    assert pick("all", "杭州", "en")["visible"] is False


def test_a_language_switch_relabels_the_scope_and_keeps_the_choice(web):
    _, _, fn = web
    *_, scope, picker = fn["relabel"]("zh", None, None, "city", "杭州")
    assert scope["label"] == "搜索范围"
    assert scope["choices"] == [("全部文档", "all"), ("某一文档", "doc"), ("某一城市", "city")]
    assert picker["label"] == "城市" and picker["value"] == "杭州" and picker["visible"] is True
    *_, scope, picker = fn["relabel"]("en", None, None, "all", None)
    assert scope["choices"][0] == ("All documents", "all") and picker["visible"] is False


def test_documents_of_one_title_are_told_apart(monkeypatch):
    docs = [{"name": "a.md", "title": "报告", "city": "宁波"},
            {"name": "b.md", "title": "报告", "city": "宁波 "},
            {"name": "c.md", "title": "", "city": ""}]
    monkeypatch.setattr(render, "list_docs", lambda engine: docs)
    assert render.scope_choices("doc", None) == [("报告 (a.md)", "a.md"), ("报告 (b.md)", "b.md"), ("c.md", "c.md")]
    assert render.scope_choices("city", None) == [("宁波", "宁波")]
    assert render.scope_choices("all", None) == []
    monkeypatch.setattr(render, "list_docs", lambda engine: 1 / 0)
    assert render.scope_choices("city", None) == []  # a broken listing is an empty list, not a broken page
    assert render.scope_label({"doc": "a.md"}, None) == "a.md"


def test_the_choices_follow_the_documents(fake_engine, tmp_path):
    from qa.web.ui import build_app

    demo = build_app(fake_engine)
    fns = {f.name: f for f in demo.fns.values() if f.fn is not None}
    pick = fns["scope_picker"].fn
    assert HANGZHOU in {v for _, v in pick("doc", None, "en")["choices"]}
    (Path(fake_engine.settings.corpus_dir) / HANGZHOU).unlink()  # a document goes
    assert HANGZHOU not in {v for _, v in pick("doc", HANGZHOU, "en")["choices"]}
    assert "杭州" not in {v for _, v in pick("city", "杭州", "en")["choices"]}
    # and the dropdown is read again on each of the events that follow a change of documents
    events = set()
    for f in demo.fns.values():
        if f.name == "scope_picker":
            for block_id, event in f.targets:
                events.add((getattr(demo.blocks.get(block_id), "elem_id", None), event))
    assert {("qa-scope", "change"), ("qa-tab-ask", "select")} <= events, events
    add = next(f for f in demo.fns.values() if f.name == "add_documents")
    assert any(f.name == "scope_picker" and f.trigger_after == add._id for f in demo.fns.values())


def test_the_api_without_filters_is_unchanged(web):
    _, engine, fn = web
    assert fn["api_ask"](GRANT, 5) == json.loads(json.dumps(engine.ask(GRANT, 5).to_dict(), ensure_ascii=False,
                                                            default=float))
    assert [p["source"] for p in fn["api_retrieve"](GRANT, 5)] == [p.source for p in engine.retrieve(GRANT, 5)]
    assert fn["api_retrieve"](GRANT, 4, "", "", "") == fn["api_retrieve"](GRANT, 4)


def test_the_api_filters_on_doc_city_and_year(web):
    _, _, fn = web
    assert {p["source"] for p in fn["api_retrieve"](GRANT, 5, "", "杭州", "")} == {HANGZHOU}
    assert {p["source"] for p in fn["api_retrieve"](GRANT, 5, "", "", 2023)} == {NINGBO_2023}
    assert {p["source"] for p in fn["api_retrieve"](GRANT, 5, "", " 宁波 ", "2023")} == {NINGBO_2023}
    out = fn["api_ask"](GRANT, 5, NINGBO_2023, "", "")
    assert {p["source"] for p in out["passages"]} == {NINGBO_2023}
    assert out["passage"] is None or out["passage"]["source"] == NINGBO_2023


@pytest.mark.parametrize("endpoint", ["api_ask", "api_retrieve"])
def test_bad_api_filters_are_clear_errors_in_the_callers_language(web, endpoint):
    call = web[2][endpoint]
    cases = [(("", "上海", ""), "No indexed document matches city “上海”.",
              "没有已索引的文档符合城市“上海”。"),
             ((NINGBO_2023, "杭州", ""), "No indexed document matches document “ningbo-2023-ip-report.md”, "
              "city “杭州”.",
              "没有已索引的文档符合文档“ningbo-2023-ip-report.md”，城市“杭州”。"),
             (("", 5, ""), "The city filter must be text.", "城市筛选条件必须是文字。"),
             (("x" * 256, "", ""), "The document filter is too long (256 characters; the limit is 255).",
              "文档筛选条件太长（256 个字符，上限为 255 个）。"),
             (("", "", "1999年"), "The year filter must be a four-digit year such as 2023.",
              "年份筛选条件必须是四位数的年份，例如 2023。")]
    for args, en, zh in cases:
        assert gr_error(lambda: call(GRANT, 5, *args)) == en
        assert gr_error(lambda: call(GRANT, 5, *args, request=Headers("en-US"))) == en
        assert gr_error(lambda: call(GRANT, 5, *args, request=Headers("zh-CN,zh;q=0.9"))) == zh
    # the other refusals speak the caller's language too; English stays the library's own words
    assert gr_error(lambda: call("", 5, "", "杭州", "")) == "The question is empty."
    assert gr_error(lambda: call("", 5, request=Headers("zh"))) == "问题为空。"
    assert "1 to 20" in gr_error(lambda: call(GRANT, 0, "", "杭州", ""))
    assert gr_error(lambda: call(GRANT, 0, request=Headers("zh"))) == i18n.t("zh", "bad_k", lo=1, hi=20)


def test_gradio_client_calls_with_and_without_filters(web):
    """The served app: positional calls of two values still work, five filter."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from qa.web.serve import launch

    demo, engine, _ = web
    with socket.socket() as s:  # a free port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _, url, _ = launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        plain = client.predict(GRANT, 5, api_name="/retrieve")
        assert [p["source"] for p in plain] == [p.source for p in engine.retrieve(GRANT, 5)]
        out = client.predict(GRANT, 5, "", "宁波", "", api_name="/ask")
        assert out["passages"] and {p["source"] for p in out["passages"]} <= {NINGBO_2023, "ningbo-ip-complex.md"}
        with pytest.raises(AppError, match="No indexed document matches city “上海”"):
            client.predict(GRANT, 5, "", "上海", "", api_name="/retrieve")
        params = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/ask"]["parameters"]
        assert [p["parameter_name"] for p in params] == ["question", "k", "doc", "city", "year"]
        assert [p["parameter_default"] for p in params[1:]] == [5, "", "", ""]
        # raw HTTP: values left out are the endpoint's defaults, and a missing question is refused clearly
        for data, want in (([GRANT], 5), ([GRANT, 3], 3), ([GRANT, 3, "", "宁波"], 3)):
            got = _raw_call(url, "retrieve", data)
            assert got[0] == "complete" and len(got[1][0]) == want, (data, got)
        assert _raw_call(url, "ask", []) == ("error", "The question must be text.")
    finally:
        demo.close()


def _raw_call(url: str, endpoint: str, data: list) -> tuple[str, object]:
    """(event, payload) of a plain two-step HTTP call, as curl would make it."""
    import httpx

    base = url.rstrip("/") + f"/gradio_api/call/{endpoint}"
    event_id = httpx.post(base, json={"data": data}, timeout=30).json()["event_id"]
    lines = httpx.get(f"{base}/{event_id}", timeout=60).text.splitlines()
    event = next(ln.split(": ", 1)[1] for ln in lines if ln.startswith("event: "))
    payload = json.loads(next(ln.split(": ", 1)[1] for ln in lines if ln.startswith("data: ")))
    return event, payload.get("error") if isinstance(payload, dict) else payload
