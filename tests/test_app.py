"""The web app's API, end to end: ``python app.py`` in a subprocess, called with gradio_client.

The server gets a private index directory (a copy of the project's index/ when
that is up to date, else the session ``engine`` fixture's freshly built one),
so it never writes to index/ and never races another test over it.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # app.py lives at the repo root

import app  # noqa: E402
from qa.answer import REASONS, STATUSES, Answer  # noqa: E402
from qa.pipeline import Engine  # noqa: E402
from qa.retrieve import Passage  # noqa: E402
from qa.settings import Settings  # noqa: E402

GRANT_CYCLE = "how long is the average patent grant cycle?"
PLEDGE = "宁波2023年知识产权质押融资金额是多少？"
PCT = "How many PCT patent applications did Ningbo file in 2023?"
NOT_FOUND = "宁波1999年知识产权质押融资金额是多少？"
ANSWER_KEYS = {"question", "answer", "sentence", "passage", "passages", "confidence", "start", "end",
               "sentence_start", "sentence_end", "reason", "status", "span", "reason_code", "kind"}


def source_text(name: str) -> str:
    return (ROOT / "corpus" / name).read_text(encoding="utf-8")


def check_answer_dict(out: dict) -> str:
    """What every /ask result must satisfy, whatever its status; returns the status."""
    assert set(out) >= ANSWER_KEYS
    assert out["status"] in STATUSES
    assert 0 <= out["confidence"] <= 1
    if out["status"] == "answer":  # an exact span of the source file, inside its sentence
        assert out["answer"] and out["answer"] == out["span"]
        text = source_text(out["passage"]["source"])
        assert text[out["start"]:out["end"]] == out["answer"]
        assert text[out["sentence_start"]:out["sentence_end"]] == out["sentence"]
        assert out["answer"] in out["sentence"] and out["answer"] in out["passage"]["text"]
        assert out["reason_code"] == ""
    elif out["status"] == "sentence":  # no answer stated, but the evidence is there
        assert out["answer"] is None
        assert out["sentence"] and out["passage"] and out["sentence"] in out["passage"]["text"]
        text = source_text(out["passage"]["source"])
        assert text[out["sentence_start"]:out["sentence_end"]] == out["sentence"]
        if out["span"] is not None:
            assert text[out["start"]:out["end"]] == out["span"] and out["span"] in out["sentence"]
        assert out["reason_code"] == ""
    else:
        assert out["answer"] is None and out["sentence"] is None and out["span"] is None
        assert out["reason_code"] in REASONS and out["reason"]
    return out["status"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def private_index(encoder, request, dest: Path) -> Path:
    """An index dir the test may use: the project's live generation copied into
    ``dest`` when it matches the corpus and model, else the session engine's."""
    src = ROOT / "index"
    try:
        gen = (src / "CURRENT").read_text(encoding="utf-8").strip()
        if gen and (src / gen / "manifest.json").is_file():
            shutil.copytree(src / gen, dest / gen)
            (dest / "CURRENT").write_text(gen + "\n", encoding="utf-8")
            engine = Engine(Settings.from_env(index_dir=dest), encoder=encoder)
            if not engine.is_stale(engine.store.manifest()):
                return dest
    except OSError:  # no index/ yet, or it changed under us: build one instead
        pass
    return Path(request.getfixturevalue("engine").settings.index_dir)


