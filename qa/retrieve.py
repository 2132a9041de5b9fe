"""Retrieve stage: question -> ranked ``Passage`` list.

Dense e5 similarity is the backbone. Lexical evidence (jieba BM25 for Chinese
questions, a CC-CEDICT bridge for English ones) is added in proportion to how
much of the question it actually covers, so keyword search can lift the right
passage but never drown the dense ranking with noise.
"""
from __future__ import annotations

import json
import logging
import math
import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InvalidQuestion
from .lexical import BM25Index, Bridge, _jieba, bm25_tokens, mentions_place, zh_tokens
from .ranker import Question
from .reader import answer_strength
from .schema import Passage
from .store.base import matches

logger = logging.getLogger(__name__)


_HAN = re.compile(r"[\u3400-\u9fff]")
_WORDISH = re.compile(r"[\w\u3400-\u9fff]", re.UNICODE)


# how many passages a caller may ask for: one rule for Python, the CLI, the page and the API
K_MIN, K_MAX = 1, 20


def check_k(k) -> int:
    """``k`` as an int from ``K_MIN`` to ``K_MAX``; an integral float or a digit string counts
    (HTTP and JSON clients send those). Anything else: ``ValueError`` with a readable message."""
    if isinstance(k, str) and re.fullmatch(r"\s*\d+\s*", k):
        k = int(k)
    if isinstance(k, float) and math.isfinite(k) and k.is_integer():
        k = int(k)
    if isinstance(k, np.integer):
        k = int(k)
    if isinstance(k, bool) or not isinstance(k, int) or not K_MIN <= k <= K_MAX:
        raise ValueError(f"k must be a whole number from {K_MIN} to {K_MAX}.")
    return k


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


@dataclass
class Evidence:
    """What one search found, beyond the passages: used by the answer stage."""
    lang: str
    terms: dict  # Chinese terms that stand for the question, weighted by rarity
    coverage: float  # share of the question the lexical side understood
    ranked: list  # [(chunk id, fused score, dense score)] best first
    qvec: np.ndarray  # the question's embedding


# Fusion features, scored by weights fitted on the question pool's training folds
# (data/fusion_weights.json, written by qa eval --cv --save).
FUSION = ["dense", "lexical", "answer_strength", "place_agree", "place_conflict", "year_agree",
          "heading_only", "sentence_gain", "city_agree", "city_conflict"]
FUSION_PATH = Path(__file__).resolve().parent / "data" / "fusion_weights.json"
# before any fit: cosine + 0.045 x lexical + 0.03 x answer strength (the previous hand-set fusion)
DEFAULT_WEIGHTS = np.array([1.0, 0.045, 0.03, 0, 0, 0, 0, 0, 0, 0], np.float32)
_END = re.compile(r"[。！？；!?.;，,]")


def _heading_only(text: str) -> bool:
    """A title or heading line on its own: short, and no sentence in it."""
    t = text.strip()
    return len(t) <= 40 and not _END.search(t[:-1] if t else t) and "\n" not in t


def load_weights(path: Path = FUSION_PATH) -> np.ndarray:
    if not path.exists():
        return DEFAULT_WEIGHTS.copy()
    d = json.loads(path.read_text(encoding="utf-8"))
    if d.get("features") != FUSION:
        raise ValueError(f"{path} was fitted on other features; refit it with qa eval --cv --save")
    return np.array(d["weights"], np.float32)


@dataclass
class Pool:
    question: Question
    qvec: np.ndarray
    cand: np.ndarray  # chunk ids
    features: np.ndarray  # (len(cand), len(FUSION))
    coverage: float


