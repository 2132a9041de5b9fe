"""Answer candidates: what kind of answer a question asks for, and every span
of a sentence that could be one.

Everything specific lives in ``data/answer_forms.json``: question forms,
measure words, change verbs, phrase and organisation heads. This module only
turns those tables into spans; choosing among the spans is the ranker's job
(``qa/ranker.py``), so generation errs on the side of too many candidates.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .lexical import ZH_STOP, _jieba

DATA = Path(__file__).resolve().parent / "data" / "answer_forms.json"
KINDS = ("count", "money", "duration", "date", "percent", "growth", "rank", "name", "list", "org",
         "phrase")
NUMERIC = {"count", "money", "duration", "percent", "growth", "rank", "date"}


@lru_cache(maxsize=1)
def forms() -> dict:
    table = json.loads(DATA.read_text(encoding="utf-8"))
    by_len = lambda words: "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))  # noqa: E731
    num = r"(?:\d+(?:\.\d+)?|[一二两三四五六七八九十百千]+)(?:多|余)?(?:万|亿)?(?:多|余)?"  # 2.5万余项
    table["_colloquial"] = sorted(((k, v) for k, v in table["colloquial"].items() if k != "_doc"),
                                  key=lambda kv: -len(kv[0]))
    table["_re"] = {
        "question": {lang: [(kind, re.compile(p, re.I)) for kind, p in rows]
                     for lang, rows in table["question_forms"].items()},
        "en_units": [(re.compile(p), units) for p, units in table["en_head_units"]],
        "to_new": re.compile(table["change_to_new"]),
        "from_old": re.compile(table["change_from_old"]),
        "growth_lead": re.compile(table["growth_lead"]),
        "before": re.compile(table["asks_before"], re.I),
        "money": re.compile(rf"{num}(?:{by_len(table['money_units'])})"),
        "duration": re.compile(rf"{num}(?:{by_len(table['duration_units'])})(?!度|\d|月|底|初|末)"),
        "count": re.compile(rf"{num}(?:{by_len(table['measure_words'])})"),
        "percent": re.compile(rf"{num}(?:%|％|倍|个百分点|成(?![立为果员功本绩熟]))|百分之{num}|"
                              r"[一二三四五六七八九十]+分之[一二三四五六七八九十]+|"
                              r"(?<![\d/])\d+/\d+(?![\d/])"),
        "date": re.compile(r"(?:19|20)\d\d[—\-–~至到](?:19|20)\d\d年|"
                           r"(?:19|20)\d\d年(?:\d{1,2}月)?(?:\d{1,2}日)?|(?<!\d)\d{1,2}月\d{1,2}日|"
                           r"(?:19|20)\d\d-\d{1,2}-\d{1,2}"),
        "range": re.compile(r"[至到~\-—–]"),
        "rank": re.compile(r"第[\d一二三四五六七八九十]+(?:名|位)?|(?<![\d.])\d+位|首位|首家|首个|首批|"
                           r"(?:全国|全省|全球|世界)(?:第[一二三四五六七八九十\d]+|首位|前列|领先)"),
        "name": re.compile(r"《([^》\n]{1,40})》|“([^”\n]{1,30})”|\"([^\"\n]{1,30})\""),
        "quote_run": re.compile(r"“[^”\n]{1,30}”(?:[、和及与]?“[^”\n]{1,30}”)+"),
        "phrase_head": re.compile(by_len(table["phrase_heads"])),
        "org_head": re.compile(by_len(table["org_heads"])),
        "clause": re.compile(rf"[^{re.escape(table['clause_marks'])}\n]+"),
        "clause_mark": re.compile(rf"[{re.escape(table['clause_marks'])}\n]"),
        "item_break": re.compile(rf"[、{re.escape(table['clause_marks'])}]"),
    }
    return table


# ---- the question -------------------------------------------------------------

def written_form(question: str) -> str:
    """A Chinese question with its spoken interrogatives in written form (叫啥 -> 叫什么)."""
    for spoken, written in forms()["_colloquial"]:
        question = question.replace(spoken, written)
    return question


def question_kind(question: str, lang: str) -> str:
    """The answer kind a question asks for (``phrase`` when no form matches)."""
    q = written_form(question) if lang == "zh" else question.lower()
    for kind, pattern in forms()["_re"]["question"][lang]:
        if pattern.search(q):
            return kind
    return "phrase"


def wanted_units(question: str, lang: str) -> str:
    """Measure words the question counts in (多少件 -> 件; how many companies -> 家)."""
    if lang == "zh":
        for word in sorted(forms()["measure_words"], key=len, reverse=True):
            if re.search(rf"(?:多少|几)(?:个)?{re.escape(word)}", question):
                return word
        m = re.search(r"([次人件家项个])数", question)
        return m.group(1) if m else ""
    m = re.search(r"how many ([a-z\- ]+?)(?: (?:did|do|does|were|was|are|is|has|have|had|can|will|in|of|for|"
                  r"on|at|by|from)\b|[?,.]|$)", question.lower())
    if m:
        for pattern, units in forms()["_re"]["en_units"]:
            if pattern.search(m.group(1)):
                return units
    return ""


def asks_before(question: str) -> bool:
    return bool(forms()["_re"]["before"].search(question))


_ZH_ASK = re.compile(r"(?:什么样的|什么|哪一?[个种类项家部份条所位支批]|哪几[个种类项家部份条所位]?|哪些|何种)"
                     r"([\u4e00-\u9fff]{1,8})")
_EN_ASK = re.compile(r"\b(?:which|what)\s+(?:(?:kind|type|sort|form)s?\s+of\s+)?([a-z\-]+)(?:\s+([a-z\-]+))?")


def question_heads(question: str, lang: str, translate=None) -> set[str]:
    """Head nouns a 什么/哪个 (which/what) question asks for: 哪个审判庭 -> {审判庭}."""
    heads: set[str] = set()
    if lang == "zh":
        m = _ZH_ASK.search(question)
        if m:  # the noun phrase after the interrogative; Chinese heads come last
            run = []
            for w, f in _words(m.group(1)):
                if f[:1] not in "nvjlb" or w in ZH_STOP or (f[:1] == "v" and run):
                    break
                run.append(w)
            if run:
                heads.update(h for h in (run[-1], "".join(run)) if len(h) >= 2 or h in "制局部厅区县市")
        return heads
    m = _EN_ASK.search(question.lower())
    if m and translate is not None:
        for word in filter(None, m.groups()):
            heads.update(zh for zh in translate(word) if len(zh) >= 1)
    return heads


# ---- the sentence ---------------------------------------------------------------

@dataclass(frozen=True)
class Span:
    a: int  # offsets relative to the sentence
    b: int
    kind: str
    source: str  # pattern | quote | list | np | head | org | clause | blank


@lru_cache(maxsize=4096)
def _words(clause: str) -> tuple[tuple[str, str], ...]:
    import jieba.posseg as pseg

    _jieba()
    return tuple((w, f) for w, f in pseg.lcut(clause))


_NOUNISH = {"n", "nz", "nt", "ns", "nr", "nrt", "nrfg", "j", "l", "eng", "vn", "an", "b", "ng", "x", "m", "q"}
_WORDY = re.compile(r"[\w\u4e00-\u9fff]")
_GLUE = {"的", "和", "与", "及", "、"}
_JOIN = {"和", "及", "与", "或", "以及"}
_LIST_CLOSE = {"等", "等等"}
_QUOTES = set("“”《》\"")
_SPECIFIC = {"clause": 0, "np": 1, "list": 2, "head": 3, "org": 4, "pattern": 5, "quote": 6}
_LEADING = set("vpcu")  # posseg classes a head-anchored name never starts with (verbs, particles)


def sentence_spans(sentence: str) -> tuple[Span, ...]:
    return _spans(sentence)


@lru_cache(maxsize=8192)
def _spans(sentence: str) -> tuple[Span, ...]:
    rx = forms()["_re"]
    out: dict[tuple[int, int], Span] = {}

    def add(a: int, b: int, kind: str, source: str) -> None:
        while a < b and sentence[a] in " \u3000\t":
            a += 1
        while b > a and sentence[b - 1] in " \u3000\t":
            b -= 1
        old = out.get((a, b))
        if b - a >= 1 and (old is None or _SPECIFIC[source] > _SPECIFIC[old.source]):
            out[(a, b)] = Span(a, b, kind, source)  # the same span keeps its most specific reading

    typed = []
    for kind in ("date", "money", "percent", "duration", "count", "rank"):
        for m in rx[kind].finditer(sentence):
            add(m.start(), m.end(), kind, "pattern")
            typed.append((m.start(), m.end(), kind))
    approx = forms()["approximate"]
    for a1, b1, k1 in typed:  # 超过300万元, 三周左右: the qualified figure is a reading too
        pre = next((w for w in approx["before"] if sentence.startswith(w, a1 - len(w))), "")
        post = next((w for w in approx["after"] if sentence.startswith(w, b1)), "")
        for a, b in {(a1 - len(pre), b1), (a1, b1 + len(post)), (a1 - len(pre), b1 + len(post))} - {(a1, b1)}:
            add(a, b, k1, "pattern")
    for a1, b1, k1 in typed:  # ranges: 3个月至6个月, 2022年1月至2023年7月
        for a2, b2, k2 in typed:
            if k1 == k2 and b2 > b1 and 0 < a2 - b1 <= 1 and rx["range"].fullmatch(sentence[b1:a2]):
                add(a1, b2, k1, "pattern")
    for m in rx["name"].finditer(sentence):
        g = next(i for i in (1, 2, 3) if m.group(i) is not None)
        add(m.start(g), m.end(g), "name", "quote")
    for m in rx["quote_run"].finditer(sentence):  # “甲牌”“乙牌”: quoted names in a row
        add(m.start(), m.end(), "list", "list")
    for cm in rx["clause"].finditer(sentence):
        _clause_spans(sentence, cm.start(), cm.end(), add)
    return tuple(out.values())


def _clause_spans(sentence: str, c0: int, c1: int, add) -> None:
    rx = forms()["_re"]
    clause = sentence[c0:c1]
    if c1 - c0 <= 30:
        add(c0, c1, "phrase", "clause")
    words = _words(clause)
    bounds = [0]
    for w, _ in words:
        bounds.append(bounds[-1] + len(w))
    # noun-phrase runs (posseg): the whole run and its head-final suffixes
    def nounish(k: int) -> bool:
        w, f = words[k]
        return f in _NOUNISH and w not in _GLUE and bool(_WORDY.search(w))

    i = 0
    while i < len(words):
        if not nounish(i):
            i += 1
            continue
        j = i
        while j < len(words) and (nounish(j) or (words[j][0] == "的" and j + 1 < len(words) and nounish(j + 1))):
            j += 1
        for s in range(i, j):  # every sub-run of up to 4 words, the whole run too
            for e in range(s + 1, j + 1):
                if (e - s <= 4 or (s, e) == (i, j)) and words[s][0] != "的" and words[e - 1][0] != "的" \
                        and bounds[e] - bounds[s] >= 2:
                    add(c0 + bounds[s], c0 + bounds[e], "phrase", "np")
        i = j
    # spans ending in a phrase head (X机制, X制) or an organisation head (X局)
    for key, kind in (("phrase_head", "phrase"), ("org_head", "org")):
        for m in rx[key].finditer(clause):
            end = m.end()
            if end not in bounds:  # the head must end on a word boundary
                continue
            k = bounds.index(end)
            for s in range(max(0, k - 6), k):
                if bounds[k] - bounds[s] > len(m.group()) and words[s][0] not in _GLUE \
                        and words[s][1][:1] not in _LEADING:  # 并收到X局 is not a name; X局 is
                    add(c0 + bounds[s], c0 + end, kind, "head" if kind == "phrase" else "org")
    # 、-lists: every item boundary choice of the first and last item
    if "、" in clause:
        _list_spans(clause, c0, words, bounds, add)
    else:
        _pair_spans(words, bounds, c0, add)


def _pair_spans(words, bounds, c0: int, add) -> None:
    """X和Y, X及Y: a list of two items, each up to 3 words (实用新型和外观设计)."""
    def item_word(k: int) -> bool:
        return words[k][0] not in _GLUE and words[k][1] not in {"uj", "p", "c"} and bool(_WORDY.search(words[k][0]))

    for m, (w, _) in enumerate(words):
        if w not in _JOIN:
            continue
        for s in range(max(0, m - 3), m):
            if not all(item_word(k) for k in range(s, m)):
                continue
            for e in range(m + 2, min(len(words), m + 4) + 1):
                if all(item_word(k) for k in range(m + 1, e)):
                    add(c0 + bounds[s], c0 + bounds[e], "list", "list")


def _list_spans(clause: str, c0: int, words, bounds, add) -> None:
    seps = [i for i, (w, _) in enumerate(words) if w == "、"]
    groups, cur = [], [seps[0]]
    for s in seps[1:]:
        if s - cur[-1] <= 6:
            cur.append(s)
        else:
            groups.append(cur)
            cur = [s]
    groups.append(cur)
    for g in groups:
        first, last = g[0], g[-1]
        tail_end = last + 1
        # the last item runs up to 6 words, through a joined final item (和/及/与/或 + item), and
        # stops at 等 or 的, a preposition or conjunction, or a mark: verb items (快速受理、快速审查) too
        ends = []
        k = tail_end
        while k < len(words) and k - tail_end < 6:
            w, f = words[k]
            if w in _LIST_CLOSE or f == "uj" or (f in {"p", "c"} and w not in _JOIN) \
                    or not (_WORDY.search(w) or w in _QUOTES):
                break
            k += 1
            if w not in _JOIN:
                ends.append(k)
        for s in range(max(0, first - 5), first):
            for e in ends[:6]:
                if words[s][0] not in _GLUE:
                    add(c0 + bounds[s], c0 + bounds[e], "list", "list")


# ---- the blank: where the question's interrogative would stand in the sentence ---

_BLANK_STOP = set("，。；：、！？,.;:!?（）()“”\"《》「」 \u3000\n")
_BLANK_MAX = 30


def _anchor_pieces(text: str, from_end: bool) -> list[str]:
    """Pieces of 6 down to 2 characters at the end (start) of a question's text beside its blank."""
    out = []
    for k in range(6, 1, -1):
        piece = text[-k:] if from_end else text[:k]
        if len(piece) == k and not any(c in _BLANK_STOP for c in piece):
            out.append(piece)
    return out


