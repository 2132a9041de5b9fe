"""The web UI in a real browser: Debian's headless Chromium driven by Playwright.

The app runs in this process (``prevent_thread_lock=True``) over a private copy
of the corpus and a private index, so uploads never touch corpus/ or index/.
Screenshots go to tests/artifacts/ (gitignored).
"""
import os
import re
import shutil
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # app.py lives at the repo root

import app  # noqa: E402
from qa.pipeline import Engine  # noqa: E402
from qa.settings import Settings  # noqa: E402

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
GRANT_CYCLE = "how long is the average patent grant cycle?"
PLEDGE = "宁波2023年知识产权质押融资金额是多少？"
TIMEOUT = 90_000  # ms; a loaded CI box answers in seconds, but the first question may wait on the index


def find_chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chromium_path():
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium at /usr/bin/chromium (run `make chromium`, i.e. apt-get install chromium)")
    return path


def copy_live_generation(src: Path, dest: Path) -> bool:
    """Copy the live index generation of ``src`` into the empty index dir ``dest``."""
    try:
        gen = (src / "CURRENT").read_text(encoding="utf-8").strip()
        if not gen or not (src / gen / "manifest.json").is_file():
            return False
        shutil.copytree(src / gen, dest / gen)
        (dest / "CURRENT").write_text(gen + "\n", encoding="utf-8")
        return True
    except OSError:
        shutil.rmtree(dest, ignore_errors=True)
        return False


@pytest.fixture(scope="module")
def scratch_engine(encoder, request, tmp_path_factory):
    """An engine over a private copy of corpus/ and a private index, seeded from index/ when that is
    current, else from the session ``engine`` fixture's build (so nothing is embedded twice)."""
    tmp = tmp_path_factory.mktemp("browser")
    shutil.copytree(ROOT / "corpus", tmp / "corpus")
    settings = Settings.from_env(corpus_dir=tmp / "corpus", index_dir=tmp / "index")
    engine = Engine(settings, encoder=encoder)
    if not (copy_live_generation(ROOT / "index", tmp / "index") and not engine.is_stale(engine.store.manifest())):
        shutil.rmtree(tmp / "index", ignore_errors=True)
        copy_live_generation(Path(request.getfixturevalue("engine").settings.index_dir), tmp / "index")
    engine.warm_up()  # builds only if neither seed fits
    return engine


@pytest.fixture(scope="module")
def base_url(scratch_engine, chromium_path):
    demo = app.build_app(scratch_engine)
    port = free_port()
    _, url, _ = app.launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, base_url):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-US")
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT)
    pg.goto(base_url)
    pg.locator("#qa-question textarea").wait_for()
    yield pg
    context.close()


def shoot(page, name: str, full: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full)
    return path


def ask(page, question: str) -> None:
    box = page.locator("#qa-question textarea")
    box.fill("")
    if question:
        box.type(question)  # typed, like a person
    page.locator("#qa-ask").click()


def test_typed_question_shows_highlighted_answer_with_source(page, scratch_engine):
    from playwright.sync_api import expect

    ask(page, PLEDGE)
    mark = page.locator("#qa-answer-card mark#qa-answer-mark")
    expect(mark).to_have_text("394.11亿元", timeout=TIMEOUT)
    card = page.locator("#qa-answer-card")
    expect(card.locator("#qa-answer")).to_have_text("394.11亿元")
    expect(card).to_contain_text("ningbo-2023-ip-report.md")  # the file is cited
    expect(card).to_contain_text("宁波市2023年知识产权发展与保护状况")  # and the article title
    expect(card).to_contain_text("Confidence")
    passages = page.locator("ol.qa-passages > li")
    expect(passages).to_have_count(5)
    # each passage opens onto its surrounding text
    first = passages.first
    expect(first.locator("details .qa-context")).to_be_hidden()
    first.locator("details summary").click()
    expect(first.locator("details .qa-context")).to_be_visible()
    shoot(page, "answer-zh-question.png")