class HybridSearcher:
    """Scores the chunks of one loaded index for a question.

        fused = w . [cosine, coverage * bm25 / max(bm25), answer strength, place agreement,
                     place conflict, year agreement, heading-only, best sentence cosine - cosine,
                     city agreement, city conflict]

    The lexical term is anchored on the best lexical match rather than
    min-max scaled, so its weight is in cosine units and does not depend on
    how bad the worst chunk in the corpus is. City agreement compares the cities the
    question names with the passage's document city (front matter), so of near-identical
    passages the one about the asked-for city wins. BM25 runs on jieba tokens for
    Chinese questions and on CC-CEDICT translations for English ones, and it
    counts only as much of the question as it covers. The weights ``w`` are
    fitted listwise on the question pool's training folds (``qa eval --cv``).
    """

    RERANK_DEPTH = 10  # answer strength is computed for this many of the best chunks

    def __init__(self, index, encoder, settings):
        self.index = index
        self.encoder = encoder
        self.settings = settings
        self.texts: dict[str, str] = index.extras.get("docs", {})
        self.corpus_years = set(index.extras.get("years", []))  # years the documents' text names
        places = index.extras.get("absent_places", [])
        present = index.extras.get("present_places", [])
        # an English name is unknown only when no place of that name (苏州 / 宿州: Suzhou) is in the corpus
        self.absent_en = {en for en, _, major in places if major} - {en for en, _, _ in present}
        self.absent_zh = {zh for _, zh, _ in places}
        self.places_zh = {zh.rstrip("市省县区") for _, zh, _ in present if len(zh.rstrip("市省县区")) >= 2}
        self.places_en = {en: zh.rstrip("市省县区") for en, zh, _ in present if len(zh.rstrip("市省县区")) >= 2}
        sentences = index.extras.get("sentences", [])
        self.sentence_row = {(d, a, b): i for i, (d, a, b) in enumerate(sentences)}
        self.sentence_vectors = index.extras.get("sentence_vectors")
        self.chunk_sentences = _sentences_by_chunk(index.chunks, sentences)
        self.weights = load_weights()
        self._idf: dict[str, float] = {}
        self._scopes: dict[tuple, np.ndarray] = {}
        self.bridge = Bridge(index.extras.get("bridge", {}))
        self.cities_zh, self.cities_en = _document_cities(index.chunks, self.bridge)
        # the index's persisted term statistics; an index assembled in memory (benchmarks) is
        # tokenised and indexed here instead
        self.bm25 = getattr(index, "bm25", None) or \
            BM25Index(index.extras.get("tokens") or [bm25_tokens(c) for c in index.chunks])

    def terms(self, q: str, lang: str) -> tuple[dict[str, float], float]:
        zh = [t for t in zh_tokens(q) if len(t) > 1 or t.isdigit()]
        if lang == "zh":
            terms = {t: 1.0 for t in zh}
            known = sum(t in self.bm25.vocab for t in zh)
            return terms, known / len(zh) if zh else 0.0
        terms, coverage = self.bridge.translate(q)
        for t in zh:  # Chinese words, and Latin ones the corpus uses (PCT, WIPO), count as they are
            if _HAN.search(t) or (len(t) >= 2 and t.isascii() and t.isalpha() and t in self.bm25.vocab
                                  and t not in self.bridge.table):
                terms[t] = 1.0
        return terms, coverage

    def idf(self, term: str) -> float:
        """BM25-style rarity of a term over the chunks (substring counts, so
        bridge terms that jieba splits differently still count)."""
        if term not in self._idf:
            n = len(self.index.chunks)
            df = sum(term in c.text for c in self.index.chunks)
            self._idf[term] = float(np.log(1 + (n - df + 0.5) / (df + 0.5)))
        return self._idf[term]

    def sentence_sim(self, qvec: np.ndarray):
        """Cosine of the question to any indexed sentence or clause, by (doc, start, end)."""
        if self.sentence_vectors is None or not len(self.sentence_vectors):
            return None
        cache: dict = {}

        def sim(doc: str, start: int, end: int, default: float | None = 0.0) -> float | None:
            row = self.sentence_row.get((doc, start, end))
            if row is None:
                return default
            if row not in cache:
                cache[row] = float(self.sentence_vectors[row] @ qvec)
            return cache[row]
        return sim

    def unknown_places(self, q: str, lang: str) -> list[str]:
        """Places named in the question that the corpus never mentions."""
        found = [w for w in _jieba().lcut(q) if w in self.absent_zh or w.rstrip("市省县区") in self.absent_zh]
        words = re.findall(r"[A-Z][a-z]+", q)
        names = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
        return found + [w for w in names if w.lower() in self.absent_en]

    def question_cities(self, q: str, lang: str) -> set[str]:
        """The documents' cities (front matter) that the question names, in Chinese."""
        if lang == "zh":
            return {c for c in self.cities_zh if c in q}
        words = (w.lower() for w in re.findall(r"[A-Z][a-z]+", q))
        return {self.cities_en[w] for w in words if w in self.cities_en}

    def question_places(self, q: str, lang: str) -> set[str]:
        """Places of the corpus that the question names, in Chinese."""
        if lang == "zh":
            return {p for p in self.places_zh if p in q}
        words = re.findall(r"[A-Z][a-z]+", q)
        names = [w.lower() for w in words] + [f"{a} {b}".lower() for a, b in zip(words, words[1:])]
        return {self.places_en[n] for n in names if n in self.places_en}

    def search(self, q: str, k: int, where: dict | None = None) -> list[Passage]:
        return self.search_with_evidence(q, k, where)[0]

    def search_with_evidence(self, q: str, k: int, where: dict | None = None) -> tuple[list[Passage], Evidence]:
        """The best ``k`` passages, among the chunks matching ``where`` (doc / city / year) if given."""
        pool = self.pool(q, k, where)
        cand, F, question = pool.cand, pool.features, pool.question
        w = self.weights
        fused = F @ w
        # the answer-aware term is costlier: only for the head of the ranking
        head = np.argsort(-fused)[:max(k, self.RERANK_DEPTH)]
        strength = np.array([answer_strength(question, self.index.chunks[cand[j]].text) for j in head])
        fused[head] += w[FUSION.index("answer_strength")] * strength
        order = head[np.argsort(-fused[head], kind="stable")]
        ranked = [(int(cand[j]), float(fused[j]), float(F[j, 0])) for j in order][:k]
        passages = [self._passage(i, s, r) for r, (i, s, _) in enumerate(ranked, 1)]
        return passages, Evidence(question.lang, question.terms, pool.coverage, ranked, pool.qvec)

    def pool(self, q: str, k: int, where: dict | None = None) -> "Pool":
        """Candidate chunks for a question (dense top-N and lexical hits) and their fusion features."""
        lang = query_language(q)
        n = len(self.index.chunks)
        qvec = self.encoder.encode_queries([q])[0]
        size = min(n, max(k, self.settings.candidates))
        _, ids = self.index.search(qvec[None, :], size, where)
        cand = np.array([i for i in ids[0] if i >= 0], dtype=np.int64)
        terms, coverage = self.terms(q, lang)
        lex = self.lexical_scores(terms, size, where)
        if where:  # lexical hits outside the filter never join
            lex = np.where(self.in_scope(where), lex, 0.0).astype(np.float32)
        # lexical hits outside the dense pool join the candidates
        extra = np.argsort(-lex)[:size]
        cand = np.unique(np.concatenate([cand, extra[lex[extra] > 0]]))
        dense = self.index.vectors[cand] @ qvec
        top_lex = float(lex.max(initial=0.0))
        lexn = lex[cand] / top_lex * coverage if top_lex > 0 else np.zeros(len(cand), np.float32)
        weighted = {t: w * self.idf(t) for t, w in terms.items()}
        question = Question(q, lang, weighted, self.question_places(q, lang))
        return Pool(question, qvec, cand, self.fusion_features(question, cand, dense, lexn, qvec), coverage)

    def lexical_scores(self, terms: dict[str, float], size: int, where: dict | None) -> np.ndarray:
        """BM25 of every row for the question's terms (0 where none occurs). A store with its own
        full-text search (Milvus) scores them in the server: its ``size`` best rows, the Chinese
        terms sent as the text query, for English questions the bridge's translations."""
        n = len(self.index.chunks)
        if not terms:
            return np.zeros(n, np.float32)
        search_text = getattr(self.index.ann, "search_text", None)
        if search_text is None:
            return self.bm25.scores(terms)
        # the server cannot weight terms: the bridge's weak readings (a word deep inside a
        # dictionary definition, weight < .5) would count as much as the question's own words
        strong = [t for t, w in terms.items() if w >= 0.5] or [t for t, w in terms.items() if w > 0]
        ids, scores = search_text(" ".join(strong), size, where)
        lex = np.zeros(n, np.float32)
        for i, s in zip(ids.tolist(), scores.tolist()):
            row = self.index.row_of(i)
            if row is not None:
                lex[row] = max(s, 0.0)
        return lex

    def in_scope(self, where: dict) -> np.ndarray:
        """Rows whose chunk matches ``where``, as a boolean mask (cached per filter)."""
        key = tuple(sorted(where.items()))
        if key not in self._scopes:
            self._scopes[key] = np.array([matches(c.to_dict(), where) for c in self.index.chunks], bool)
        return self._scopes[key]

    def fusion_features(self, q: Question, cand: np.ndarray, dense: np.ndarray, lex: np.ndarray,
                        qvec: np.ndarray) -> np.ndarray:
        """One row per candidate chunk, columns as ``FUSION`` (answer_strength left 0 here)."""
        F = np.zeros((len(cand), len(FUSION)), np.float32)
        F[:, 0], F[:, 1] = dense, lex
        cities = self.question_cities(q.text, q.lang)
        for r, i in enumerate(cand):
            c = self.index.chunks[int(i)]
            ctx = f"{c.title}{c.section}{c.text}"
            if q.places:
                agree = any(mentions_place(p, ctx) for p in q.places)
                F[r, 3], F[r, 4] = agree, not agree
            if q.years:
                F[r, 5] = any(y in ctx for y in q.years)
            F[r, 6] = _heading_only(c.text)
            if cities:  # the entity a passage is about: tells apart near-identical passages on other cities
                agree = c.city.rstrip("市省县区") in cities or any(x in c.text for x in cities)
                F[r, 8], F[r, 9] = agree, bool(c.city) and not agree
            rows = self.chunk_sentences.get(int(i))
            if rows is not None and self.sentence_vectors is not None and len(rows):
                F[r, 7] = float((self.sentence_vectors[rows] @ qvec).max()) - dense[r]
        return F

    def _passage(self, i: int, score: float, rank: int) -> Passage:
        c = self.index.chunks[i]
        return Passage(text=c.text, score=round(score, 4), rank=rank, source=c.doc, title=c.title,
                       section=c.section, start=c.start, end=c.end)


