"""Web UI and HTTP API for the IP-report question answering system.

    python app.py [--host 127.0.0.1] [--port 7860]

Host and port come from ``--host/--port``, else ``QA_HOST/QA_PORT``, else
127.0.0.1:7860. One process-wide :class:`qa.Engine` is warmed up before the
server starts, so the first question is as fast as the rest.

This module is a thin layer over the public ``qa`` API: it renders
``Engine.ask`` / ``Engine.retrieve`` results as HTML and forwards uploads to
``qa.ingest``. Two named API endpoints are callable with ``gradio_client``::

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/")
    client.predict("宁波2023年知识产权质押融资金额是多少？", 5, api_name="/ask")       # Answer.to_dict()
    client.predict("how long is the average patent grant cycle?", 5, api_name="/retrieve")  # [Passage.to_dict()]

Tests and other programs mount the UI with ``build_app(engine)`` and start it
with ``launch(demo, ...)`` (which adds the page's CSS and theme).
"""
# No ``from __future__ import annotations``: gr.api reads the endpoint
# functions' type hints at run time.
import argparse
import html
import json
import logging
import math
import re
import sys
from pathlib import Path
from typing import Any

import gradio as gr

import qa
from qa import Answer, Engine, InvalidQuestion, Passage, QAError, Settings

try:  # the ingestion module is optional: without it the Documents tab only lists
    from qa import ingest
except ImportError:  # pragma: no cover - depends on the checkout
    ingest = None

logger = logging.getLogger("qa.app")

K_MIN, K_MAX, K_DEFAULT = 1, 20, 5
CONTEXT_CHARS = 300  # characters of document text shown either side of a passage
UPLOAD_TYPES = [".txt", ".md", ".pdf", ".docx", ".html", ".htm"]
EXAMPLES = [
    "how long is the average patent grant cycle?",
    "宁波2023年知识产权质押融资金额是多少？",
    "How many PCT patent applications did Ningbo file in 2023?",
    "杭州市知识产权保护工作考核排名第几？",
    "When was Hangzhou selected as a national IP model city?",
    "宁波知识产权保护中心2023年累计接收多少案件？",
]
LANGS = [("English", "en"), ("中文", "zh")]

# ---- interface text -----------------------------------------------------------

TEXT = {
    "en": {
        "title": "IP Reports Q&amp;A",
        "tagline": "Ask about the Chinese intellectual-property reports in this collection, in Chinese "
                   "or English. Every answer is quoted word for word from a document, with its source.",
        "stats": "{docs} documents · {chunks} passages indexed",
        "tab_ask": "Ask", "tab_docs": "Documents",
        "question": "Your question", "placeholder": "e.g. how long is the average patent grant cycle?",
        "ask": "Ask", "examples": "Try an example",
        "k": "Passages to show", "k_info": "How many supporting passages to list (1–20)",
        "welcome_title": "Ask a question to get started",
        "welcome_body": "Type a question above or pick an example. You get the exact answer, highlighted "
                        "in the sentence it comes from (or, when the system is not sure enough, the most "
                        "relevant sentence), plus the passages it was found in.",
        "answer": "Answer", "confidence": "Confidence",
        "sentence_kicker": "Most relevant sentence",
        "possible": "Possible answer, not confident enough to state:",
        "sentence_hint": "This sentence may not answer the question exactly: check it against the source.",
        "conf_high": "high", "conf_medium": "medium", "conf_low": "low: check the source",
        "source": "Source", "file": "file", "no_section": "(no section)",
        "in_context": "Show in context", "passages": "Supporting passages",
        "passages_nf": "Closest passages", "score": "score", "rank": "#{n}",
        "not_found_kicker": "No answer",
        "not_found": "Not found in these documents",
        "not_found_reason": "The documents don't answer this question.",
        "not_found_hint": "The closest passages are listed below; they may still help.",
        "error_title": "Please check your question",
        "error_hint": "Type a question in Chinese or English, or pick an example.",
        "oops_title": "Something went wrong",
        "oops": "The question could not be answered because of a problem on our side. "
                "Please try again; if it keeps happening, tell the site's maintainers.",
        "bad_k": "Passages to show must be a whole number from {lo} to {hi}.",
        "docs_title": "Indexed documents",
        "docs_intro": "Answers come only from these documents. Add your own below: "
                      ".txt, .md, .pdf, .docx or .html.",
        "col_title": "Title", "col_file": "File", "col_city": "City", "col_chunks": "Passages",
        "docs_total": "Total", "docs_empty": "No documents are indexed yet.",
        "upload": "Add documents", "add": "Add to the index",
        "upload_none": "Choose one or more files first.",
        "upload_unavailable": "Adding documents is not available in this installation (qa.ingest is missing).",
        "upload_ok": "Added", "upload_fail": "Not added",
        "upload_summary": "{ok} of {n} file(s) added.",
        "upload_failed_all": "Indexing failed, so nothing was added: {msg}",
        "chunks": "{n} passages",
    },
    "zh": {
        "title": "知识产权报告问答",
        "tagline": "就本库中的中国知识产权报告提问，中文或英文均可。每个答案都逐字摘自原文，并注明出处。",
        "stats": "已索引 {docs} 篇文档 · {chunks} 个段落",
        "tab_ask": "提问", "tab_docs": "文档",
        "question": "您的问题", "placeholder": "例如：宁波2023年知识产权质押融资金额是多少？",
        "ask": "提问", "examples": "试试这些例子",
        "k": "显示段落数", "k_info": "列出多少个相关段落（1–20）",
        "welcome_title": "输入问题即可开始",
        "welcome_body": "在上方输入问题或点击例子。系统会给出原文中的准确答案（在所在句子中高亮；把握不足时给出最相关的句子），"
                        "并列出答案出处的段落。",
        "answer": "答案", "confidence": "置信度",
        "sentence_kicker": "最相关的句子",
        "possible": "可能的答案（把握不足）：",
        "sentence_hint": "这个句子未必确切回答了问题，请对照原文核实。",
        "conf_high": "高", "conf_medium": "中", "conf_low": "低，请核对原文",
        "source": "出处", "file": "文件", "no_section": "（无章节）",
        "in_context": "查看上下文", "passages": "相关段落",
        "passages_nf": "最接近的段落", "score": "相关度", "rank": "#{n}",
        "not_found_kicker": "未找到答案",
        "not_found": "这些文档中没有找到答案",
        "not_found_reason": "文档中没有回答这个问题的内容。",
        "not_found_hint": "下面列出了最接近的段落，或许仍有帮助。",
        "error_title": "请检查您的问题",
        "error_hint": "请用中文或英文输入问题，或点击一个例子。",
        "oops_title": "出错了",
        "oops": "由于系统内部问题，暂时无法回答。请稍后重试；如果问题持续出现，请联系网站维护人员。",
        "bad_k": "显示段落数必须是 {lo} 到 {hi} 之间的整数。",
        "docs_title": "已索引的文档",
        "docs_intro": "答案只来自这些文档。可以在下方添加自己的文件：.txt、.md、.pdf、.docx 或 .html。",
        "col_title": "标题", "col_file": "文件", "col_city": "城市", "col_chunks": "段落数",
        "docs_total": "合计", "docs_empty": "尚未索引任何文档。",
        "upload": "添加文档", "add": "加入索引",
        "upload_none": "请先选择一个或多个文件。",
        "upload_unavailable": "此安装不支持添加文档（缺少 qa.ingest）。",
        "upload_ok": "已添加", "upload_fail": "未添加",
        "upload_summary": "共 {n} 个文件，已添加 {ok} 个。",
        "upload_failed_all": "建立索引失败，未添加任何文件：{msg}",
        "chunks": "{n} 个段落",
    },
}