def test_example_question_answers_from_the_passages(page, scratch_engine):
    from playwright.sync_api import expect

    expected = scratch_engine.ask(GRANT_CYCLE, 5)
    ask(page, GRANT_CYCLE)
    # a confident answer, or the most relevant sentence with the best span marked lightly
    card = page.locator("#qa-answer-card, #qa-sentence-card, #qa-notfound")
    expect(card).to_be_visible(timeout=TIMEOUT)
    assert expected.status in ("answer", "sentence"), (expected.status, expected.reason)  # the documents say
    if expected.status == "answer":
        mark = page.locator("#qa-answer-card blockquote.qa-sentence mark#qa-answer-mark")
        expect(mark).to_have_text(expected.answer)
        expect(page.locator("#qa-answer")).to_have_text(expected.answer)
        expect(page.locator("#qa-sentence-card")).to_have_count(0)
        highlighted = expected.answer
    else:
        sentence_card = page.locator("#qa-sentence-card")
        expect(sentence_card).to_contain_text("Most relevant sentence")
        mark = sentence_card.locator("blockquote.qa-sentence mark.qa-weak#qa-weak-mark")
        expect(mark).to_have_text(expected.span)
        expect(sentence_card.locator("#qa-possible")).to_contain_text(
            f"Possible answer, not confident enough to state: {expected.span}")
        expect(sentence_card).to_contain_text(expected.passage.source)
        expect(sentence_card).to_contain_text("Confidence")
        # nothing states it as the answer
        expect(page.locator("#qa-answer-card")).to_have_count(0)
        expect(page.locator("#qa-answer-mark")).to_have_count(0)
        highlighted = expected.span
    sentence = mark.locator("xpath=ancestor::blockquote[1]").inner_text()
    assert mark.inner_text() == highlighted and highlighted in sentence, (highlighted, sentence)
    texts = page.locator("ol.qa-passages .qa-passage-text").all_inner_texts()
    assert any("75.5天" in x or "81天" in x for x in texts), texts
    shoot(page, "answer.png")


def test_clicking_an_example_asks_it(page):
    from playwright.sync_api import expect

    page.locator("#qa-examples").get_by_text(PLEDGE).click()
    expect(page.locator("#qa-question textarea")).to_have_value(PLEDGE)
    expect(page.locator("#qa-answer-mark")).to_have_text("394.11亿元", timeout=TIMEOUT)


def test_one_city_shows_only_that_citys_passages(page, scratch_engine):
    from playwright.sync_api import expect

    question = "知识产权质押融资金额是多少？"  # names no city: unfiltered, Ningbo's reports come first
    hangzhou = {d["name"] for d in app.list_docs(scratch_engine) if d.get("city") == "杭州"}
    assert hangzhou and {p.source for p in scratch_engine.retrieve(question, 5)} - hangzhou
    page.locator("#qa-scope").get_by_text("One city").click()
    picker = page.locator("#qa-scope-value")
    expect(picker).to_be_visible()
    picker.locator("input").click()
    page.get_by_role("option", name="杭州").click()
    expect(picker.locator("input")).to_have_value("杭州")
    ask(page, question)
    expect(page.locator("#qa-scope-note")).to_have_text("Searched in: 杭州", timeout=TIMEOUT)
    passages = page.locator("ol.qa-passages > li")
    expect(passages.first).to_be_visible()
    sources = passages.locator(".qa-src-file").all_inner_texts()
    assert sources and set(sources) <= hangzhou, sources
    shoot(page, "scope-city.png")
    # back to all documents: the note goes and other documents come back
    page.locator("#qa-scope").get_by_text("All documents").click()
    expect(picker).to_be_hidden()
    ask(page, question)
    expect(page.locator("#qa-scope-note")).to_have_count(0, timeout=TIMEOUT)
    expect(passages.first).to_be_visible()
    assert set(passages.locator(".qa-src-file").all_inner_texts()) - hangzhou


def test_bad_questions_show_a_clear_message_not_a_trace(page):
    from playwright.sync_api import expect

    ask(page, "")
    error = page.locator("#qa-error")
    expect(error).to_be_visible(timeout=TIMEOUT)
    expect(error).to_contain_text("The question is empty.")
    shoot(page, "empty-question.png", full=False)
    page.locator("#qa-question textarea").fill("专利" * 2500)  # 5,000 characters
    page.locator("#qa-ask").click()
    expect(error).to_contain_text("too long (5000 characters; the limit is 1000)", timeout=TIMEOUT)
    ask(page, "🙂🙂")
    expect(error).to_contain_text("no words to search for", timeout=TIMEOUT)
    assert "Traceback" not in page.content()


