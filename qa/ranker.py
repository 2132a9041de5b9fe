"""Answer ranking: general features of each candidate span, a logistic model
fitted on the training folds of the question pool, and a calibration that
turns the best candidate's score into the probability that it is right.

The fitted model is plain numbers in ``data/answer_model.json`` (written by
``qa eval --cv --save``), so answering needs numpy only; the fitting itself
lives in :mod:`qa.fitting`.
"""
from __future__ import annotations

import json
import math
import re
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import chunking
from .candidates import KINDS, NUMERIC, Span, asks_before, blank_spans, forms, question_heads, \
    question_kind, sentence_spans, wanted_units, written_form
from .candidates import _words
from .evaluation import char_f1
from .lexical import mentions_place
from .qkind import KindModel

MODEL_PATH = Path(__file__).resolve().parent / "data" / "answer_model.json"
_YEAR = re.compile(r"(?<![\d.])(?:19|20)\d\d(?![\d.])")
_ASK = re.compile(r"多少|几|什么|哪|谁|何|怎样|如何|怎么")
_WHO = re.compile(r"谁|\bwho(?:m|se)?\b", re.I)


def _align(context: str, side: str, target: str, left: bool) -> float:
    """0..1: how many characters next to a span also stand next to the blank in the question."""
    if not target:
        return 0.0
    best = 0
    for k in range(1, 9):
        piece = context[-k:] if left else context[:k]
        if len(piece) < k or piece.strip() != piece:
            break
        if (target.endswith(piece) if left else target.startswith(piece)) or (k >= 2 and piece in target):
            best = k
    return best / 8.0


@dataclass
class Question:
    """What the answer stage knows about a question."""
    text: str
    lang: str
    terms: dict  # Chinese terms standing for the question, idf-weighted
    places: set = field(default_factory=set)  # places the question names (Chinese)
    kind: str = ""
    units: str = ""
    before: bool = False
    translate: object = None  # English word -> Chinese terms (the bridge), for English heads
    heads: set = field(default_factory=set)
    years: set = field(default_factory=set)
    before_blank: str = ""  # the question's text before / after its interrogative (Chinese)
    after_blank: str = ""
    asks_who: bool = False
    asked: str = ""  # the question as the user wrote it; ``text`` is its written form

    def __post_init__(self):
        self.asked = self.asked or self.text
        if self.lang == "zh":
            self.text = written_form(self.text)
        self.kind = self.kind or question_kind(self.text, self.lang)
        self.units = wanted_units(self.text, self.lang)
        self.before = asks_before(self.text)
        self.heads = question_heads(self.text, self.lang, self.translate)
        self.years = set(_YEAR.findall(self.text))
        self.asks_who = bool(_WHO.search(self.text))
        m = _ASK.search(self.text) if self.lang == "zh" else None
        if m:
            self.before_blank, self.after_blank = self.text[:m.start()], self.text[m.end():]


@dataclass
class Sentence:
    """One sentence of a top passage, with what ranks it."""
    text: str
    doc: str
    start: int  # offsets into the source file
    end: int
    passage_rank: int
    passage_gap: float  # fused score of its passage minus the top passage's
    dense_gap: float  # its dense similarity to the question minus the best sentence's
    context: str  # title + section + passage text, for entity agreement
    passage: object = None
    sim: float = 0.0  # its own dense similarity to the question
    clause_sims: dict = field(default_factory=dict)  # (lo, hi) of a clause -> its dense similarity


# coarse part-of-speech classes of the words at a candidate's edges (jieba.posseg flags)
_POS_CLASSES = ("none", "mid", "noun", "verb", "prep", "de", "deng", "conj", "adv", "num", "punct", "other")


def _pos_class(word: str, flag: str) -> str:
    if word == "的":
        return "de"
    if word == "等":
        return "deng"
    if not word.strip() or not re.search(r"\w", word):
        return "punct"
    f = flag[:1]
    return {"n": "noun", "v": "verb", "p": "prep", "c": "conj", "d": "adv", "m": "num", "q": "num",
            "j": "noun", "l": "noun", "b": "noun", "a": "adv", "u": "de", "x": "punct", "e": "other",
            "r": "other", "f": "noun", "s": "noun", "t": "num"}.get(f, "other")


