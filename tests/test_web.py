"""The web package without a server or a model: catalogues, templates, escaping, the CSS file."""
import json
import re
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
