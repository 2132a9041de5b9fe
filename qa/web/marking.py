"""Document text as safe HTML fragments, with the answer (or best span) marked.

Every piece of document text is escaped here; the only markup added is the
``<mark>``/``<span>`` tags named by this module's callers. The results are
:class:`markupsafe.Markup`, so the templates insert them as they are.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

if TYPE_CHECKING:
    from qa.answer import Answer

CONTEXT_CHARS = 300  # characters of document text shown either side of a passage

Span = tuple[int, int, str]  # absolute start, end, and the tag with its attributes


def body_start(text: str) -> int:
    """Where a corpus file's body starts (after its YAML front matter)."""
    if not text.startswith("---\n"):
        return 0
    end = text.find("\n---\n", 4)
    return end + 5 if end >= 0 else 0


def tidy(fragment: str) -> str:
    """Blank lines between paragraphs become single line breaks (the text is pre-wrapped)."""
    return re.sub(r"\n[ \t\u3000]*(?:\n[ \t\u3000]*)+", "\n", fragment).strip("\n")


def _wrap(tag: str, inner: str) -> str:
    return f"<{tag}>{inner}</{tag.split()[0]}>"


def marked(text: str, lo: int, hi: int, spans: list[Span]) -> Markup:
    """Escaped ``text[lo:hi]`` with ``spans`` wrapped around the parts that fall inside.
    Spans must not overlap partially."""
    cuts = {lo, hi}
    for a, b, _ in spans:
        cuts.update(x for x in (a, b) if lo < x < hi)
    points = sorted(cuts)
    out = []
    for a, b in zip(points, points[1:]):
        piece = str(escape(text[a:b]))
        for sa, sb, tag in sorted(spans, key=lambda s: s[0] - s[1]):  # wider spans outside
            if sa <= a and b <= sb and sa < sb:
                piece = _wrap(tag, piece)
        out.append(piece)
    return Markup("".join(out))


def answer_status(answer: Answer) -> str:
    """``answer.status``, made safe to render: "answer" needs the answer text and
    "sentence" a sentence or a span; anything else is shown as not found."""
    status = getattr(answer, "status", "not_found")
    if status == "answer" and answer.answer:
        return "answer"
    if status in ("answer", "sentence") and (answer.sentence or answer.span):
        return "sentence"
    return "not_found"


def highlight(answer: Answer | None) -> tuple[str, str, str] | None:
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


def answer_span_in(answer: Answer, source: str, lo: int, hi: int, text: str) -> tuple[int, int] | None:
    """Absolute offsets of the highlighted span when it lies inside ``text[lo:hi]`` of ``source``."""
    hl = highlight(answer)
    if hl is None or answer.passage is None:
        return None
    if answer.passage.source != source or answer.start is None or answer.end is None:
        return None
    if lo <= answer.start and answer.end <= hi and text[answer.start:answer.end] == hl[0]:
        return answer.start, answer.end
    return None


def context_html(text: str, start: int, end: int, spans: list[Span]) -> Markup:
    """±CONTEXT_CHARS of the document around [start, end), the passage itself set off."""
    body = body_start(text)
    lo = max(body, start - CONTEXT_CHARS)
    hi = min(len(text), end + CONTEXT_CHARS)
    inner = str(marked(text, lo, hi, [(start, end, 'span class="qa-ctx-hit"'), *spans]))
    inner = tidy(re.sub(r"(?m)^#{1,6} ", "", inner))  # markdown heading marks read as noise
    return Markup(("…" if lo > body else "") + inner.strip() + ("…" if hi < len(text) else ""))


def passage_body(answer: Answer, passage, text: str) -> tuple[Markup, Markup | None, bool]:
    """(the passage's text, its context or None, whether it holds the highlighted span)."""
    hl = highlight(answer)
    tag = hl[2] if hl else "mark"
    exact = bool(text) and text[passage.start:passage.end] == passage.text
    span = answer_span_in(answer, passage.source, passage.start, passage.end, text) if exact else None
    spans = [(span[0], span[1], tag)] if span else []
    body = marked(text, passage.start, passage.end, spans) if exact else escape(passage.text)
    context = context_html(text, passage.start, passage.end, spans) if text else None
    return Markup(tidy(str(body))), context, span is not None


def sentence_html(answer: Answer, text: str) -> Markup:
    """The sentence, escaped, with the highlighted span marked: from the document by the
    offsets when they agree with it, else by finding the span in the quoted sentence."""
    hl = highlight(answer)
    s0, s1, a0, a1 = answer.sentence_start, answer.sentence_end, answer.start, answer.end
    sentence_ok = bool(text) and None not in (s0, s1) and 0 <= s0 <= s1 <= len(text) \
        and (not answer.sentence or text[s0:s1] == answer.sentence)
    if hl is None:
        return marked(text, s0, s1, []) if sentence_ok else escape(answer.sentence or "")
    span, tag, _ = hl
    if sentence_ok and None not in (a0, a1) and s0 <= a0 <= a1 <= s1 and text[a0:a1] == span:
        return marked(text, s0, s1, [(a0, a1, tag)])
    # offsets unusable: find the span in the sentence the library quoted
    sent = answer.sentence or span
    i = sent.find(span)
    if i >= 0:
        return Markup(f"{escape(sent[:i])}{_wrap(tag, escape(span))}{escape(sent[i + len(span):])}")
    if answer_status(answer) == "answer":  # the answer is shown whatever the sentence says
        return Markup(_wrap(tag, escape(span)))
    return escape(sent)  # a weak span that is not in its sentence is not worth showing


def card_context(answer: Answer, text: str) -> Markup | None:
    """The card's sentence in its surroundings, or None without usable offsets."""
    hl = highlight(answer)
    s0, s1, a0, a1 = answer.sentence_start, answer.sentence_end, answer.start, answer.end
    if not text or s0 is None or s1 is None:
        return None
    spans = [(a0, a1, hl[2])] if (hl and None not in (a0, a1) and s0 <= a0 <= a1 <= s1
                                  and text[a0:a1] == hl[0]) else []
    return context_html(text, s0, s1, spans)