# Why the documents cannot answer, by ``Answer.reason_code`` (the codes of ``qa.answer.REASONS``).
# "{0}" is the year or place the question names, taken from the English ``Answer.reason``.
REASON_TEXT = {
    "year_absent": {"en": "The documents say nothing about {0}.", "zh": "文档中没有提到 {0}。"},
    "year_not_in_passages": {"en": "The passages that could answer say nothing about {0}.",
                             "zh": "可能回答这个问题的段落中没有提到 {0}。"},
    "place_absent": {"en": "The documents say nothing about {0}.", "zh": "文档中没有提到 {0}。"},
    "no_key_words": {"en": "The question's key words do not appear in these documents.",
                     "zh": "问题中的关键词没有出现在这些文档中。"},
    "not_close": {"en": "No passage is close enough to the question.", "zh": "没有与问题足够接近的段落。"},
    "unsupported": {"en": "The best passages do not say this.", "zh": "最相关的段落中没有提到这一点。"},
}

# Error messages (InvalidQuestion and other QAError texts) are English; these patterns give the
# Chinese interface its own wording. Abstention reasons are translated by code (REASON_TEXT).
_ZH_MESSAGES = [
    (r"The question is empty\.", "问题为空。"),
    (r"The question must be text\.", "问题必须是文字。"),
    (r"The question is too long \((\d+) characters; the limit is (\d+)\)\.", r"问题太长（\1 个字符，上限为 \2 个）。"),
    (r"The question has no words to search for\.", "问题中没有可以搜索的文字。"),
]


def t(lang: str, key: str, **kw) -> str:
    table = TEXT.get(lang, TEXT["en"])
    s = table.get(key, TEXT["en"][key])
    return s.format(**kw) if kw else s


def translate_message(message: str, lang: str) -> str:
    """A library message in the interface language (unknown ones stay as they are)."""
    if lang == "zh":
        for pattern, zh in _ZH_MESSAGES:
            if re.fullmatch(pattern, message.strip()):
                return re.sub(pattern, zh, message.strip())
    return message


def _reason_value(reason: str) -> str | None:
    """The year or place in an English reason such as "The documents say nothing about 1999."."""
    m = re.search(r"\babout (.+?)\.?\s*$", reason or "")
    return m.group(1).strip() if m and m.group(1).strip() else None


def reason_text(answer: Answer, lang: str) -> str:
    """Why ``answer`` is not an answer, in the interface language (translated by ``reason_code``)."""
    reason = (answer.reason or "").strip()
    entry = REASON_TEXT.get(answer.reason_code or "")
    if entry is None:  # no code, or one this page does not know yet
        if lang == "en" and reason:
            return reason
        return t(lang, "not_found_reason")
    if lang == "en" and reason:
        return reason
    template = entry.get(lang, entry["en"])
    if "{0}" in template:
        value = _reason_value(reason)
        return template.format(value) if value else t(lang, "not_found_reason")
    return template


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


# ---- input checks ---------------------------------------------------------------

