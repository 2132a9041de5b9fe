"""Reader: the top passages of a search -> scored answer candidates.

Splits the best few passages into sentences, generates every candidate span
(``qa/candidates.py``), featurises them (``qa/ranker.py``) and lets the fitted
model pick one. Shared by ``Engine.ask`` and the cross-validation harness,
so what is measured is exactly what answers.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from .candidates import NUMERIC, Span, sentence_spans
from .chunking import split_sentences
from .compose import compose
from .lexical import mentions_place
from .ranker import EXPANDED, SPAN_FLOOR, AnswerModel, Question, Sentence, _cover, candidates, pick, \
    clause_ranges, proximity, with_spans

TOP_PASSAGES = 3
_WS = re.compile(r"\s+")


def sentences_of(passages: list, scores: list[float], texts: dict[str, str], sentence_sim=None,
                 top: int = TOP_PASSAGES) -> list[Sentence]:
    """Distinct sentences of the top passages, with their rank signals."""
    out, seen = [], set()
    top_score = scores[0] if scores else 0.0
    for rank, (p, score) in enumerate(zip(passages[:top], scores[:top])):
        doc_text = texts.get(p.source, "")
        ctx = _WS.sub("", f"{p.title}{p.section}{p.text}")
        for sp in split_sentences(doc_text[p.start:p.end], p.start):
            if (p.source, sp.start) in seen:
                continue
            seen.add((p.source, sp.start))
            out.append(Sentence(doc_text[sp.start:sp.end], p.source, sp.start, sp.end, rank,
                                score - top_score, 0.0, ctx, p))
    if sentence_sim and out:
        sims = [sentence_sim(s.doc, s.start, s.end) for s in out]
        best = max(sims)
        for s, sim in zip(out, sims):
            s.dense_gap = sim - best
            s.sim = sim
            for lo, hi in clause_ranges(s.text):  # indexed clauses; others fall back to the sentence
                c = sentence_sim(s.doc, s.start + lo, s.start + hi, None)
                if c is not None:
                    s.clause_sims[(lo, hi)] = c
    return out


@dataclass
class Reading:
    """The reader's verdict on one question."""
    sentence: Sentence | None  # the sentence holding the best candidate (or the best sentence)
    text: str | None  # the best candidate span
    start: int | None  # offsets into the source file
    end: int | None
    score: float
    confidence: float
    margin: float
    x: np.ndarray | None = None  # the chosen candidate's features
    span_best: float = float("nan")  # the span model's best score (see ``best_span``)


PROPOSALS = 2  # the span model's own best spans added to the candidates


def span_reading(spans, q: Question, sentences: list[Sentence], texts: dict[str, str]):
    """The span model's pass over the passages the sentences came from (None without one)."""
    if spans is None or not sentences:
        return None
    passages, seen = [], set()
    for s in sentences:
        p = s.passage
        if p is not None and (p.source, p.start) not in seen:
            seen.add((p.source, p.start))
            passages.append((p.source, p.start, texts.get(p.source, "")[p.start:p.end]))
    return spans.read(q.asked, passages)