def _document_cities(chunks, bridge) -> tuple[set[str], dict[str, str]]:
    """The cities the documents' front matter names, in Chinese, and their English names from the
    bridge (a one-word key whose best rendering is the city). CC-CEDICT glosses some (宁波:
    "Ningbo subprovincial city") in a form the place list does not read."""
    zh = {c.city.rstrip("市省县区") for c in chunks if c.city}
    zh = {c for c in zh if len(c) >= 2}
    en = {}
    for key, cands in bridge.table.items():
        if " " not in key and cands and cands[0][1] >= 0.5 and cands[0][0].rstrip("市省县区") in zh:
            en.setdefault(key, cands[0][0].rstrip("市省县区"))
    return zh, en


def _sentences_by_chunk(chunks, sentences) -> dict[int, np.ndarray]:
    """Rows of the sentence vectors that lie inside each chunk: whole sentences only, not the
    clauses stored beside them (a clause lies inside a sentence row)."""
    by_doc: dict[str, list[tuple[int, int, int]]] = {}
    for row, (doc, a, b) in enumerate(sentences):
        by_doc.setdefault(doc, []).append((a, b, row))
    for doc, rows in by_doc.items():
        rows.sort(key=lambda r: (r[0], -r[1]))
        whole, reach = [], -1
        for r in rows:
            if r[1] > reach:  # not nested in the sentence before
                whole.append(r)
                reach = r[1]
        by_doc[doc] = whole
    out = {}
    for i, c in enumerate(chunks):
        rows = by_doc.get(c.doc, [])
        j = bisect_left(rows, (c.start, -1, -1))
        inside = []
        while j < len(rows) and rows[j][0] < c.end:
            if rows[j][1] <= c.end:
                inside.append(rows[j][2])
            j += 1
        out[i] = np.array(inside, dtype=np.int64)
    return out