def coerce_k(k: Any) -> int:
    """k as an int in [K_MIN, K_MAX], or ValueError with a readable message."""
    if isinstance(k, str) and re.fullmatch(r"\s*\d+\s*", k):
        k = int(k)
    if isinstance(k, float) and math.isfinite(k) and k.is_integer():
        k = int(k)
    if isinstance(k, bool) or not isinstance(k, int) or not K_MIN <= k <= K_MAX:
        raise ValueError(f"k must be a whole number from {K_MIN} to {K_MAX}.")
    return k


def _jsonable(value):
    """Plain JSON types all the way down (numpy scalars become Python numbers)."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=_json_default))


def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


# ---- document text ------------------------------------------------------------

def _docs(engine: Engine) -> dict[str, str]:
    try:
        return engine.index().extras.get("docs", {}) or {}
    except Exception:  # the page can still show passages without their surroundings
        logger.exception("could not load document texts")
        return {}


def _body_start(text: str) -> int:
    """Where a corpus file's body starts (after its YAML front matter)."""
    if not text.startswith("---\n"):
        return 0
    end = text.find("\n---\n", 4)
    return end + 5 if end >= 0 else 0


def _marked(text: str, lo: int, hi: int, spans: list[tuple[int, int, str]]) -> str:
    """Escaped ``text[lo:hi]`` with ``spans`` (absolute start, end, html tag with class)
    wrapped around the parts that fall inside. Spans must not overlap partially."""
    cuts = {lo, hi}
    for a, b, _ in spans:
        cuts.update(x for x in (a, b) if lo < x < hi)
    points = sorted(cuts)
    out = []
    for a, b in zip(points, points[1:]):
        piece = esc(text[a:b])
        for sa, sb, tag in sorted(spans, key=lambda s: s[0] - s[1]):  # wider spans outside
            if sa <= a and b <= sb and sa < sb:
                name = tag.split()[0]
                piece = f"<{tag}>{piece}</{name}>"
        out.append(piece)
    return "".join(out)


def answer_status(answer: Answer) -> str:
    """``answer.status``, made safe to render: "answer" needs the answer text and
    "sentence" a sentence or a span; anything else is shown as not found."""
    status = getattr(answer, "status", "not_found")
    if status == "answer" and answer.answer:
        return "answer"
    if status in ("answer", "sentence") and (answer.sentence or answer.span):
        return "sentence"
    return "not_found"


def _highlight(answer: Answer) -> tuple[str, str, str] | None:
    """(text, tag for the card's mark, tag for the passages' marks) of the span the page
    highlights: the answer when confident, the reader's best span (subtly) when not."""
    if answer is None:
        return None
    status = answer_status(answer)
    if status == "answer":
        return answer.answer, 'mark id="qa-answer-mark"', "mark"
    if status == "sentence" and answer.span:
        return answer.span, 'mark class="qa-weak" id="qa-weak-mark"', 'mark class="qa-weak"'
    return None


def _answer_span_in(answer: Answer, source: str, lo: int, hi: int, text: str) -> tuple[int, int] | None:
    """Absolute offsets of the highlighted span when it lies inside ``text[lo:hi]`` of ``source``."""
    hl = _highlight(answer)
    if hl is None or answer.passage is None:
        return None
    if answer.passage.source != source or answer.start is None or answer.end is None:
        return None
    if lo <= answer.start and answer.end <= hi and text[answer.start:answer.end] == hl[0]:
        return answer.start, answer.end
    return None


def _context_html(text: str, start: int, end: int, spans: list[tuple[int, int, str]]) -> str:
    """±CONTEXT_CHARS of the document around [start, end), the passage itself set off."""
    body = _body_start(text)
    lo = max(body, start - CONTEXT_CHARS)
    hi = min(len(text), end + CONTEXT_CHARS)
    inner = _marked(text, lo, hi, [(start, end, 'span class="qa-ctx-hit"'), *spans])
    inner = _tidy(re.sub(r"(?m)^#{1,6} ", "", inner))  # markdown heading marks read as noise
    return ("…" if lo > body else "") + inner.strip() + ("…" if hi < len(text) else "")


# ---- rendering ---------------------------------------------------------------------

def _source_html(lang: str, title: str, section: str, source: str) -> str:
    """Article title on one line; section and file name under it."""
    section_html = esc(section) if section else f'<span class="qa-muted">{t(lang, "no_section")}</span>'
    return (f'<div class="qa-src"><div class="qa-src-title">{esc(title)}</div>'
            f'<div class="qa-src-meta"><span class="qa-src-section">{section_html}</span>'
            f'<code class="qa-src-file">{esc(source)}</code></div></div>')


def _tidy(fragment: str) -> str:
    """Blank lines between paragraphs become single line breaks (the text is pre-wrapped)."""
    return re.sub(r"\n[ \t\u3000]*(?:\n[ \t\u3000]*)+", "\n", fragment).strip("\n")


def _confidence_html(lang: str, confidence: float, confident: bool = True) -> str:
    """The confidence bar; a span the library would not state is never labelled "high"."""
    c = max(0.0, min(1.0, float(confidence or 0.0)))
    level = "high" if c >= 0.7 and confident else "medium" if c >= 0.45 else "low"
    return (f'<div class="qa-conf qa-conf-{level}">'
            f'<span class="qa-conf-label">{t(lang, "confidence")}</span>'
            f'<span class="qa-meter" role="meter" aria-valuemin="0" aria-valuemax="100" '
            f'aria-valuenow="{round(c * 100)}"><span style="width:{c * 100:.0f}%"></span></span>'
            f'<span class="qa-conf-value">{c * 100:.0f}% · {t(lang, "conf_" + level)}</span></div>')