def _edge(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "PZ"


def proposals(reading, sentences: list[Sentence], n: int = PROPOSALS) -> list[tuple[Sentence, Span]]:
    """The span model's best spans as candidates, trimmed of edge punctuation; spans that
    cross a sentence end are left out (an answer sits in one sentence)."""
    if reading is None:
        return []
    out = []
    for doc, a, b, _ in reading.best(n):
        for s in sentences:
            if s.doc == doc and s.start <= a and b <= s.end:
                lo, hi = a - s.start, b - s.start
                while lo < hi and _edge(s.text[lo]):
                    lo += 1
                while hi > lo and _edge(s.text[hi - 1]):
                    hi -= 1
                if hi > lo:
                    out.append((s, Span(lo, hi, "phrase", "model")))
                break
    return out


def span_scores(reading, pairs: list) -> np.ndarray | None:
    """The span model's score of every candidate."""
    if reading is None or not pairs:
        return None
    return reading.score([(s.doc, s.start + sp.a, s.start + sp.b) for s, sp in pairs])


def best_span(scores: np.ndarray | None) -> float:
    """The best candidate's span score: low when the span model finds no answer in the passages;
    NaN (no opinion) without a span model."""
    if scores is None:
        return float("nan")
    if not len(scores) or np.isnan(scores).all():
        return SPAN_FLOOR
    return float(np.clip(np.nanmax(scores), SPAN_FLOOR, -SPAN_FLOOR))


def read(model: AnswerModel, q: Question, sentences: list[Sentence], spans=None,
         texts: dict[str, str] | None = None) -> Reading:
    reading = span_reading(spans, q, sentences, texts or {})
    pairs, Xb = candidates(q, sentences, proposals(reading, sentences))
    scores = span_scores(reading, pairs)
    with_spans(Xb, scores)
    X = model.features(q, Xb)
    sb = best_span(scores)
    p = pick(model, X, [s.text[sp.a:sp.b] for s, sp in pairs], sb, q.lang == "en")
    i = p.i
    if i < 0:
        top = max(sentences, key=lambda s: (s.dense_gap, -s.passage_rank), default=None)
        return Reading(top, None, None, None, 0.0, 0.0, 0.0)
    s, sp = pairs[i]
    a, b = compose(q, s.text, sp.a, sp.b, sp.kind)
    return Reading(s, s.text[a:b], s.start + a, s.start + b, p.score,
                   model.confidence(p), p.margin, X[i], sb)


def lead_with(order: list, first: int) -> list:
    """``order`` with item ``first`` moved to the front, the rest as they were: the passage the
    answer was read from leads. The reader reads the top passages together with the question, and
    places the answer better than retrieval alone (held-out R@1 .877 -> .908, 1,080 pool)."""
    if first <= 0 or first >= len(order):
        return list(order)
    return [order[first]] + order[:first] + order[first + 1:]


def answer_strength(q: Question, text: str) -> float:
    """0..1: how well a passage holds an answer of the asked-for kind near the
    question's terms (a 亿元 figure right next to 质押金额 for "total value of pledges")."""
    if q.kind not in NUMERIC:
        return 0.0
    best = 0.0
    for sp in split_sentences(text):
        sent = text[sp.start:sp.end]
        for span in sentence_spans(sent):
            found = sent[span.a:span.b]
            if span.kind != q.kind or found in q.text:
                continue
            if q.units and not any(u in found[-4:] for u in q.units):
                continue
            best = max(best, proximity(sent, span.a, span.b, q.terms))
    return best


# ---- answerability: do the passages say at all? ---------------------------------

SIGNALS = ["top_dense", "lexical_coverage", "missing_top3", "missing_top1", "best_sentence_cover",
           "places_missing", "english", "heaviest_missing_top3", "span_best",
           # of the chosen candidate (filled by ``with_choice``)
           "confidence", "margin", "cand_sentence_cover", "cand_clause_cover", "cand_proximity",
           "cand_unit_ok", "cand_unit_bad", "cand_p_kind", "cand_year_conflict", "cand_year_absent",
           "cand_kind_match"]
_CHOSEN = ["sentence_cover", "clause_cover", "proximity", "unit_ok", "unit_bad", "p_kind", "year_conflict",
           "year_absent"]


def signals(q: Question, contexts: list[str], top_dense: float, coverage: float,
            sentences: list[Sentence], span_best: float = float("nan")) -> np.ndarray:
    """What tells an on-topic question the documents answer from one they don't:
    how much of the question (idf-weighted) the best passages leave unsaid, and
    how well the chosen candidate fits (see ``with_choice``)."""
    terms = q.terms
    joined = "".join(contexts)
    heaviest = max(terms.values(), default=0.0)
    missing = max((w for t, w in terms.items() if t not in joined), default=0.0)
    out = np.zeros(len(SIGNALS), np.float32)
    out[:9] = [top_dense, coverage, 1 - _cover(joined, terms),
               1 - _cover(contexts[0], terms) if contexts else 1.0,
               max((_cover(s.text, terms) for s in sentences), default=0.0),
               float(bool(q.places) and not any(mentions_place(p, joined) for p in q.places)),
               float(q.lang == "en"), missing / heaviest if heaviest else 1.0, span_best]
    return out


_AT = {name: i for i, name in enumerate(SIGNALS)}
_CHOSEN_FROM = [EXPANDED.index(name) for name in _CHOSEN]  # where each sits in an EXPANDED row
_CHOSEN_TO = [_AT[f"cand_{name}"] for name in _CHOSEN]
_MATCH_FROM = [i for i, f in enumerate(EXPANDED) if f.startswith("match:")]


def with_choice(sig: np.ndarray, confidence: float, margin: float, x: np.ndarray) -> np.ndarray:
    """``signals`` completed with the chosen candidate's confidence and features (an EXPANDED row)."""
    out = sig.copy()
    out[_AT["confidence"]], out[_AT["margin"]] = confidence, margin
    out[_CHOSEN_TO] = x[_CHOSEN_FROM]
    out[_AT["cand_kind_match"]] = float(x[_MATCH_FROM].max())
    return out
