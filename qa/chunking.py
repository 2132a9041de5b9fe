"""Chunking stage: ``Document`` -> sentence-aware ``Chunk`` windows.

Sentences end at 。！？； (with any closing quotes), at a newline, and at "."
only when whitespace follows, so 75.5天 and 12.28万件 stay whole. Windows pack
whole sentences up to ``chunk_size`` characters inside one section and repeat
up to ``chunk_overlap`` characters of trailing sentences in the next window.
Every chunk's ``start``/``end`` index the document's exact file text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .corpus import Document
from .schema import Chunk  # noqa: F401  (re-exported: stages and stored indexes name it here)

_SENT_END = re.compile(r"[。！？；!?]+[”’」』）)]*|\.(?=\s)|\n")
_SOFT_BREAK = re.compile(r"[，,、：:]")


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def split_sentences(text: str, offset: int = 0) -> list[Span]:
    """Sentence spans of ``text`` (offsets shifted by ``offset``), blanks dropped."""
    spans, pos = [], 0
    for m in _SENT_END.finditer(text):
        _add(spans, text, pos, m.end(), offset)
        pos = m.end()
    _add(spans, text, pos, len(text), offset)
    return spans


def _add(spans: list[Span], text: str, a: int, b: int, offset: int) -> None:
    piece = text[a:b]
    stripped = piece.strip()
    if not stripped:
        return
    lead = len(piece) - len(piece.lstrip())
    spans.append(Span(offset + a + lead, offset + a + lead + len(stripped)))


def sections(doc: Document) -> list[tuple[str, int, int]]:
    """(heading path, start, end) for each run of body text between headings."""
    out, heads = [], {}
    pos = doc.body_start
    run_start = pos
    label = ""
    for line in doc.text[doc.body_start:].splitlines(keepends=True):
        m = re.match(r"(#{1,6})\s+(.*)", line)
        if m:
            if doc.text[run_start:pos].strip():
                out.append((label, run_start, pos))
            level = len(m.group(1))
            heads = {lvl: h for lvl, h in heads.items() if lvl < level}
            heads[level] = m.group(2).strip()
            label = " › ".join(h for lvl, h in sorted(heads.items()) if lvl > 1)
            run_start = pos + len(line)
        pos += len(line)
    if doc.text[run_start:pos].strip():
        out.append((label, run_start, pos))
    return out


def chunk_document(doc: Document, size: int = 200, overlap: int = 60) -> list[Chunk]:
    if size <= 0 or overlap < 0 or overlap >= size:
        raise ValueError("need 0 <= chunk_overlap < chunk_size")
    chunks = []
    for label, a, b in sections(doc):
        sents = []
        for s in split_sentences(doc.text[a:b], a):
            sents.extend(_split_long(doc.text, s, size))
        for first, last in _windows(sents, size, overlap):
            start, end = sents[first].start, sents[last].end
            chunks.append(Chunk(doc=doc.name, title=doc.title, section=label,
                                text=doc.text[start:end], start=start, end=end, city=doc.city,
                                year=doc.year))
    return chunks


def sentence_spans(doc: Document, size: int = 200, min_chars: int = 4) -> list[Span]:
    """Every sentence of the body (long ones cut like chunks are): the finer
    granularity the answer stage scores."""
    out = []
    for _, a, b in sections(doc):
        for s in split_sentences(doc.text[a:b], a):
            out.extend(p for p in _split_long(doc.text, s, size) if p.end - p.start >= min_chars)
    return out


def clause_ranges(text: str, marks: str) -> list[tuple[int, int]]:
    """[lo, hi) of each non-empty run of ``text`` between clause ``marks`` (marks excluded)."""
    cuts = [-1, *(i for i, ch in enumerate(text) if ch in marks), len(text)]
    return [(a + 1, b) for a, b in zip(cuts, cuts[1:]) if b > a + 1]


def clause_spans(doc: Document, marks: str, size: int = 200, min_chars: int = 2,
                 sentences: list[Span] | None = None) -> list[Span]:
    """The clauses (between ``marks``) of every sentence ``sentence_spans`` gives (or of
    ``sentences``, when the caller has them) that has two or more: the answer stage compares a
    candidate's own clause with the question."""
    out = []
    for s in sentences if sentences is not None else sentence_spans(doc, size):
        parts = [(lo, hi) for lo, hi in clause_ranges(doc.text[s.start:s.end], marks) if hi - lo >= min_chars]
        if len(parts) >= 2:
            out.extend(Span(s.start + lo, s.start + hi) for lo, hi in parts)
    return out


def chunk_corpus(docs: list[Document], size: int = 200, overlap: int = 60) -> list[Chunk]:
    return [c for d in docs for c in chunk_document(d, size, overlap)]


def _split_long(text: str, s: Span, size: int) -> list[Span]:
    """Cut a sentence longer than ``size`` at commas, else hard at ``size``."""
    out, a = [], s.start
    while s.end - a > size:
        window = text[a:a + size]
        cut = max((m.end() for m in _SOFT_BREAK.finditer(window)), default=0)
        if cut < size // 3:
            cut = size
            # never cut inside a number such as 75.5 or 12.28万
            while cut > 1 and text[a + cut - 1].isdigit() and text[a + cut] in "0123456789.":
                cut -= 1
        out.append(Span(a, a + cut))
        a += cut
    out.append(Span(a, s.end))
    return out


def _windows(sents: list[Span], size: int, overlap: int) -> list[tuple[int, int]]:
    """Greedy packing of sentence indices into overlapping windows."""
    out, i, n = [], 0, len(sents)
    while i < n:
        j = i
        while j + 1 < n and sents[j + 1].end - sents[i].start <= size:
            j += 1
        out.append((i, j))
        if j == n - 1:
            break
        # next window restarts at the trailing sentences that fit in the overlap
        k = j
        while k > i and sents[j].end - sents[k].start <= overlap:
            k -= 1
        i = k + 1 if k + 1 <= j and sents[j].end - sents[k + 1].start <= overlap else j + 1
    return out