@pytest.fixture(scope="module")
def server(encoder, request, tmp_path_factory):
    """``python app.py --port P`` on 127.0.0.1, with QA_PORT set to a different port
    (the flag must win). Yields the base URL."""
    tmp = tmp_path_factory.mktemp("app")
    index_dir = private_index(encoder, request, tmp / "index")
    port, env_port = free_port(), free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "QA_INDEX_DIR": str(index_dir), "QA_HOST": "127.0.0.1", "QA_PORT": str(env_port)}
    log = open(tmp / "server.log", "w+", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 240
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"app.py exited with {proc.returncode}:\n{log.read()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"app.py did not start within 240 s:\n{log.read()[-3000:]}")
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


# ---- through the API --------------------------------------------------------

def test_ask_endpoint_returns_the_answer_with_evidence(client):
    out = client.predict(PLEDGE, 5, api_name="/ask")
    assert check_answer_dict(out) == "answer"
    assert out["answer"] == "394.11亿元"
    assert out["answer"] in out["sentence"]
    assert out["passage"]["source"] == "ningbo-2023-ip-report.md"
    assert 0 < out["confidence"] <= 1
    assert len(out["passages"]) == 5 and [p["rank"] for p in out["passages"]] == [1, 2, 3, 4, 5]
    assert out["reason"] == ""


def test_ask_endpoint_grant_cycle_question(client):
    out = client.predict(GRANT_CYCLE, 5, api_name="/ask")
    status = check_answer_dict(out)
    assert out["question"] == GRANT_CYCLE
    assert any("75.5天" in p["text"] or "81天" in p["text"] for p in out["passages"])
    # the documents do say: whether or not it is confident, it points at the evidence
    assert status in ("answer", "sentence")
    assert out["span"] in ("75.5天", "81天")
    if status == "sentence":
        assert out["answer"] is None and out["sentence"] and out["passage"] and out["span"]


def test_retrieve_endpoint_returns_ranked_passages(client):
    out = client.predict(GRANT_CYCLE, 3, api_name="/retrieve")
    assert isinstance(out, list) and len(out) == 3
    assert set(out[0]) == {"text", "score", "rank", "source", "title", "section", "start", "end"}
    assert [p["rank"] for p in out] == [1, 2, 3]
    assert [p["score"] for p in out] == sorted((p["score"] for p in out), reverse=True)
    assert any("75.5天" in p["text"] or "81天" in p["text"] for p in out)


def test_ask_endpoint_filters_on_city_and_year(client):
    from gradio_client.exceptions import AppError

    # the pledge figure is Ningbo's: in Hangzhou's document alone it is not the answer
    out = client.predict(PLEDGE, 5, "", "杭州", "", api_name="/ask")
    check_answer_dict(out)
    assert out["passages"] and {p["source"] for p in out["passages"]} == {"hangzhou-ip-model-city.md"}
    assert out["answer"] != "394.11亿元"
    out = client.predict(PLEDGE, 5, "", "宁波", 2023, api_name="/ask")
    assert check_answer_dict(out) == "answer" and out["answer"] == "394.11亿元"
    assert {p["source"] for p in out["passages"]} == {"ningbo-2023-ip-report.md"}
    with pytest.raises(AppError, match="No indexed document matches city “上海”") as err:
        client.predict(PLEDGE, 5, "", "上海", "", api_name="/ask")
    assert "Traceback" not in str(err.value)


def test_not_found_is_an_answer_of_none_with_a_reason(client):
    out = client.predict(NOT_FOUND, 5, api_name="/ask")
    assert check_answer_dict(out) == "not_found"
    assert out["reason_code"] == "year_absent" and "1999" in out["reason"]
    assert out["passages"], "the closest passages are still returned"


@pytest.mark.parametrize("question, message", [
    ("", "empty"),
    ("专利" * 2500, "too long"),
    ("🙂🙂", "no words"),
])
def test_bad_questions_come_back_as_clear_errors(client, question, message):
    from gradio_client.exceptions import AppError

    for endpoint in ("/ask", "/retrieve"):
        with pytest.raises(AppError) as err:
            client.predict(question, 5, api_name=endpoint)
        assert message in str(err.value)
        assert "Traceback" not in str(err.value)


@pytest.mark.parametrize("k", [0, 21, 2.5, -1])
def test_bad_k_comes_back_as_a_clear_error(client, k):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="whole number from 1 to 20"):
        client.predict(GRANT_CYCLE, k, api_name="/ask")


def test_several_people_can_ask_at_once(client):
    # question -> (statuses allowed, the span the reader picks: the answer when confident)
    questions = {PLEDGE: ({"answer"}, "394.11亿元"), NOT_FOUND: ({"not_found"}, None),
                 PCT: ({"answer", "sentence"}, "648件")}
    jobs = [(q, client.submit(q, 5, api_name="/ask")) for q in list(questions) * 2]
    seen = {}
    for q, job in jobs:
        out = job.result(timeout=120)
        assert out["question"] == unicodedata.normalize("NFKC", q)  # the question as the library read it
        statuses, span = questions[q]
        assert check_answer_dict(out) in statuses
        assert out["span"] == span
        assert out == seen.setdefault(q, out)  # the same question gets the same result, concurrent or not