@lru_cache(maxsize=8192)
def _word_edges(sentence: str) -> tuple[dict, dict]:
    """POS class of the word starting / ending at each offset of a sentence."""
    starts, ends, pos = {}, {}, 0
    for w, f in _words(sentence):
        starts[pos] = _pos_class(w, f)
        pos += len(w)
        ends[pos] = _pos_class(w, f)
    return starts, ends


@lru_cache(maxsize=8192)
def _separators(sentence: str) -> tuple[int, ...]:
    """seps[k]: clause marks in sentence[:k]."""
    marks = forms()["clause_marks"]
    seps = [0]
    for ch in sentence:
        seps.append(seps[-1] + (ch in marks))
    return tuple(seps)


def _edges(sentence: str, a: int, b: int) -> tuple[str, str, str, str]:
    """POS classes of the word before, the word after, and the first and last words of a span."""
    starts, ends = _word_edges(sentence)
    left = "none" if a == 0 else ends.get(a, "mid")
    right = "none" if b == len(sentence) else starts.get(b, "mid")
    return left, right, starts.get(a, "mid"), ends.get(b, "mid")


FEATURES = (
    [f"kind={k}" for k in KINDS]
    + [f"match:q={k}" for k in KINDS]
    + ["compatible", "numeric_q_span_c", "unit_ok", "unit_bad", "proximity", "clause_cover",
       "sentence_cover", "overlap", "in_question", "dense_gap", "passage_gap", "prank0", "prank1",
       "prank2", "new_value", "old_value", "new_but_before", "old_and_before", "rate_lead_growth_q",
       "rate_lead_other_q", "place_agree", "place_conflict", "year_agree", "year_conflict", "head_ok",
       "head_follows", "head_missing", "rel_proximity", "rel_clause_cover", "rel_sentence_cover",
       "clause_share", "rel_kind_proximity", "left_align", "right_align", "left_term", "right_term", "log_len", "clause_whole", "src_quote", "src_np", "src_head", "src_org",
       "src_list", "list_items", "starts_clause", "ends_clause", "dup_in_top", "q_places_none",
       "clause_dense_gap", "list_first_off", "list_last_off", "year_absent", "resp_gap", "resp_best",
       "blank", "in_blank", "src_blank",
       "person", "who_person", "left_weight", "right_weight", "rel_beside",
       # the span model's reading (qa/spans.py), filled by ``with_spans``
       "span_gap", "span_top", "span_known", "src_model"]
    + [f"{side}={c}" for side in ("left", "right", "first", "last") for c in _POS_CLASSES]
)
INDEX = {f: i for i, f in enumerate(FEATURES)}
# The question-kind model's probability that the question wants this candidate's kind.
# (Crossing kind readings with every candidate feature was measured and dropped: held-out
# F1 .60 against .63, the training folds overfit.)
EXPANDED = FEATURES + ["p_kind"]
_P_KIND = EXPANDED.index("p_kind")


def expand(Xb: np.ndarray, p_kind: np.ndarray) -> np.ndarray:
    """Base features + P(question wants the candidate's kind)."""
    if not len(Xb):
        return np.zeros((0, len(EXPANDED)), np.float32)
    cand_kind = Xb[:, :len(KINDS)].argmax(axis=1)
    return np.hstack([Xb, p_kind[cand_kind][:, None]]).astype(np.float32)


@lru_cache(maxsize=8192)
def _mark_positions(sentence: str) -> tuple[int, ...]:
    marks = forms()["clause_marks"]  # single characters
    return tuple(i for i, ch in enumerate(sentence) if ch in marks)


def _clause_bounds(sentence: str, a: int, b: int) -> tuple[int, int]:
    """[lo, hi): the clause around a span, between the clause marks before ``a`` and from ``b``."""
    pos = _mark_positions(sentence)
    k = bisect_left(pos, a)
    lo = pos[k - 1] + 1 if k else 0
    k = bisect_left(pos, b)
    return lo, pos[k] if k < len(pos) else len(sentence)