def _passages_html(lang: str, answer: Answer, passages: list[Passage], docs: dict[str, str],
                   heading_key: str) -> str:
    if not passages:
        return ""
    items = []
    hl = _highlight(answer)
    tag = hl[2] if hl else "mark"
    for p in passages:
        text = docs.get(p.source, "")
        exact = bool(text) and text[p.start:p.end] == p.text
        span = _answer_span_in(answer, p.source, p.start, p.end, text) if exact else None
        if exact:
            body = _marked(text, p.start, p.end, [(span[0], span[1], tag)] if span else [])
        else:
            body = esc(p.text)
        body = _tidy(body)
        details = ""
        if text:
            ctx_spans = [(span[0], span[1], tag)] if span else []
            details = (f'<details class="qa-details"><summary>{t(lang, "in_context")}</summary>'
                       f'<div class="qa-context">{_context_html(text, p.start, p.end, ctx_spans)}</div>'
                       f'</details>')
        cls = "qa-passage qa-passage-answer" if span else "qa-passage"
        items.append(
            f'<li class="{cls}" data-rank="{p.rank}">'
            f'<div class="qa-passage-head"><span class="qa-rank">{esc(t(lang, "rank", n=p.rank))}</span>'
            f'{_source_html(lang, p.title, p.section, p.source)}'
            f'<span class="qa-score">{esc(t(lang, "score"))} {float(p.score):.3f}</span></div>'
            f'<div class="qa-passage-text">{body}</div>{details}</li>')
    return (f'<h3 class="qa-h3">{t(lang, heading_key)} <span class="qa-count">{len(passages)}</span></h3>'
            f'<ol class="qa-passages">{"".join(items)}</ol>')


def _sentence_html(answer: Answer, text: str, hl: tuple[str, str, str] | None) -> str:
    """The sentence, escaped, with the highlighted span marked: from the document by the
    offsets when they agree with it, else by finding the span in the quoted sentence."""
    s0, s1, a0, a1 = answer.sentence_start, answer.sentence_end, answer.start, answer.end
    sentence_ok = bool(text) and None not in (s0, s1) and 0 <= s0 <= s1 <= len(text) \
        and (not answer.sentence or text[s0:s1] == answer.sentence)
    if hl is None:
        return _marked(text, s0, s1, []) if sentence_ok else esc(answer.sentence or "")
    span, tag, _ = hl
    if sentence_ok and None not in (a0, a1) and s0 <= a0 <= a1 <= s1 and text[a0:a1] == span:
        return _marked(text, s0, s1, [(a0, a1, tag)])
    # offsets unusable: find the span in the sentence the library quoted
    name = tag.split()[0]
    sent = answer.sentence or span
    i = sent.find(span)
    if i >= 0:
        return esc(sent[:i]) + f"<{tag}>{esc(span)}</{name}>" + esc(sent[i + len(span):])
    if answer_status(answer) == "answer":  # the answer is shown whatever the sentence says
        return f"<{tag}>{esc(span)}</{name}>"
    return esc(sent)  # a weak span that is not in its sentence is not worth showing


def _card_context(lang: str, answer: Answer, text: str, hl: tuple[str, str, str] | None) -> str:
    s0, s1, a0, a1 = answer.sentence_start, answer.sentence_end, answer.start, answer.end
    if not text or s0 is None or s1 is None:
        return ""
    spans = [(a0, a1, hl[2])] if (hl and None not in (a0, a1) and s0 <= a0 <= a1 <= s1
                                  and text[a0:a1] == hl[0]) else []
    return (f'<details class="qa-details"><summary>{t(lang, "in_context")}</summary>'
            f'<div class="qa-context">{_context_html(text, s0, s1, spans)}</div></details>')


def render_answer(answer: Answer, lang: str, docs: dict[str, str]) -> str:
    """One card by ``answer.status``, followed by the ranked passages: the answer card
    (confident span), the most-relevant-sentence card (not confident), or the honest
    not-found card with its reason."""
    status = answer_status(answer)
    if status == "not_found":
        reason = reason_text(answer, lang)
        card = (f'<section class="qa-card qa-notfound" id="qa-notfound">'
                f'<div class="qa-kicker">{t(lang, "not_found_kicker")}</div>'
                f'<div class="qa-nf-title">{t(lang, "not_found")}</div>'
                f'<p class="qa-nf-reason">{esc(reason)}</p>'
                f'<p class="qa-muted">{t(lang, "not_found_hint")}</p></section>')
        return f'<div class="qa-result">{card}{_passages_html(lang, answer, answer.passages, docs, "passages_nf")}</div>'

    p = answer.passage
    text = docs.get(p.source, "") if p else ""
    hl = _highlight(answer)
    sentence = _sentence_html(answer, text, hl)
    context = _card_context(lang, answer, text, hl)
    source = (f'<div class="qa-source"><div class="qa-source-label">{t(lang, "source")}</div>'
              f'{_source_html(lang, p.title, p.section, p.source)}</div>') if p else ""
    if status == "answer":
        card = (f'<section class="qa-card qa-answer-card" id="qa-answer-card">'
                f'<div class="qa-kicker">{t(lang, "answer")}</div>'
                f'<div class="qa-answer" id="qa-answer">{esc(answer.answer)}</div>'
                f'<blockquote class="qa-sentence">{sentence}</blockquote>'
                f'{source}{_confidence_html(lang, answer.confidence)}{context}</section>')
        heading = "passages"
    else:
        possible = (f'<p class="qa-possible" id="qa-possible">{t(lang, "possible")} '
                    f'<span class="qa-possible-span">{esc(answer.span)}</span></p>') if answer.span else ""
        conf = _confidence_html(lang, answer.confidence, confident=False) if answer.span else ""
        card = (f'<section class="qa-card qa-sentence-card" id="qa-sentence-card">'
                f'<div class="qa-kicker">{t(lang, "sentence_kicker")}</div>'
                f'<blockquote class="qa-sentence" id="qa-weak-sentence">{sentence}</blockquote>'
                f'{possible}<p class="qa-muted qa-sentence-hint">{t(lang, "sentence_hint")}</p>'
                f'{source}{conf}{context}</section>')
        heading = "passages_nf"
    return f'<div class="qa-result">{card}{_passages_html(lang, answer, answer.passages, docs, heading)}</div>'


