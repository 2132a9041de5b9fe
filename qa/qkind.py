"""Which kind of answer a question wants, learned: character n-grams (Chinese)
and words (English) of the question, plus the kind its interrogative form
names (``data/answer_forms.json``), into a multinomial logistic model fitted
on the pool's training folds. Its probabilities feed the candidate ranker,
so a question that reads half like a name question and half like a phrase
question keeps both readings.

Stored as plain numbers (vocabulary, idf, coefficients): numpy alone scores it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .candidates import KINDS, question_kind

_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
# The interrogative form counts this many times among the n-grams. At 1 the n-grams drown it:
# held-out kind accuracy .61 (the form alone: .79); at 4, .80, and answer F1 +.03 (qa eval --cv).
FORM_WEIGHT = 4


def tokens(question: str, lang: str) -> list[str]:
    out = [f"form={question_kind(question, lang)}"] * FORM_WEIGHT + [f"lang={lang}"]
    if lang == "zh":
        s = _PUNCT.sub("", question.lower())
        out += [s[i:i + n] for n in (1, 2, 3) for i in range(len(s) - n + 1)]
    else:
        words = re.findall(r"[a-z0-9]+", question.lower())
        out += words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    return out


@dataclass
class KindModel:
    vocab: dict
    idf: np.ndarray
    coef: np.ndarray  # (len(KINDS), len(vocab))
    intercept: np.ndarray

    def proba(self, question: str, lang: str) -> np.ndarray:
        x = np.zeros(len(self.vocab), np.float32)
        for t in tokens(question, lang):
            j = self.vocab.get(t)
            if j is not None:
                x[j] += 1.0
        x *= self.idf
        norm = np.linalg.norm(x)
        if norm:
            x /= norm
        z = self.coef @ x + self.intercept
        e = np.exp(z - z.max())
        return e / e.sum()

    def to_json(self) -> dict:
        return {"vocab": self.vocab, "idf": self.idf.round(5).tolist(),
                "coef": self.coef.round(5).tolist(), "intercept": self.intercept.round(5).tolist()}

    @classmethod
    def from_json(cls, d: dict) -> "KindModel":
        return cls(d["vocab"], np.array(d["idf"], np.float32), np.array(d["coef"], np.float32),
                   np.array(d["intercept"], np.float32))


def fit_kinds(questions: list[str], langs: list[str], kinds: list[str], C: float = 4.0) -> KindModel:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    docs = [tokens(q, lang) for q, lang in zip(questions, langs)]
    vec = TfidfVectorizer(analyzer=lambda d: d, min_df=2)
    X = vec.fit_transform(docs)
    y = np.array([KINDS.index(k) for k in kinds])
    vocab = {t: int(j) for t, j in vec.vocabulary_.items()}
    if len(set(y.tolist())) < 2:  # one kind only: it is the answer
        intercept = np.full(len(KINDS), -20.0, np.float32)
        intercept[y[0]] = 0.0
        return KindModel(vocab, vec.idf_.astype(np.float32), np.zeros((len(KINDS), X.shape[1]), np.float32),
                         intercept)
    lr = LogisticRegression(C=C, max_iter=3000)
    lr.fit(X, y)
    coef = np.zeros((len(KINDS), X.shape[1]), np.float32)
    intercept = np.full(len(KINDS), -20.0, np.float32)  # kinds never seen in training stay unlikely
    for row, cls in enumerate(lr.classes_):
        coef[cls] = lr.coef_[row] if len(lr.classes_) > 2 else (lr.coef_[0] if row else -lr.coef_[0])
        intercept[cls] = lr.intercept_[row] if len(lr.classes_) > 2 else 0.0
    return KindModel(vocab, vec.idf_.astype(np.float32), coef, intercept)