def clause_ranges(sentence: str) -> list[tuple[int, int]]:
    """[lo, hi) of each clause of a sentence, as ``_clause_bounds`` cuts them (marks excluded)."""
    return chunking.clause_ranges(sentence, forms()["clause_marks"])


@lru_cache(maxsize=8192)
def _occurrences(sentence: str, terms: tuple[str, ...]) -> tuple[tuple[tuple[int, int], ...], ...]:
    """(start, end) of every occurrence of each term, overlapping ones included."""
    out = []
    for term in terms:
        occ, i = [], sentence.find(term)
        while i >= 0:
            occ.append((i, i + len(term)))
            i = sentence.find(term, i + 1)
        out.append(tuple(occ))
    return tuple(out)


def proximity(sentence: str, a: int, b: int, terms: dict[str, float]) -> float:
    """0..1: how tightly the question's terms surround a span, clause breaks counting double."""
    total = sum(terms.values()) or 1.0
    seps = _separators(sentence)
    score = 0.0
    for w, occ in zip(terms.values(), _occurrences(sentence, tuple(terms))):
        best = 0.0
        for i, j in occ:
            if not (i >= a and j <= b):  # a term inside the span itself doesn't count
                lo, hi = (j, a) if j <= a else (b, i)
                gap = max(0, hi - lo)
                clauses = seps[hi] - seps[lo] if gap else 0
                best = max(best, 1.0 / (1.0 + gap / 6.0) / (1 + 2 * clauses))
        score += w * best
    return score / total


def _beside(sentence: str, a: int, b: int, terms: dict[str, float]) -> tuple[bool, bool, float, float]:
    """What stands right beside a span: whether a question term (2+ characters) ends within 3
    characters before ``a`` / starts within 3 after ``b``, and the shares of the question's term
    weight that do so with no 、 or clause mark between (团体标准2.1万项 outweighs 地方标准3.4万项
    for a 团体标准 question, where both have 标准 beside them)."""
    left_any, right_any, left, right = _beside_tables(sentence, tuple(terms.items()))
    return left_any[a], right_any[b], left[a], right[b]


@lru_cache(maxsize=4096)
def _beside_tables(sentence: str, terms: tuple[tuple[str, float], ...]) -> tuple[list, ...]:
    """The four readings of ``_beside`` for a span starting (left) / ending (right) at each
    offset, computed once per sentence and question."""
    total = sum(w for _, w in terms) or 1.0
    n = len(sentence)
    item_break = forms()["_re"]["item_break"]  # a list item's neighbour is the next item's
    left_any, right_any = [False] * (n + 1), [False] * (n + 1)
    left, right = [0.0] * (n + 1), [0.0] * (n + 1)
    for (term, w), occ in zip(terms, _occurrences(sentence, tuple(t for t, _ in terms))):
        near_left, near_right = set(), set()
        for i, j in occ:
            for k in range(j, min(n, j + 3) + 1):
                left_any[k] = left_any[k] or len(term) >= 2
                if not item_break.search(sentence, j, k):
                    near_left.add(k)
            for k in range(max(0, i - 3), i + 1):
                right_any[k] = right_any[k] or len(term) >= 2
                if not item_break.search(sentence, k, i):
                    near_right.add(k)
        for k in near_left:
            left[k] += w / total
        for k in near_right:
            right[k] += w / total
    return left_any, right_any, left, right


_LIST_SPLIT = re.compile(r"、|以及|和|及|与|或")


def list_balance(text: str) -> tuple[float, float]:
    """|log| of the first and of the last item's length against the middle items' median (the
    shorter end item for a pair): list items run parallel, so an end item much longer or
    shorter than the rest has swallowed a verb (持续推进美国、德国) or a head (县四级政府)."""
    lens = [len(p) for p in _LIST_SPLIT.split(text) if p]
    if len(lens) < 2:
        return 0.0, 0.0
    ref = float(np.median(lens[1:-1])) if len(lens) > 2 else float(min(lens))
    return abs(math.log(lens[0] / ref)), abs(math.log(lens[-1] / ref))