def render_error(lang: str, message: str, *, internal: bool = False) -> str:
    if internal:
        return (f'<div class="qa-result"><section class="qa-card qa-error" id="qa-error" role="alert">'
                f'<div class="qa-nf-title">{t(lang, "oops_title")}</div><p>{t(lang, "oops")}</p>'
                f'</section></div>')
    return (f'<div class="qa-result"><section class="qa-card qa-error" id="qa-error" role="alert">'
            f'<div class="qa-nf-title">{t(lang, "error_title")}</div>'
            f'<p class="qa-error-message">{esc(translate_message(message, lang))}</p>'
            f'<p class="qa-muted">{t(lang, "error_hint")}</p></section></div>')


def render_welcome(lang: str) -> str:
    return (f'<div class="qa-result"><section class="qa-card qa-welcome">'
            f'<div class="qa-nf-title">{t(lang, "welcome_title")}</div>'
            f'<p class="qa-muted">{t(lang, "welcome_body")}</p></section></div>')


def render_result(state: dict | None, lang: str, engine: Engine) -> str:
    if not state:
        return render_welcome(lang)
    if state.get("kind") == "answer":
        return render_answer(state["answer"], lang, _docs(engine))
    if state.get("kind") == "bad_k":
        return render_error(lang, t(lang, "bad_k", lo=K_MIN, hi=K_MAX))
    return render_error(lang, state.get("message", ""), internal=state.get("kind") == "internal")


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


def render_header(lang: str, engine: Engine) -> str:
    try:
        docs = list_docs(engine)
        stats = t(lang, "stats", docs=len(docs), chunks=sum(int(d.get("chunks") or 0) for d in docs))
    except Exception:
        logger.exception("could not list documents")
        stats = ""
    chip = f'<span class="qa-stats">{esc(stats)}</span>' if stats else ""
    return (f'<header class="qa-header"><h1>{t(lang, "title")}</h1>'
            f'<p class="qa-tagline">{t(lang, "tagline")}</p>{chip}</header>')


def render_documents(lang: str, engine: Engine) -> str:
    try:
        docs = list_docs(engine)
    except Exception:
        logger.exception("could not list documents")
        return render_error(lang, "", internal=True)
    head = (f'<h3 class="qa-h3">{t(lang, "docs_title")} <span class="qa-count">{len(docs)}</span></h3>'
            f'<p class="qa-muted">{t(lang, "docs_intro")}</p>')
    if not docs:
        return f'<div class="qa-docs">{head}<p>{t(lang, "docs_empty")}</p></div>'
    rows = "".join(
        f'<tr><td data-label="{t(lang, "col_title")}">{esc(d.get("title") or d.get("name"))}</td>'
        f'<td data-label="{t(lang, "col_file")}"><code>{esc(d.get("name", ""))}</code></td>'
        f'<td data-label="{t(lang, "col_city")}">{esc(d.get("city") or "–")}</td>'
        f'<td data-label="{t(lang, "col_chunks")}" class="qa-num">{esc(d.get("chunks", ""))}</td></tr>'
        for d in docs)
    total = sum(int(d.get("chunks") or 0) for d in docs)
    return (f'<div class="qa-docs">{head}<div class="qa-table-wrap"><table class="qa-table" id="qa-doc-table">'
            f'<thead><tr><th>{t(lang, "col_title")}</th><th>{t(lang, "col_file")}</th>'
            f'<th>{t(lang, "col_city")}</th><th class="qa-num">{t(lang, "col_chunks")}</th></tr></thead>'
            f'<tbody>{rows}</tbody><tfoot><tr><td colspan="3">{t(lang, "docs_total")}</td>'
            f'<td class="qa-num">{total}</td></tr></tfoot></table></div></div>')


def render_upload(state: dict | None, lang: str) -> str:
    if not state:
        return ""
    kind = state.get("kind")
    if kind in ("none", "unavailable"):
        key = "upload_none" if kind == "none" else "upload_unavailable"
        return f'<div class="qa-upload-result"><p class="qa-upload-note">{t(lang, key)}</p></div>'
    if kind == "failed":
        msg = esc(translate_message(state.get("message", ""), lang))
        return (f'<div class="qa-upload-result"><p class="qa-upload-note qa-bad">'
                f'{t(lang, "upload_failed_all", msg=msg)}</p></div>')
    if kind == "internal":
        return f'<div class="qa-upload-result">{render_error(lang, "", internal=True)}</div>'
    results = state.get("results", [])
    ok = sum(1 for r in results if r["ok"])
    items = "".join(
        f'<li class="{"qa-ok" if r["ok"] else "qa-bad"}">'
        f'<span class="qa-status">{"✓" if r["ok"] else "✗"} {t(lang, "upload_ok" if r["ok"] else "upload_fail")}</span>'
        f'<code>{esc(r["name"])}</code><span class="qa-upload-msg">{esc(r["message"])}</span></li>'
        for r in results)
    return (f'<div class="qa-upload-result"><p class="qa-upload-note">'
            f'{t(lang, "upload_summary", ok=ok, n=len(results))}</p><ul class="qa-upload-list">{items}</ul></div>')