@lru_cache(maxsize=8192)
def blank_spans(sentence: str, before: str, after: str) -> tuple[Span, ...]:
    """Spans standing where the question's blank stands: right after the words
    before its interrogative (还要促进什么 -> 促进X), up to the words after it
    (向什么转变 -> 向X转变) or the clause mark; or, with no left anchor, from the
    clause start up to the right anchor. General question-side alignment: no
    question's wording is written down anywhere."""
    trim = forms()["blank_trim"]
    lefts = _anchor_pieces(before.rstrip(trim["before"]), True)
    rights = _anchor_pieces(after.lstrip(trim["after"]), False)
    mark = forms()["_re"]["clause_mark"]
    found: set[tuple[int, int]] = set()
    for piece in lefts:  # the longest left anchor the sentence repeats
        for m in re.finditer(re.escape(piece), sentence):
            a = m.end()
            e = mark.search(sentence, a)
            e = e.start() if e else len(sentence)
            found.add((a, e))
            for r in rights:
                k = sentence.find(r, a, e + 1)
                if k > a:
                    found.add((a, k))
        if found:
            break
    if not found:
        for r in rights:
            for m in re.finditer(re.escape(r), sentence):
                k = m.start()
                start = max((x.end() for x in mark.finditer(sentence, 0, k)), default=0)
                found.add((start, k))
                if sentence[start:start + 1] and sentence[start] in trim["span_start"]:
                    found.add((start + 1, k))
            if found:
                break
    found |= {(a, b - 1) for a, b in found if b - a > 2 and sentence[b - 1] in trim["span_end"]}
    spans = []
    for a, b in sorted(found):
        text = sentence[a:b]
        if 2 <= len(text.strip()) <= _BLANK_MAX:
            spans.append(Span(a, b, "list" if "、" in text else "phrase", "blank"))
    return tuple(spans)