def _items(text: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """[a, b) of each item of a list in text[lo:hi]."""
    out, pos = [], lo
    for m in _LIST_SPLIT.finditer(text, lo, hi):
        out.append((pos, m.start()))
        pos = m.end()
    out.append((pos, hi))
    return [(a, b) for a, b in out if b > a]


@lru_cache(maxsize=8192)
def respective(sentence: str) -> tuple[tuple[list, list], ...]:
    """Parallel lists joined by 分别 ("respectively"): A、B和C分别为x、y和z. Each pair is (items,
    values) as offset ranges; the values run from 分别 to the next clause mark, the items are the
    nearest clause before it that splits into as many parts."""
    marks = _mark_positions(sentence)
    out = []
    for m in re.finditer("分别", sentence):
        end = next((i for i in marks if i >= m.end()), len(sentence))
        values = _items(sentence, m.end(), end)
        if len(values) < 2:
            continue
        cuts = [-1] + [i for i in marks if i < m.start()] + [m.start()]
        for k in range(len(cuts) - 1, 0, -1):
            items = _items(sentence, cuts[k - 1] + 1, cuts[k])
            if len(items) == len(values):
                out.append((items, values))
                break
    return tuple(out)


def _respective_fit(sentence: str, a: int, b: int, terms: dict[str, float]) -> tuple[float, float]:
    """For a span inside one list of a 分别 pair: how much of the question its partner in the
    other list covers, against the best-covered partner (0 = the best), and whether it is the
    single best. A growth rate answers for the field it is paired with, not its neighbour's."""
    for items, values in respective(sentence):
        for mine, other in ((items, values), (values, items)):
            k = next((i for i, (x, y) in enumerate(mine) if x <= a and b <= y), None)
            if k is None:
                continue
            covers = [_cover(sentence[x:y], terms) for x, y in other]
            top = max(covers)
            if top > 0:
                return covers[k] - top, float(covers[k] == top and covers.count(top) == 1)
    return 0.0, 0.0


@lru_cache(maxsize=8192)
def _person_spans(sentence: str) -> frozenset:
    """(start, end) of each person's name in the sentence (jieba's nr words, and runs of them
    split by spaces: 李华 王芳), read from the sentence's own segmentation."""
    out, run, pos = set(), [], 0
    for w, f in _words(sentence):
        if f.startswith("nr"):
            out.add((pos, pos + len(w)))
            run.append((pos, pos + len(w)))
            if len(run) > 1:
                out.add((run[0][0], pos + len(w)))
        elif w.strip():
            run = []
        pos += len(w)
    return frozenset(out)


def _cover(text: str, terms: dict[str, float]) -> float:
    total = sum(terms.values()) or 1.0
    return sum(w for t, w in terms.items() if t in text) / total


def featurize(q: Question, s: Sentence, span: Span, dup: int = 0, blanks: tuple = ()) -> np.ndarray:
    x = [0.0] * len(FEATURES)  # a list: item assignment is ~10x cheaper than on an array
    sent, a, b = s.text, span.a, span.b
    text = sent[a:b]
    rx = forms()["_re"]
    x[INDEX[f"kind={span.kind}"]] = 1
    if span.kind == q.kind:
        x[INDEX[f"match:q={q.kind}"]] = 1
    elif span.kind in forms()["compatible_kinds"].get(q.kind, []):
        x[INDEX["compatible"]] = 1
    if q.kind in NUMERIC and span.kind not in NUMERIC:
        x[INDEX["numeric_q_span_c"]] = 1
    if q.units and span.kind in NUMERIC:
        ok = any(text.endswith(u) or u in text[-4:] for u in q.units) if len(q.units) > 1 or \
            q.units in forms()["measure_words"] else q.units in text[-4:]
        x[INDEX["unit_ok" if ok else "unit_bad"]] = 1
    x[INDEX["proximity"]] = proximity(sent, a, b, q.terms)
    lo, hi = _clause_bounds(sent, a, b)
    clause = sent[lo:hi]
    x[INDEX["clause_cover"]] = _cover(clause.replace(text, ""), q.terms)
    x[INDEX["sentence_cover"]] = _cover(sent, q.terms)
    # the candidate's own clause against the question (relative to the best, in ``candidates``)
    x[INDEX["clause_dense_gap"]] = s.clause_sims.get((lo, hi), s.sim)
    x[INDEX["clause_share"]] = x[INDEX["clause_cover"]] / x[INDEX["sentence_cover"]] \
        if x[INDEX["sentence_cover"]] else 0.0
    qtext = q.text if q.lang == "zh" else "".join(q.terms)
    chars = [ch for ch in text if not ch.isspace()]
    x[INDEX["overlap"]] = sum(ch in qtext for ch in chars) / max(len(chars), 1)
    digits = re.findall(r"\d+(?:\.\d+)?", text)  # 2012年 repeats a question naming 2012
    x[INDEX["in_question"]] = float(text in q.text or any(text == t for t in q.terms)
                                    or bool(digits) and all(d in q.text for d in digits))
    x[INDEX["dense_gap"]] = max(-0.2, s.dense_gap)
    x[INDEX["passage_gap"]] = max(-0.2, s.passage_gap)
    x[INDEX[f"prank{min(s.passage_rank, 2)}"]] = 1
    lead = sent[max(0, a - 4):a]
    new, old = bool(rx["to_new"].search(lead)), bool(rx["from_old"].search(lead))
    if span.kind in NUMERIC:
        x[INDEX["new_value"]] = new and not q.before
        x[INDEX["old_value"]] = old and not q.before
        x[INDEX["new_but_before"]] = new and q.before
        x[INDEX["old_and_before"]] = old and q.before
        rate = bool(rx["growth_lead"].search(sent[max(0, a - 8):a])) and span.kind == "percent"
        x[INDEX["rate_lead_growth_q" if q.kind == "growth" else "rate_lead_other_q"]] = rate
    ctx = s.context
    if q.places:
        x[INDEX["place_agree"]] = any(mentions_place(p, sent) or mentions_place(p, ctx) for p in q.places)
        x[INDEX["place_conflict"]] = not any(mentions_place(p, ctx) for p in q.places)
    else:
        x[INDEX["q_places_none"]] = 1
    if q.years:
        x[INDEX["year_agree"]] = any(y in sent for y in q.years)
        x[INDEX["year_conflict"]] = bool(_YEAR.search(sent)) and not any(y in sent for y in q.years)
        # the year the question asks about is stated neither in the sentence nor around it
        x[INDEX["year_absent"]] = not any(y in sent or y in ctx for y in q.years)
    if q.heads:
        if any(text.endswith(h) for h in q.heads):
            x[INDEX["head_ok"]] = 1
        elif any(sent.startswith(h, b) for h in q.heads):
            x[INDEX["head_follows"]] = 1
        else:
            x[INDEX["head_missing"]] = 1
    if (a, b) in _person_spans(sent):  # 张明; 李华 王芳: what 谁 / who asks for
        x[INDEX["who_person" if q.asks_who else "person"]] = 1
    x[INDEX["log_len"]] = math.log(1 + len(text))
    x[INDEX["clause_whole"]] = span.source == "clause"
    # where the question's blank stands (``blank_spans``): exactly, or inside it
    x[INDEX["blank"]] = any(a == bl.a and b == bl.b for bl in blanks)
    x[INDEX["in_blank"]] = not x[INDEX["blank"]] and any(bl.a <= a and b <= bl.b for bl in blanks)
    for src in ("quote", "np", "head", "org", "list", "blank", "model"):
        x[INDEX[f"src_{src}"]] = span.source == src
    x[INDEX["list_items"]] = text.count("、") / 4.0
    if span.source == "list":
        x[INDEX["list_first_off"]], x[INDEX["list_last_off"]] = list_balance(text)
    x[INDEX["starts_clause"]] = a == lo or sent[lo:a].strip() == ""
    x[INDEX["ends_clause"]] = b == hi or sent[b:hi].strip() == ""
    x[INDEX["dup_in_top"]] = min(dup, 3) / 3.0
    if "分别" in sent:
        x[INDEX["resp_gap"]], x[INDEX["resp_best"]] = _respective_fit(sent, a, b, q.terms)
    x[INDEX["left_align"]] = _align(sent[max(0, a - 8):a], "l", q.before_blank, True)
    x[INDEX["right_align"]] = _align(sent[b:b + 8], "r", q.after_blank, False)
    x[INDEX["left_term"]], x[INDEX["right_term"]], x[INDEX["left_weight"]], x[INDEX["right_weight"]] = \
        _beside(sent, a, b, q.terms)
    for side, c in zip(("left", "right", "first", "last"), _edges(sent, a, b)):
        x[INDEX[f"{side}={c}"]] = 1
    return np.array(x, dtype=np.float32)


def candidates(q: Question, sentences: list[Sentence],
               extra: list[tuple[Sentence, Span]] = ()) -> tuple[list[tuple[Sentence, Span]], np.ndarray]:
    """Every candidate span of the sentences (and ``extra`` ones, such as the span model's
    own proposals), and its feature matrix."""
    pairs, blanks = [], {}
    for s in sentences:
        spans = sentence_spans(s.text)
        pairs += [(s, sp) for sp in spans]
        have = {(sp.a, sp.b) for sp in spans}
        pairs += [(t, sp) for t, sp in extra if t is s and (sp.a, sp.b) not in have]
        if q.before_blank or q.after_blank:
            blanks[id(s)] = bl = blank_spans(s.text, q.before_blank, q.after_blank)
            if bl:
                have = {(sp.a, sp.b) for sp in spans}
                pairs += [(s, sp) for sp in bl if (sp.a, sp.b) not in have]
    counts: dict[str, int] = {}
    for s, sp in pairs:
        t = s.text[sp.a:sp.b]
        counts[t] = counts.get(t, 0) + 1
    if not pairs:
        return pairs, np.zeros((0, len(FEATURES)), np.float32)
    X = np.stack([featurize(q, s, sp, counts[s.text[sp.a:sp.b]] - 1, blanks.get(id(s), ()))
                  for s, sp in pairs])
    for name in ("proximity", "clause_cover", "sentence_cover"):  # against the question's best candidate
        col = X[:, INDEX[name]]
        X[:, INDEX[f"rel_{name}"]] = col - col.max()
    j = INDEX["clause_dense_gap"]  # raw similarity until here; now against the best clause
    X[:, j] -= X[:, j].max()
    kinds = X[:, :len(KINDS)].argmax(axis=1)  # proximity against the best candidate of the same kind
    prox = X[:, INDEX["proximity"]]
    beside = X[:, INDEX["left_weight"]] + X[:, INDEX["right_weight"]]
    for k in set(kinds.tolist()):
        sel = kinds == k
        X[sel, INDEX["rel_kind_proximity"]] = prox[sel] - prox[sel].max()
        X[sel, INDEX["rel_beside"]] = beside[sel] - beside[sel].max()
    return pairs, X


SPAN_FLOOR = -15.0  # span scores are clipped here; a span no passage holds reads as this
SPAN_COLUMNS = ("span_gap", "span_top", "span_known")


def with_spans(X: np.ndarray, scores: np.ndarray | None) -> np.ndarray:
    """Fill the span-model columns: each candidate's score against the best one's; with no
    span model (``None``), NaN, which the fitted models read as their training mean."""
    if not len(X):
        return X
    if scores is None:
        X[:, [INDEX[c] for c in SPAN_COLUMNS]] = np.nan
        return X
    known = ~np.isnan(scores)
    sc = np.where(known, np.clip(scores, SPAN_FLOOR, -SPAN_FLOOR), SPAN_FLOOR)
    X[:, INDEX["span_gap"]] = np.maximum(sc - sc.max(), SPAN_FLOOR)
    X[:, INDEX["span_top"]] = sc >= sc.max()
    X[:, INDEX["span_known"]] = known
    return X


# ---- the fitted model -----------------------------------------------------------

@dataclass
class Logistic:
    """A fitted logistic over standardised inputs; a missing input (NaN) reads as its training mean."""
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def p(self, x: np.ndarray) -> float:
        x = np.where(np.isnan(x), self.mean, x)  # a missing signal (no span model) says nothing
        z = float(((x - self.mean) / self.scale) @ self.coef + self.intercept)
        return 1.0 / (1.0 + math.exp(-z))

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept}

    @classmethod
    def from_json(cls, d: dict):
        return cls(np.array(d["mean"], np.float32), np.array(d["scale"], np.float32),
                   np.array(d["coef"], np.float32), float(d["intercept"]))