# ---- the app -------------------------------------------------------------------

def build_app(engine: Engine) -> gr.Blocks:
    """The Gradio app over ``engine`` (queued; start it with :func:`launch`)."""

    # -- handlers behind the page --

    def ask_ui(question, k, lang):
        try:
            k = coerce_k(k)
        except ValueError:
            state = {"kind": "bad_k"}
            return render_result(state, lang, engine), state
        try:
            state = {"kind": "answer", "answer": engine.ask(question, k)}
        except InvalidQuestion as exc:
            state = {"kind": "error", "message": str(exc)}
        except QAError as exc:
            logger.warning("could not answer %r: %s", question, exc)
            state = {"kind": "error", "message": str(exc)}
        except Exception:
            logger.exception("error answering %r", question)
            state = {"kind": "internal"}
        return render_result(state, lang, engine), state

    def pick_example(sample):
        return sample[0] if isinstance(sample, (list, tuple)) else sample

    def relabel(lang, result_state, upload_state):
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

    def api_ask(question: str, k: int = K_DEFAULT) -> dict:
        """Answer a question (Chinese or English) from the indexed documents.

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
        try:
            return _jsonable(engine.ask(question, coerce_k(k)).to_dict())
        except (QAError, ValueError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception:
            logger.exception("API ask failed for %r", question)
            raise gr.Error("The question could not be answered because of a server error.") from None

    def api_retrieve(question: str, k: int = K_DEFAULT) -> list[dict]:
        """The k passages (1-20) that best answer a question, best first, as Passage.to_dict()."""
        try:
            return _jsonable([p.to_dict() for p in engine.retrieve(question, coerce_k(k))])
        except (QAError, ValueError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception:
            logger.exception("API retrieve failed for %r", question)
            raise gr.Error("The passages could not be retrieved because of a server error.") from None

    lang0 = "en"
    with gr.Blocks(title="IP Reports Q&A · 知识产权报告问答", analytics_enabled=False) as demo:
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
                result = gr.HTML(render_welcome(lang0), elem_id="qa-result")
            with gr.Tab(t(lang0, "tab_docs"), id="docs", elem_id="qa-tab-docs") as tab_docs:
                docs_table = gr.HTML(render_documents(lang0, engine), elem_id="qa-docs")
                with gr.Row(elem_id="qa-upload-row"):
                    upload = gr.File(label=t(lang0, "upload"), file_count="multiple", file_types=UPLOAD_TYPES,
                                     elem_id="qa-upload", scale=3)
                    add_btn = gr.Button(t(lang0, "add"), variant="primary", elem_id="qa-add", scale=1,
                                        min_width=160)
                upload_result = gr.HTML("", elem_id="qa-upload-result")

        # on a phone the answer is below the fold: bring it into view once it is there
        reveal = """() => { if (window.innerWidth < 700) {
            document.getElementById('qa-result')?.scrollIntoView({behavior: 'smooth', block: 'start'}); } }"""
        gr.on([question.submit, ask_btn.click], ask_ui, [question, k, lang], [result, result_state],
              api_visibility="private", concurrency_id="ask") \
            .then(None, js=reveal, api_visibility="private")
        examples.click(pick_example, examples, question, api_visibility="private", queue=False) \
            .then(ask_ui, [question, k, lang], [result, result_state], api_visibility="private",
                  concurrency_id="ask") \
            .then(None, js=reveal, api_visibility="private")
        lang.change(relabel, [lang, result_state, upload_state],
                    [header, tab_ask, tab_docs, question, ask_btn, k, examples, result, docs_table, upload,
                     add_btn, upload_result], api_visibility="private")
        tab_docs.select(lambda lg: render_documents(lg, engine), lang, docs_table, api_visibility="private")
        add_btn.click(add_documents, [upload, lang],
                      [upload_result, upload_state, docs_table, header, upload],
                      api_visibility="private", concurrency_limit=1, concurrency_id="ingest")
        # the interface speaks the browser's language (or ?lang=zh / ?lang=en)
        demo.load(None, None, lang, js="""() => {
            const q = new URLSearchParams(window.location.search).get('lang');
            if (q === 'zh' || q === 'en') return q;
            return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
        }""")

        gr.api(api_ask, api_name="ask", concurrency_id="ask")
        gr.api(api_retrieve, api_name="retrieve", concurrency_id="ask")

    demo.queue(default_concurrency_limit=4)
    return demo


# ---- look ----------------------------------------------------------------------

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

CSS = """
.gradio-container { max-width: 980px !important; margin: 0 auto !important; }

