"""Retrieve stage: question -> ranked ``Passage`` list.

Dense e5 similarity is the backbone. Lexical evidence (jieba BM25 for Chinese
questions, a CC-CEDICT bridge for English ones) is added in proportion to how
much of the question it actually covers, so keyword search can lift the right
passage but never drown the dense ranking with noise.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import asdict, dataclass

import numpy as np

from .errors import InvalidQuestion

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Passage:
    text: str
    score: float
    rank: int
    source: str  # corpus file name
    title: str
    section: str
    start: int  # character offsets into the source file's text
    end: int

    def to_dict(self) -> dict:
        return asdict(self)


_WORDISH = re.compile(r"[\w\u3400-\u9fff]", re.UNICODE)


def clean_question(question, max_chars: int) -> str:
    """Validate a user question; raise ``InvalidQuestion`` with a reason a person can act on."""
    if not isinstance(question, str):
        raise InvalidQuestion("The question must be text.")
    q = unicodedata.normalize("NFKC", question)
    # control characters carry no meaning and break tokenisers
    q = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in q)
    q = re.sub(r"\s+", " ", q).strip()
    if not q:
        raise InvalidQuestion("The question is empty.")
    if len(q) > max_chars:
        raise InvalidQuestion(f"The question is too long ({len(q)} characters; the limit is {max_chars}).")
    if not _WORDISH.search(q):
        raise InvalidQuestion("The question has no words to search for.")
    return q


def query_language(q: str) -> str:
    """'zh' when the question is mostly Chinese characters, else 'en'."""
    han = sum(1 for ch in q if "\u3400" <= ch <= "\u9fff")
    latin = sum(1 for ch in q if ch.isascii() and ch.isalpha())
    return "zh" if han >= max(1, latin / 4) else "en"


def minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min(initial=0.0)), float(x.max(initial=0.0))
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


@dataclass
class Evidence:
    """What one search found, beyond the passages: used by the answer stage."""
    lang: str
    terms: dict  # Chinese terms (weighted) that stand for the question
    coverage: float  # share of the question the lexical side understood
    ranked: list  # [(chunk id, fused score, dense score)] best first


class HybridSearcher:
    """Scores the chunks of one loaded index for a question.

    fused = dense + w_lex * coverage * bm25_normalised + w_city * city_match
    Dense cosine is min-max normalised over the candidate pool; BM25 runs on
    jieba tokens for Chinese questions and on CC-CEDICT translations for
    English ones, and counts only as much as the question's words it covers.
    """

    W_LEX = 0.5
    W_CITY = 0.15

    def __init__(self, index, encoder, settings):
        from .lexical import BM25Index, Bridge, zh_tokens

        self.index = index
        self.encoder = encoder
        self.settings = settings
        self.texts: dict[str, str] = index.extras.get("docs", {})
        self.corpus_text = "\n".join(self.texts.values())
        self.bridge = Bridge(index.extras.get("bridge", {}))
        # section headings are searchable keywords too
        self.bm25 = BM25Index([zh_tokens(f"{c.section} {c.text}") for c in index.chunks])
        self.cities = sorted({c.city for c in index.chunks if c.city})
        self.city_of = np.array([c.city for c in index.chunks], dtype=object)

    def terms(self, q: str, lang: str) -> tuple[dict[str, float], float]:
        from .lexical import zh_tokens

        zh = [t for t in zh_tokens(q) if len(t) > 1 or t.isdigit()]
        if lang == "zh":
            terms = {t: 1.0 for t in zh}
            known = sum(t in self.bm25.vocab for t in zh)
            return terms, known / len(zh) if zh else 0.0
        terms, coverage = self.bridge.translate(q)
        for t in zh:  # Chinese words inside an English question count as they are
            terms[t] = 1.0
        return terms, coverage

    def query_cities(self, q: str, terms: dict[str, float]) -> list[str]:
        return [c for c in self.cities if c in q or c in terms]

    def search(self, q: str, k: int) -> list[Passage]:
        return self.search_with_evidence(q, k)[0]

    def search_with_evidence(self, q: str, k: int) -> tuple[list[Passage], Evidence]:
        lang = query_language(q)
        n = len(self.index.chunks)
        qvec = self.encoder.encode_queries([q])[0]
        pool = min(n, max(k, self.settings.candidates))
        _, ids = self.index.search(qvec[None, :], pool)
        cand = np.array([i for i in ids[0] if i >= 0], dtype=np.int64)
        terms, coverage = self.terms(q, lang)
        lex = self.bm25.scores(terms) if terms else np.zeros(n, np.float32)
        # lexical hits outside the dense pool join the candidates
        extra = np.argsort(-lex)[:pool]
        cand = np.unique(np.concatenate([cand, extra[lex[extra] > 0]]))
        dense = self.index.vectors[cand] @ qvec
        fused = minmax(dense) + self.W_LEX * coverage * minmax(lex[cand])
        cities = self.query_cities(q, terms)
        if cities:
            fused = fused + self.W_CITY * np.isin(self.city_of[cand], cities)
        order = np.argsort(-fused)[:k]
        ranked = [(int(cand[j]), float(fused[j]), float(dense[j])) for j in order]
        passages = [self._passage(i, s, r) for r, (i, s, _) in enumerate(ranked, 1)]
        return passages, Evidence(lang, terms, coverage, ranked)

    def _passage(self, i: int, score: float, rank: int) -> Passage:
        c = self.index.chunks[i]
        return Passage(text=c.text, score=round(score, 4), rank=rank, source=c.doc, title=c.title,
                       section=c.section, start=c.start, end=c.end)