@dataclass
class Abstainer(Logistic):
    """P(the documents do not answer) from answerability signals (reader.SIGNALS)."""
    threshold: float = 1.0

    def to_json(self) -> dict:
        return super().to_json() | {"threshold": self.threshold}

    @classmethod
    def from_json(cls, d: dict) -> "Abstainer":
        ab = super().from_json(d)
        ab.threshold = float(d["threshold"])
        return ab


# What the confidence reads of a pick: the ranker's score and margin, and how the span model
# sees the question (its best score) and the pick (its gap to that best, whether it is the best,
# whether it read it at all); and whether the runner-up is the same answer with other bounds.
# (Score and margin alone, on held-out folds of the 1,080 pool: coverage .269 at precision .903;
# with the span columns .318 at .908; with the runner-up .337 at .903.) Then how the ranker's own
# softmax backs the pick (its share, and the share of every candidate with the same text, read in
# other sentences or passages), the language, how sure the question-kind model is of the pick's
# kind, how many candidates there were and the pick's passage: held-out AUC .792 -> .812, coverage
# .238 -> .307 at precision .893 -> .900 (2,108 pool, one retrieval pass).
# Then the pick's expected character F1 against the ranker's softmax over its top candidates.
CALIBRATION = ["score", "margin", "span_best", "span_gap", "span_top", "span_known", "runner_up_nested",
               "top_share", "same_text_share", "english", "p_kind", "candidates", "passage_rank",
               "expected_f1"]