def test_only_the_two_named_endpoints_are_public(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert set(api["named_endpoints"]) == {"/ask", "/retrieve"}
    assert not api.get("unnamed_endpoints")


def test_the_page_is_served(server):
    import httpx

    page = httpx.get(server, timeout=30)
    assert page.status_code == 200
    assert "IP Reports Q&amp;A" in page.text or "IP Reports Q&A" in page.text


# ---- pieces that need no server -----------------------------------------------

def test_host_and_port_come_from_flags_then_env_then_defaults(monkeypatch):
    monkeypatch.delenv("QA_HOST", raising=False)
    monkeypatch.delenv("QA_PORT", raising=False)
    args = app.parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 7860)
    monkeypatch.setenv("QA_HOST", "0.0.0.0")
    monkeypatch.setenv("QA_PORT", "9001")
    args = app.parse_args([])
    assert (args.host, args.port) == ("0.0.0.0", 9001)
    args = app.parse_args(["--host", "127.0.0.2", "--port", "9002"])
    assert (args.host, args.port) == ("127.0.0.2", 9002)
    with pytest.raises(SystemExit):
        app.parse_args(["--port", "70000"])


def test_coerce_k():
    assert app.coerce_k(5) == 5 and app.coerce_k(5.0) == 5 and app.coerce_k("7") == 7
    for bad in (0, 21, 2.5, True, None, "five", float("nan")):
        with pytest.raises(ValueError):
            app.coerce_k(bad)


def _hostile_answer(status: str = "answer", **changes) -> tuple[Answer, dict]:
    doc = "---\ntitle: x\n---\n# <script>alert(1)</script>\n\n前文。金额为<b>394亿元</b>。后文。\n"
    s0 = doc.index("金额")
    a0 = doc.index("<b>394")
    a1 = a0 + len("<b>394亿元</b>")
    s1 = doc.index("。后文") + 1
    p = Passage(text=doc[s0:s1], score=0.9, rank=1, source="evil<img>.md", title="<i>T</i>",
                section="<u>S</u>", start=s0, end=s1)
    if status == "not_found":
        fields = dict(reason="The documents say nothing about <2019>.", reason_code="year_absent")
        fields.update(changes)
        return Answer("q", None, None, None, [p], **fields), {p.source: doc}
    fields = dict(confidence=0.8, start=a0, end=a1, sentence_start=s0, sentence_end=s1, status=status,
                  span=doc[a0:a1])
    fields.update(changes)
    shown = doc[a0:a1] if status == "answer" else None
    return Answer("q", shown, doc[s0:s1], p, [p], **fields), {p.source: doc}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_everything_from_documents_is_escaped(lang):
    answer, docs = _hostile_answer("answer")
    page = app.render_answer(answer, lang, docs)
    for raw in ("<script>", "<b>", "<i>", "<u>", "<img>"):
        assert raw not in page
    assert '<mark id="qa-answer-mark">&lt;b&gt;394亿元&lt;/b&gt;</mark>' in page
    assert '<div class="qa-answer" id="qa-answer">&lt;b&gt;394亿元&lt;/b&gt;</div>' in page
    assert "&lt;i&gt;T&lt;/i&gt;" in page and "evil&lt;img&gt;.md" in page
    assert "<details" in page and "title: x" not in page  # context stops at the front matter
    assert "qa-sentence-card" not in page and "qa-weak" not in page and "qa-notfound" not in page


@pytest.mark.parametrize("lang, title, possible", [
    ("en", "Most relevant sentence", "Possible answer, not confident enough to state:"),
    ("zh", "最相关的句子", "可能的答案（把握不足）："),
])
def test_a_span_that_is_not_confident_is_shown_only_in_its_sentence(lang, title, possible):
    answer, docs = _hostile_answer("sentence")
    page = app.render_answer(answer, lang, docs)
    for raw in ("<script>", "<b>", "<i>", "<u>", "<img>"):
        assert raw not in page
    assert 'id="qa-sentence-card"' in page and title in page
    assert ('<blockquote class="qa-sentence" id="qa-weak-sentence">金额为'
            '<mark class="qa-weak" id="qa-weak-mark">&lt;b&gt;394亿元&lt;/b&gt;</mark>。</blockquote>') in page
    assert f'{possible} <span class="qa-possible-span">&lt;b&gt;394亿元&lt;/b&gt;</span>' in page
    # no big answer, no answer mark: nothing on the page states it as the answer
    assert "qa-answer-card" not in page and 'id="qa-answer"' not in page and "qa-answer-mark" not in page
    assert "evil&lt;img&gt;.md" in page and "<details" in page
    assert 'role="meter"' in page and 'aria-valuenow="80"' in page
    assert "qa-conf-high" not in page  # 80% is not "high" for a span the library would not state
    # the card's context, the passage and the passage's context mark it lightly too
    assert page.count('<mark class="qa-weak">') == 3