/* header and the language switch */
/* wrap-reverse: on a phone the switch sits above the title, not squeezed beside it */
#qa-top { flex-wrap: wrap-reverse !important; align-items: flex-end !important; gap: 8px 16px; }
#qa-header { flex: 1 1 440px !important; min-width: min(440px, 100%) !important; }
#qa-lang { flex: 0 0 auto !important; margin-left: auto; min-width: 0 !important; }
.qa-header h1 { font-size: 1.9rem; font-weight: 750; margin: 6px 0 4px; letter-spacing: -0.01em; }
.qa-tagline { margin: 0 0 8px; color: var(--body-text-color-subdued); font-size: 1rem; max-width: 62ch; }
.qa-stats { display: inline-block; font-size: .8rem; padding: 2px 10px; border-radius: 999px;
  background: var(--background-fill-secondary); color: var(--body-text-color-subdued);
  border: 1px solid var(--border-color-primary); }
#qa-lang { background: transparent !important; border: none !important; padding: 0 !important; }
#qa-lang .wrap { flex-wrap: nowrap; gap: 0; justify-content: flex-end; }
#qa-lang label { margin: 0 !important; padding: 5px 14px !important; border-radius: 0 !important;
  border: 1px solid var(--border-color-primary) !important; box-shadow: none !important;
  background: var(--background-fill-primary) !important; color: var(--body-text-color) !important; }
#qa-lang label:first-child { border-radius: 999px 0 0 999px !important; }
#qa-lang label:last-child { border-radius: 0 999px 999px 0 !important; border-left: none !important; }
#qa-lang label.selected { background: var(--color-accent) !important; color: white !important;
  border-color: var(--color-accent) !important; }
#qa-lang input[type=radio] { position: absolute; opacity: 0; width: 1px; height: 1px; pointer-events: none; }

/* the question */
#qa-askrow { align-items: flex-end !important; gap: 10px; }
#qa-question textarea { font-size: 1.1rem !important; }
#qa-ask { font-size: 1.05rem; min-height: 46px; }
#qa-options { align-items: flex-start; gap: 12px; }
#qa-examples .gallery { gap: 6px; }
#qa-examples .gallery-item { text-align: left; border-radius: 14px; }
#qa-examples .gallery-item > span > div { padding: 2px 6px; }

/* results */
.qa-result { display: flex; flex-direction: column; gap: 14px; }
.qa-card { border-radius: 14px; padding: 18px 22px; border: 1px solid var(--border-color-primary);
  background: var(--background-fill-primary); box-shadow: 0 1px 3px rgba(15,23,42,.06); }