# The pick weighs the ranker's top candidates by how much each agrees with the others (minimum Bayes
# risk: the span of highest expected character F1 under the ranker's softmax at the model's
# ``temperature``; 0 picks the top score). Held out, one retrieval pass (2,242 pool), top-1 F1 .697
# by the top score, .703 / .705 / .693 at temperatures .5 / 1 / 2 over the top 10.
MBR_TOP = 10
TEMPERATURES = (0.0, 0.5, 1.0)  # the choices ``cv.calibrate`` weighs on inner out-of-fold picks


@dataclass
class Pick:
    """The ranker's choice among one question's candidates."""
    i: int  # index of the best candidate (-1: none)
    score: float
    margin: float  # over the runner-up
    evidence: np.ndarray  # CALIBRATION row


def pick(model: "AnswerModel", X: np.ndarray, texts: list[str], span_best: float, english: bool) -> Pick:
    """The best candidate of ``X`` (EXPANDED rows), with what its confidence reads."""
    if not len(X):
        return Pick(-1, 0.0, 0.0, np.full(len(CALIBRATION), np.nan, np.float32))
    sc = model.scores(X)  # once, and sorted once: the pick, its runner-up and the shares all read it
    order = np.argsort(-sc)
    top = order[:MBR_TOP]
    agree = _agreement([texts[j] for j in top])
    i = int(top[0])
    if model.temperature > 0 and len(top) > 1:
        i = int(top[int(np.argmax(agree @ _softmax(sc[top], model.temperature)))])
    best = float(sc[i])
    margin = 5.0
    if len(sc) > 1:  # against the best other candidate, from the one sort
        margin = min(best - float(sc[order[1] if i == order[0] else order[0]]), 5.0)
    expected = float(agree[int(np.flatnonzero(top == i)[0])] @ _softmax(sc[top], 1.0))
    share = _softmax(sc, 1.0)
    nested = 0.0
    if len(X) > 1:
        j = int(order[1])
        nested = float(texts[i] in texts[j] or texts[j] in texts[i])
    same = float(sum(w for t, w in zip(texts, share) if t == texts[i]))
    span = [float(X[i, INDEX[c]]) for c in SPAN_COLUMNS]
    rank = next((r for r in (0, 1, 2) if X[i, INDEX[f"prank{r}"]]), 2)
    return Pick(i, best, margin, np.array([best, margin, span_best, *span, nested, share[i], same, float(english),
                                           X[i, _P_KIND], len(X), rank, expected], np.float32))