def test_the_sentence_card_finds_the_span_when_the_offsets_are_off():
    answer, docs = _hostile_answer("sentence", start=None, end=None, sentence_start=3, sentence_end=1)
    page = app.render_answer(answer, "en", docs)
    assert ('金额为<mark class="qa-weak" id="qa-weak-mark">&lt;b&gt;394亿元&lt;/b&gt;</mark>。</blockquote>'
            in page)
    answer, docs = _hostile_answer("sentence", span=None, start=None, end=None, confidence=0.0)
    page = app.render_answer(answer, "en", docs)  # no span at all: the sentence alone, no guess
    assert 'id="qa-sentence-card"' in page and "金额为&lt;b&gt;394亿元&lt;/b&gt;。</blockquote>" in page
    assert "<mark" not in page and "Possible answer" not in page and 'role="meter"' not in page


def test_the_status_decides_the_card():
    answer, docs = _hostile_answer("answer")
    assert 'id="qa-answer-card"' in app.render_answer(answer, "en", docs)
    # an answer text the library did not mark as confident is never shown as the answer
    unsure, _ = _hostile_answer("sentence")
    unsure = Answer(**{**unsure.__dict__, "answer": unsure.span})
    page = app.render_answer(unsure, "en", docs)
    assert 'id="qa-sentence-card"' in page and "qa-answer-card" not in page
    assert 'id="qa-notfound"' in app.render_answer(_hostile_answer("not_found")[0], "en", docs)


def test_not_found_card_lists_the_closest_passages():
    answer, docs = _hostile_answer("not_found")
    page = app.render_answer(answer, "en", docs)
    assert "Not found in these documents" in page and "The documents say nothing about &lt;2019&gt;." in page
    assert page.count('<li class="qa-passage') == 1
    assert "<mark" not in page
    zh = app.render_answer(answer, "zh", docs)
    assert "这些文档中没有找到答案" in zh and "文档中没有提到 &lt;2019&gt;。" in zh


def test_every_reason_code_has_english_and_chinese_text():
    assert set(app.REASON_TEXT) >= set(REASONS)
    for code, template in REASONS.items():
        entry = app.REASON_TEXT[code]
        assert entry.get("en") and entry.get("zh"), code
        for text in entry.values():  # a placeholder exactly where the library's text has one
            assert ("{0}" in text) == ("{0}" in template), code


@pytest.mark.parametrize("code", sorted(REASONS))
def test_reasons_are_translated_by_code(code):
    reason = REASONS[code].format("2019")
    answer = Answer("q", None, None, None, [], reason=reason, reason_code=code)
    assert app.reason_text(answer, "en") == reason
    zh = app.reason_text(answer, "zh")
    assert zh == app.REASON_TEXT[code]["zh"].format("2019")
    assert not re.search(r"[A-Za-z]", zh), zh  # all Chinese
    assert ("2019" in zh) == ("{0}" in REASONS[code])


def test_reason_text_without_a_known_code():
    answer = Answer("q", None, None, None, [], reason="Some new reason.", reason_code="brand_new")
    assert app.reason_text(answer, "en") == "Some new reason."
    assert app.reason_text(answer, "zh") == app.TEXT["zh"]["not_found_reason"]
    answer = Answer("q", None, None, None, [], reason="", reason_code="")
    assert app.reason_text(answer, "en") == app.TEXT["en"]["not_found_reason"]
    # the places of place_absent come through whole, commas and all
    answer = Answer("q", None, None, None, [], reason=REASONS["place_absent"].format("上海, 北京"),
                    reason_code="place_absent")
    assert app.reason_text(answer, "zh") == "文档中没有提到 上海, 北京。"


def test_errors_are_translated_and_escaped():
    assert "The question is empty." in app.render_error("en", "The question is empty.")
    assert "问题为空" in app.render_error("zh", "The question is empty.")
    assert "问题太长（5000 个字符" in app.render_error(
        "zh", "The question is too long (5000 characters; the limit is 1000).")
    assert "&lt;x&gt;" in app.render_error("en", "<x>")