.qa-kicker, .qa-source-label { text-transform: uppercase; letter-spacing: .08em; font-size: .72rem;
  font-weight: 700; color: #4f46e5; }
.qa-answer-card { border-left: 6px solid #4f46e5; }
.qa-answer { font-size: 2.2rem; font-weight: 780; line-height: 1.2; margin: 4px 0 12px;
  color: var(--body-text-color); word-break: break-word; }
.qa-sentence { margin: 0 0 14px; padding: 10px 14px; border-left: 3px solid #c7d2fe !important;
  background: var(--background-fill-secondary); border-radius: 0 8px 8px 0; font-size: 1.05rem;
  line-height: 1.75; font-style: normal; }
.qa-result mark { background: #fde68a; color: #111827; padding: 1px 3px; border-radius: 3px; font-weight: 650; }
/* not confident: the most relevant sentence, its best span marked lightly */
.qa-sentence-card { border-left: 6px solid #94a3b8; }
.qa-sentence-card .qa-kicker { color: #475569; }
.qa-result mark.qa-weak { background: rgba(253,230,138,.35); color: inherit; font-weight: inherit; padding: 0 1px;
  border-radius: 0; border-bottom: 2px dotted #d97706; }
.qa-possible { margin: 0 0 4px; font-size: .95rem; }
.qa-possible-span { font-weight: 650; }
.qa-sentence-hint { margin: 0 0 12px; font-size: .88rem; }
.dark .qa-sentence-card .qa-kicker { color: #cbd5e1; }
.qa-source { margin-bottom: 12px; }
.qa-source-label { color: var(--body-text-color-subdued); margin-bottom: 2px; }
.qa-src { min-width: 0; }
.qa-src-title { font-weight: 650; line-height: 1.45; }
.qa-src-meta { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 10px; font-size: .86rem;
  color: var(--body-text-color-subdued); margin-top: 2px; }
.qa-src-file, .qa-table code, .qa-upload-list code { font-size: .8rem; padding: 1px 6px; border-radius: 5px;
  background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary);
  color: var(--body-text-color-subdued); word-break: break-all; }
.qa-muted { color: var(--body-text-color-subdued); }
.qa-conf { display: flex; align-items: center; gap: 10px; font-size: .88rem; flex-wrap: wrap; }
.qa-conf-label { font-weight: 700; }
.qa-meter { display: inline-block; width: 140px; height: 8px; border-radius: 999px; overflow: hidden;
  background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary); }
.qa-meter > span { display: block; height: 100%; background: #16a34a; }
.qa-conf-medium .qa-meter > span { background: #d97706; }
.qa-conf-low .qa-meter > span { background: #dc2626; }
.qa-notfound { border-left: 6px solid #d97706; }
.qa-notfound .qa-kicker { color: #b45309; }
.qa-nf-title { font-size: 1.35rem; font-weight: 700; margin: 4px 0 6px; }
.qa-nf-reason { font-size: 1.02rem; margin: 0 0 4px; }
.qa-error { border-left: 6px solid #dc2626; }
.qa-error .qa-nf-title { color: #b91c1c; }
.qa-error-message { font-size: 1.05rem; margin: 0 0 4px; }
.qa-welcome { border-style: dashed; background: transparent; box-shadow: none; }
.qa-h3 { font-size: 1.05rem; font-weight: 700; margin: 6px 0 0; display: flex; align-items: center; gap: 8px; }
.qa-count { font-size: .75rem; font-weight: 600; padding: 1px 8px; border-radius: 999px;
  background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary); }
.qa-passages { list-style: none; margin: 0 !important; padding: 0 !important; display: flex;
  flex-direction: column; gap: 10px; }
.qa-passage { border: 1px solid var(--border-color-primary); border-radius: 12px; padding: 12px 16px;
  background: var(--background-fill-primary); margin: 0 !important; }
.qa-passage-answer { border-color: #a5b4fc; box-shadow: 0 0 0 1px #c7d2fe inset; }
.qa-passage-head { display: flex; align-items: flex-start; gap: 10px; font-size: .9rem; margin-bottom: 8px; }
.qa-passage-head .qa-src { flex: 1 1 auto; }
.qa-rank { font-weight: 800; color: #4f46e5; min-width: 1.9em; line-height: 1.45; }
.qa-score { font-variant-numeric: tabular-nums; color: var(--body-text-color-subdued); white-space: nowrap;
  font-size: .8rem; line-height: 1.6; }
.qa-passage-text { white-space: pre-wrap; line-height: 1.75; font-size: .98rem; }
.qa-details { margin-top: 8px; font-size: .9rem; }
.qa-details summary { cursor: pointer; color: #4f46e5; font-weight: 600; width: fit-content; }
.qa-context { white-space: pre-wrap; line-height: 1.75; margin-top: 8px; padding: 10px 12px; border-radius: 8px;
  background: var(--background-fill-secondary); color: var(--body-text-color-subdued); max-height: 22rem;
  overflow: auto; }
.qa-ctx-hit { color: var(--body-text-color); background: rgba(99,102,241,.12); border-radius: 3px; }

/* documents */
.qa-docs .qa-h3 { margin-top: 4px; }
.qa-table-wrap { overflow-x: auto; }
.qa-table { width: 100%; border-collapse: collapse !important; font-size: .93rem; margin-top: 8px;
  border: none !important; }
.qa-table tr, .qa-table thead, .qa-table tbody, .qa-table tfoot { border: none !important; }
.qa-table th, .qa-table td { text-align: left; padding: 9px 10px !important; border: none !important;
  border-bottom: 1px solid var(--border-color-primary) !important; background: transparent !important; }
/* long unbroken titles and names wrap inside their cell instead of widening the table */
.qa-table th, .qa-table td { overflow-wrap: anywhere; word-break: break-word; min-width: 0; }
.qa-table th { font-size: .75rem; text-transform: uppercase; letter-spacing: .05em;
  color: var(--body-text-color-subdued); }
.qa-table tfoot td { font-weight: 700; border-bottom: none !important; }
.qa-num { text-align: right !important; font-variant-numeric: tabular-nums; }
.qa-upload-list { list-style: none; padding: 0 !important; margin: 6px 0 0; display: flex;
  flex-direction: column; gap: 6px; }
.qa-upload-list li { display: flex; flex-wrap: wrap; gap: 4px 10px; align-items: baseline; padding: 8px 12px;
  margin: 0 !important; border-radius: 8px; border: 1px solid var(--border-color-primary); }
.qa-ok .qa-status { color: #15803d; font-weight: 700; }
.qa-bad .qa-status, .qa-upload-note.qa-bad { color: #b91c1c; font-weight: 700; }
.qa-upload-msg { color: var(--body-text-color-subdued); }
#qa-upload-row { align-items: center !important; }
#qa-upload { border: 2px dashed var(--border-color-primary) !important; border-radius: 12px !important; }

.dark .qa-kicker, .dark .qa-rank, .dark .qa-details summary { color: #a5b4fc; }
.dark .qa-passage-answer { border-color: #6366f1; box-shadow: none; }
.dark .qa-sentence { border-left-color: #6366f1 !important; }

@media (max-width: 640px) {
  .qa-header h1 { font-size: 1.5rem; }
  .qa-tagline { font-size: .95rem; }
  .qa-answer { font-size: 1.7rem; }
  .qa-card { padding: 14px 14px; }
  .qa-answer-card { border-left-width: 5px; }
  .qa-passage { padding: 10px 12px; }
  .qa-passage-head { flex-wrap: wrap; gap: 4px 8px; }
  .qa-passage-head .qa-src { order: 3; flex-basis: 100%; }
  .qa-score { margin-left: auto; }
  #qa-ask { width: 100%; }
  .qa-table thead { display: none; }
  .qa-table tr { display: block; border-bottom: 1px solid var(--border-color-primary); padding: 6px 0; }
  .qa-table td { display: flex; justify-content: space-between; gap: 12px; border: none !important;
    padding: 3px 4px !important; text-align: right; }
  .qa-table td::before { content: attr(data-label); font-weight: 600; color: var(--body-text-color-subdued);
    text-align: left; }
  .qa-table tfoot td:first-child::before { content: none; }
}
"""


UPLOAD_CACHE_CLEANUP = (1800, 3600)  # every 30 minutes, delete uploads older than an hour


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
                   theme=THEME, css=CSS, max_file_size=int(settings.max_file_mb * 1024 * 1024))
    options.update(kwargs)
    return demo.launch(**options)


# ---- command line --------------------------------------------------------------

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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