def test_not_found_is_honest_and_still_lists_passages(page):
    from playwright.sync_api import expect

    ask(page, "上海2023年专利授权量是多少？")
    card = page.locator("#qa-notfound")
    expect(card).to_contain_text("Not found in these documents", timeout=TIMEOUT)
    expect(card).to_contain_text("The documents say nothing about 上海.")  # the reason
    assert page.locator("ol.qa-passages > li").count() >= 1
    assert page.locator("#qa-answer-mark, #qa-weak-mark, #qa-sentence-card").count() == 0
    shoot(page, "not-found.png")
    # the reason is translated by its code when the interface switches language
    page.locator("#qa-lang").get_by_text("中文").click()
    expect(card).to_contain_text("这些文档中没有找到答案")
    expect(card.locator(".qa-nf-reason")).to_have_text("文档中没有提到 上海。")


def test_interface_switches_to_chinese_and_fits_a_phone(browser, base_url):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US",
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    try:
        page.goto(base_url)
        page.locator("#qa-lang").get_by_text("中文").click()
        expect(page.locator("#qa-ask")).to_have_text("提问")
        expect(page.locator("#qa-header h1")).to_have_text("知识产权报告问答")
        ask(page, PLEDGE)
        expect(page.locator("#qa-answer-mark")).to_have_text("394.11亿元", timeout=TIMEOUT)
        expect(page.locator("#qa-answer-card")).to_contain_text("出处")
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1] + 1, f"page scrolls sideways on a phone: {width}"
        expect(page.locator("#qa-answer-card")).to_be_in_viewport()  # scrolled to the answer
        page.wait_for_timeout(600)  # let the smooth scroll settle
        shoot(page, "answer-phone-zh.png", full=False)
        # switching back relabels the result that is already on screen
        page.locator("#qa-lang").get_by_text("English").click()
        expect(page.locator("#qa-answer-card")).to_contain_text("Source")
    finally:
        context.close()


def test_browser_language_picks_the_interface_language(browser, base_url):
    from playwright.sync_api import expect

    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    try:
        page.goto(base_url)
        expect(page.locator("#qa-ask")).to_have_text("提问")
    finally:
        context.close()


def test_documents_tab_lists_and_adds_documents(page, tmp_path):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Documents").click()
    table = page.locator("#qa-doc-table")
    expect(table).to_contain_text("ningbo-2023-ip-report.md")
    expect(table).to_contain_text("宁波")
    new = tmp_path / "shaoxing-note.txt"
    new.write_text("绍兴市知识产权工作简报\n\n2023年，绍兴市新增发明专利授权5678件，同比增长12%。\n", encoding="utf-8")
    bad = tmp_path / "empty.txt"
    bad.write_text("", encoding="utf-8")
    page.locator("#qa-upload input[type=file]").set_input_files([str(new), str(bad)])
    # Gradio's file list sets the extension apart once the upload is done ("shaoxing-note .txt")
    expect(page.locator("#qa-upload")).to_contain_text(re.compile(r"shaoxing-note\s*\.txt"))
    page.locator("#qa-add").click()
    result = page.locator("#qa-upload-result")
    expect(result).to_contain_text("1 of 2 file(s) added", timeout=TIMEOUT)
    expect(result.locator("li.qa-ok")).to_contain_text("shaoxing-note.txt")
    expect(result.locator("li.qa-bad")).to_contain_text("empty.txt")
    expect(table).to_contain_text("shaoxing-note.md")
    shoot(page, "documents.png")
    # the new document answers questions at once
    page.get_by_role("tab", name="Ask").click()
    ask(page, "绍兴市2023年新增发明专利授权多少件？")
    # confident or not, the new document's figure is what the page highlights
    expect(page.locator("#qa-answer-mark, #qa-weak-mark")).to_have_text("5678件", timeout=TIMEOUT)
