"""BM25 term statistics kept per segment, scored with corpus-wide statistics.

bm25s bakes each term's idf and the corpus's average length into the scores it
stores, so one bm25s index per segment could not be combined without
changing every score. A segment here stores only what does not depend on the
rest of the corpus: a term-by-row matrix of term frequencies (CSC, one .npy
per array, memory-mapped at load) and each row's length. Document frequency,
row count and average length come from the live rows of every segment at
query time, so the scores equal bm25s's (method "lucene", k1 1.5, b 0.75) over
the whole corpus, whatever segments it is split into, and nothing is
re-tokenised or re-indexed at start.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

K1, B = 1.5, 0.75  # bm25s's defaults, which the fusion weights were fitted with
EMPTY = "∅"  # bm25s needs one token per row; an empty chunk counts as one unknown token
FILES = ("bm25_terms.json", "bm25_indptr.npy", "bm25_rows.npy", "bm25_tf.npy", "bm25_lengths.npy")


@dataclass
class TermStats:
    """One segment's term frequencies: column j of the CSC matrix is ``terms[j]``."""
    terms: list[str]
    indptr: np.ndarray  # int64, len(terms) + 1
    rows: np.ndarray  # int32, row of each entry
    tf: np.ndarray  # float32, frequency of each entry
    lengths: np.ndarray  # int32, tokens per row

    def __post_init__(self):
        self.col = {t: j for j, t in enumerate(self.terms)}

    @classmethod
    def build(cls, token_lists: list[list[str]]) -> "TermStats":
        postings: dict[str, list[tuple[int, int]]] = {}
        lengths = np.zeros(len(token_lists), np.int32)
        for row, toks in enumerate(token_lists):
            toks = toks or [EMPTY]
            lengths[row] = len(toks)
            for term, n in Counter(toks).items():
                postings.setdefault(term, []).append((row, n))
        terms = sorted(postings)
        sizes = np.array([len(postings[t]) for t in terms], np.int64)
        indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        flat = [p for t in terms for p in postings[t]]
        rows = np.array([r for r, _ in flat], np.int32)
        tf = np.array([n for _, n in flat], np.float32)
        return cls(terms, indptr, rows, tf, lengths)

    def save(self, path: Path) -> None:
        (path / FILES[0]).write_text(json.dumps(self.terms, ensure_ascii=False), encoding="utf-8")
        for name, arr in zip(FILES[1:], (self.indptr, self.rows, self.tf, self.lengths)):
            np.save(path / name, arr)

    @classmethod
    def load(cls, path: Path) -> "TermStats":
        terms = json.loads((path / FILES[0]).read_text(encoding="utf-8"))
        arrays = [np.load(path / name, mmap_mode="r") for name in FILES[1:]]
        stats = cls(terms, *arrays)
        if len(stats.indptr) != len(terms) + 1 or stats.indptr[-1] != len(stats.rows) or \
                len(stats.rows) != len(stats.tf):
            raise ValueError(f"{path.name}: BM25 statistics are inconsistent")
        return stats

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        j = self.col.get(term)
        if j is None:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        a, b = int(self.indptr[j]), int(self.indptr[j + 1])
        return self.rows[a:b], self.tf[a:b]


class SegmentedBM25:
    """BM25 over the live rows of several segments, as one corpus.

    ``parts`` pairs each segment's statistics with the global row of each of its
    rows (-1 for a row that is not live: a removed document's)."""

    def __init__(self, parts: list[tuple[TermStats, np.ndarray]], n: int):
        self.parts = [(s, np.asarray(g, np.int64)) for s, g in parts]
        self.n = int(n)
        lengths = np.zeros(self.n, np.float64)
        for stats, rows in self.parts:
            live = rows >= 0
            lengths[rows[live]] = stats.lengths[live]
        self.lengths = lengths
        self.avgdl = float(lengths.mean()) if self.n else 1.0
        self._df: dict[str, int] = {}
        self.vocab = _Vocab(self)

    def df(self, term: str) -> int:
        if term not in self._df:
            self._df[term] = int(sum((rows[stats.postings(term)[0]] >= 0).sum() for stats, rows in self.parts))
        return self._df[term]

    def term_scores(self, term: str) -> np.ndarray:
        out = np.zeros(self.n, np.float32)
        df = self.df(term)
        if not df:
            return out
        idf = math.log(1 + (self.n - df + 0.5) / (df + 0.5))
        for stats, rows in self.parts:
            local, tf = stats.postings(term)
            g = rows[local]
            keep = g >= 0
            g, tf = g[keep], tf[keep]
            dl = self.lengths[g]
            out[g] = idf * tf / (K1 * ((1 - B) + B * dl / self.avgdl) + tf)
        return out

    def scores(self, weighted_terms: dict[str, float]) -> np.ndarray:
        total = np.zeros(self.n, dtype=np.float32)
        for term, w in weighted_terms.items():
            if w > 0 and term in self.vocab:
                total += w * self.term_scores(term)
        return total


class _Vocab:
    """``term in vocab``: the term occurs in some live row."""

    def __init__(self, bm25: SegmentedBM25):
        self._bm25 = bm25

    def __contains__(self, term) -> bool:
        return isinstance(term, str) and self._bm25.df(term) > 0