def _softmax(sc: np.ndarray, temperature: float) -> np.ndarray:
    w = np.exp((sc - sc.max()) / temperature)
    return w / w.sum()


def _agreement(texts: list[str]) -> np.ndarray:
    """Character F1 of each text against each other one (1 on the diagonal)."""
    n = len(texts)
    out = np.eye(n)
    for a in range(n):
        for b in range(a + 1, n):
            out[a, b] = out[b, a] = char_f1(texts[a], texts[b])
    return out


@dataclass
class AnswerModel:
    """Logistic scores over candidates, plus a calibration of the best one's chance of being right."""
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    calib: Logistic | None = None  # P(the pick is right) from its CALIBRATION row
    threshold: float = 0.9  # confidence at or above which a span is shown as the answer
    meta: dict = field(default_factory=dict)
    kinds: object = None  # qkind.KindModel
    abstain: "Abstainer | None" = None
    temperature: float = 0.0  # of the expected-F1 pick (see MBR_TOP); 0: the top score

    def features(self, q: Question, Xb: np.ndarray) -> np.ndarray:
        return expand(Xb, self.kinds.proba(q.text, q.lang))

    def scores(self, X: np.ndarray) -> np.ndarray:
        X = np.where(np.isnan(X), self.mean, X)  # a missing reading (no span model) says nothing
        return ((X - self.mean) / self.scale) @ self.coef + self.intercept

    def confidence(self, p: Pick) -> float:
        if p.i < 0:
            return 0.0
        return self.calib.p(p.evidence) if self.calib is not None else 0.5

    def to_json(self) -> dict:
        return {"features": list(EXPANDED), "kinds": self.kinds.to_json(),
                "abstain": self.abstain.to_json() if self.abstain else None, "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept, "calib": self.calib.to_json() if self.calib else None,
                "calibration": CALIBRATION, "temperature": self.temperature,
                "threshold": self.threshold, "meta": self.meta}

    @classmethod
    def from_json(cls, d: dict, ranker_only: bool = False) -> "AnswerModel":
        """``ranker_only``: the ranker alone, whatever its calibration read (``cv.recalibrate`` refits it)."""
        if d.get("features") != list(EXPANDED):
            raise ValueError("the answer model was fitted on other features; refit it with qa eval --cv --save")
        same_calib = d.get("calibration") == CALIBRATION
        if not same_calib and not ranker_only:
            raise ValueError("the answer model's confidence reads other inputs; refit it with qa eval --recalibrate")
        keep = same_calib and not ranker_only
        return cls(np.array(d["mean"], np.float32), np.array(d["scale"], np.float32),
                   np.array(d["coef"], np.float32), float(d["intercept"]),
                   Logistic.from_json(d["calib"]) if keep else None, float(d["threshold"]), d.get("meta", {}),
                   KindModel.from_json(d["kinds"]), Abstainer.from_json(d["abstain"]) if keep and d.get("abstain") else None,
                   float(d.get("temperature", 0.0)) if keep else 0.0)

    def save(self, path: Path = MODEL_PATH) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")


_MODEL: AnswerModel | None = None


def load_model(path: Path = MODEL_PATH) -> AnswerModel:
    global _MODEL
    if _MODEL is None or path != MODEL_PATH:
        model = AnswerModel.from_json(json.loads(path.read_text(encoding="utf-8")))
        if path != MODEL_PATH:
            return model
        _MODEL = model
    return _MODEL


def best_of(model: AnswerModel, X: np.ndarray) -> tuple[int, float, float]:
    """(index of the top-scored candidate, its score, its margin over the runner-up); ``pick`` may
    choose another of the top ones by expected F1."""
    if not len(X):
        return -1, 0.0, 0.0
    sc = model.scores(X)
    order = np.argsort(-sc)
    margin = float(sc[order[0]] - sc[order[1]]) if len(sc) > 1 else 5.0
    return int(order[0]), float(sc[order[0]]), min(margin, 5.0)
