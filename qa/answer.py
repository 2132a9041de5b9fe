"""Answer stage: ranked passages -> the exact answer span, or an honest None."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Callable

from .retrieve import Passage


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str | None  # exact substring of the source, None when the corpus doesn't say
    sentence: str | None  # the source sentence holding the answer
    passage: Passage | None  # the passage holding the sentence
    passages: list[Passage] = field(default_factory=list)
    confidence: float = 0.0
    start: int | None = None  # answer offsets into the source file
    end: int | None = None
    sentence_start: int | None = None
    sentence_end: int | None = None
    reason: str = ""  # why the system abstained, when it did

    def to_dict(self) -> dict:
        return asdict(self)


# ---- what kind of answer the question wants ---------------------------------

_NUM = r"\d+(?:\.\d+)?(?:万|亿)?"
_UNIT = (r"(?:个工作日|个百分点|个月|批次|亿元|万元|公斤|万亩|亩|件|项|家|人|名|个|次|款|起|条|所|场|位|例|"
         r"篇|部|台|种|座|处|户|天|年|元|吨|%|倍)")
PATTERNS = {
    "date": re.compile(r"\d{4}年(?:\d{1,2}月)?(?:\d{1,2}日)?|\d{1,2}月\d{1,2}日"),
    "duration": re.compile(rf"{_NUM}(?:个工作日|个月|天|小时|周)|(?<!\d)\d{{1,2}}年(?!度|\d)"),
    "percent": re.compile(r"\d+(?:\.\d+)?%"),
    "money": re.compile(rf"(?:人民币)?{_NUM}余?(?:元|美元)"),
    "rank": re.compile(r"第[\d一二三四五六七八九十]+(?:名|位)?|\d+位"),
    "count": re.compile(rf"{_NUM}余?{_UNIT}"),
    "name": re.compile(r"《[^》]{1,40}》|“[^”]{1,30}”"),
    "org": re.compile(r"[\u4e00-\u9fff]{2,16}(?:有限公司|股份公司|公司|联合会（\w+）|联合会|组织|大学|研究院)"),
    "address": re.compile(r"[\u4e00-\u9fff]{2,8}(?:路|街|大道)\d+号"),
    "list": re.compile(r"[\u4e00-\u9fffA-Za-z0-9]{2,12}(?:、[\u4e00-\u9fffA-Za-z0-9]{2,12})+"),
}

# Question forms, most specific first. Interrogative phrases decide the kind;
# topic words (融资, value) only refine an already numeric question.
_ZH_TYPES = [
    ("name", r"叫什么|什么名|名字|名称"),
    ("date", r"什么时候|何时|哪一年|哪年|哪个月|几月|哪一天|成立于哪"),
    ("address", r"地址|哪条路|哪条街|位于哪"),
    ("list", r"哪些|哪几|分别|哪[两三四五六七八九]"),
    ("org", r"哪个\w{0,4}(?:公司|企业|组织|机构|单位)|哪家"),
    ("rank", r"第几|排名第|排第|几名|几位"),
    ("percent", r"百分之|比例|比率|占比|率.{0,4}多少|多少%"),
    ("duration", r"多长时间|多久|多少天|几天|几个月|周期.{0,3}多少"),
    ("money", r"多少钱|(?:金额|资金|借到|贷款|融资|补助|价值|产值|收入).{0,6}多少|多少.{0,3}(?:补助|资金|钱)"),
    ("count", r"多少|几"),
    ("name", r"什么\w{0,6}(?:产品|标准|称号|荣誉|评选|模式|活动|规范|奖|行动|机制|平台)"),
]
_EN_TYPES = [
    ("name", r"\bname\b|\bcalled\b"),
    ("date", r"\bwhen\b|what year|which year|what date|what month"),
    ("address", r"\baddress\b|which (?:road|street)|where is .* located"),
    ("list", r"which (?:two|three|four|five|\d+)\b|what are the|\blist\b"),
    ("org", r"which (?:\w+ ){0,2}(?:company|enterprise|organi[sz]ation|firm|institution|university)"),
    ("rank", r"\brank|what place|which place|\bposition\b"),
    ("percent", r"\bpercent|\bshare\b|\bproportion\b|\brate\b|\bratio\b"),
    ("duration", r"how long|how much time|average time|\bperiod\b|\bcycle\b|duration|shortest time|"
                 r"how many (?:days|months|years)"),
    ("money", r"how much money|\bamount\b|\bvalue\b|worth|financ|\bloans?\b|funding|subsid"),
    ("count", r"how many|number of"),
    ("name", r"what (?:product|standard|campaign|title|honou?r|model|pilot)"),
]


def answer_type(question: str, lang: str) -> str:
    table = _ZH_TYPES if lang == "zh" else _EN_TYPES
    q = question if lang == "zh" else question.lower()
    for kind, pattern in table:
        if re.search(pattern, q):
            return kind
    return "span"


# when the expected kind is absent, the next best thing
_FALLBACK = {"list": ["name"], "money": ["count"], "duration": ["count"], "rank": ["count"],
             "percent": ["count"], "org": ["name"]}
# English head nouns -> the Chinese measure words that count them
_EN_UNITS = [
    (r"compan|enterprise|firm|bank|institution|organi[sz]ation|agenc", "家"),
    (r"people|person|engineer|talent|lawyer|worker|staff|member|suspect", "人名"),
    (r"time|consultation|visit", "次"),
    (r"product", "款个项"),
    (r"case|application|patent|registration|trademark|item|matter|work", "件项"),
    (r"transaction|task|project|measure|award", "项个"),
    (r"department|center|centre|station|base|court", "个"),
    (r"day", "天"), (r"month", "月"),
]
_BEFORE = re.compile(r"\bbefore\b|\bpreviously\b|\boriginally\b|原来|之前|此前|以前|原先", re.I)
_CLAUSE = "，,；;。！？"
# a change verb and its target mark the value now; 从/由 mark the value before
_TO_NEW = re.compile(r"(?:缩短|缩减|缩|压缩|降|升|提升|提高|增长|增加|上升|扩大|下降|降低|减少|突破)(?:到|至|为)?$|达到?$")
_FROM_OLD = re.compile(r"(?:从|由)$")
_LEAD_POS = {"v", "c", "d", "p", "u", "r", "vn", "ad", "f"}  # verbs, conjunctions... glued on the left


@dataclass
class Candidate:
    text: str
    start: int  # absolute offsets into the source file
    end: int
    score: float
    sentence: tuple[int, int]
    passage: Passage


def wanted_units(question: str, lang: str) -> str:
    """Measure words the question counts in (多少件 -> 件; how many companies -> 家)."""
    if lang == "zh":
        m = re.search(r"(?:多少|几)(个工作日|个月|批次|[^\s，。？?的]{1})", question)
        if m and m.group(1) not in "钱":
            return m.group(1)
        m = re.search(r"([次人件家项个])数", question)
        return m.group(1) if m else ""
    m = re.search(r"how many ([a-z\- ]+?)(?: (?:did|do|does|were|was|are|is|has|have|had|can|will)\b|[?,]|$)",
                  question.lower())
    for pattern, units in _EN_UNITS if m else []:
        if re.search(pattern, m.group(1)):
            return units
    return ""


def candidates(kind: str, sentence: str, terms: dict[str, float]) -> list[tuple[int, int]]:
    """Spans in ``sentence`` (relative offsets) that could answer a ``kind`` question."""
    pattern = PATTERNS.get(kind)
    if pattern is None:
        return []
    spans = []
    for m in pattern.finditer(sentence):
        a, b = m.span()
        if kind == "name" and sentence[a] == "“":
            a, b = a + 1, b - 1  # quoted names are answered without the marks
        elif kind == "list":
            a, b = _trim_list(sentence, a, b)
        elif kind == "org":
            a = _trim_lead(sentence, a, b)
        elif kind == "count" and sentence[b - 1] == "个":
            b = _extend_counted_noun(sentence, b, terms)
        spans.append((a, b))
    return spans


def _trim_list(sentence: str, a: int, b: int) -> tuple[int, int]:
    """An 、-list regex swallows words glued to its ends; cut them back to the
    typical item length, on jieba word boundaries."""
    from .lexical import _jieba

    items = sentence[a:b].split("、")
    inner = [len(x) for x in items[1:-1]]
    target = sorted(inner)[len(inner) // 2] if inner else 1
    words = _jieba().lcut(items[0])
    first = ""
    while words and len(first) < target:
        first = words.pop() + first
    words = _jieba().lcut(items[-1])
    last = ""
    while words and len(last) < target:
        last += words.pop(0)
    return a + len(items[0]) - len(first), b - len(items[-1]) + len(last)


def _trim_lead(sentence: str, a: int, b: int) -> int:
    """Drop verbs and particles the regex took in front of a name (并收到X -> X)."""
    import jieba.posseg as pseg

    for word, flag in pseg.lcut(sentence[a:b]):
        if flag not in _LEAD_POS or b - a - len(word) < 4:
            break
        a += len(word)
    return a


def _extend_counted_noun(sentence: str, b: int, terms: dict[str, float]) -> int:
    """12个 + 部门 -> 12个部门 when the question names the counted noun."""
    for t in sorted(terms, key=len, reverse=True):
        if len(t) >= 2 and sentence.startswith(t, b):
            return b + len(t)
    return b


def proximity(sentence: str, a: int, b: int, terms: dict[str, float]) -> float:
    """0..1: how tightly the question's terms surround a candidate in its clause."""
    total = sum(terms.values()) or 1.0
    seps = [0]  # seps[k]: clause separators in sentence[:k]
    for ch in sentence:
        seps.append(seps[-1] + (ch in _CLAUSE))
    score = 0.0
    for term, w in terms.items():
        best, i = 0.0, sentence.find(term)
        while i >= 0:
            j = i + len(term)
            if not (i >= a and j <= b):  # a term inside the candidate itself doesn't count
                lo, hi = (j, a) if j <= a else (b, i)
                gap = max(0, hi - lo)
                clauses = seps[hi] - seps[lo] if gap else 0
                best = max(best, 1.0 / (1.0 + gap / 6.0) / (1 + 2 * clauses))
            i = sentence.find(term, i + 1)
        score += w * best
    return score / total


def coverage(text: str, terms: dict[str, float]) -> float:
    total = sum(terms.values()) or 1.0
    return sum(w for t, w in terms.items() if t in text) / total


SentenceSim = Callable[[str, int, int], float]


def answer_strength(question: str, lang: str, terms: dict[str, float], text: str, offset: int = 0) -> float:
    """0..1: how well a passage holds an answer of the kind the question asks
    for (a 亿元 figure right next to 质押金额 for "total value of IP pledges")."""
    from .chunking import split_sentences

    kind = answer_type(question, lang)
    if kind == "span":
        return 0.0
    units = wanted_units(question, lang) if kind in ("count", "duration") else ""
    best = 0.0
    for sp in split_sentences(text):
        sent = text[sp.start:sp.end]
        for a, b in candidates(kind, sent, terms):
            found = sent[a:b]
            if found and found not in question and (not units or any(u in found[-4:] for u in units)):
                best = max(best, proximity(sent, a, b, terms))
    return best


def extract(question: str, lang: str, passages: list[Passage], texts: dict[str, str],
            terms: dict[str, float], sentence_sim: SentenceSim | None = None,
            top_passages: int = 3) -> Candidate | None:
    """Best typed answer span over the sentences of the top passages, or None.

    score = passage prior + sentence relevance (term coverage, and dense
    similarity against the best sentence) + proximity of question terms,
    minus penalties for a fallback kind or a unit the question didn't ask for.
    """
    kind = answer_type(question, lang)
    if kind == "span":
        return None
    kinds = [kind] + _FALLBACK.get(kind, [])
    units = wanted_units(question, lang) if kind in ("count", "duration") else ""
    before = bool(_BEFORE.search(question))
    sents = _sentences(passages[:top_passages], texts, sentence_sim)
    best: Candidate | None = None
    for p_rank, p, (s0, s1), rel in sents:
        sent = texts[p.source][s0:s1]
        for depth, k in enumerate(kinds):
            spans = candidates(k, sent, terms)
            if not spans:
                continue
            for a, b in spans:
                text = sent[a:b]
                if not text or text in question:
                    continue  # echoing the question is no answer
                sc = -0.15 * p_rank + rel + 0.8 * proximity(sent, a, b, terms) - 0.5 * depth
                if units and not any(u in text[-4:] for u in units):
                    sc -= 0.4
                if k in ("duration", "count", "percent", "money"):  # 从X缩短到Y: Y now, X before
                    lead = sent[max(0, a - 4):a]
                    if _TO_NEW.search(lead):
                        sc += -0.3 if before else 0.3
                    elif _FROM_OLD.search(lead):
                        sc += 0.3 if before else -0.3
                if best is None or sc > best.score:
                    best = Candidate(text, s0 + a, s0 + b, sc, (s0, s1), p)
            break  # the preferred kind was found in this sentence
    return best


def _sentences(passages: list[Passage], texts: dict[str, str], sentence_sim: SentenceSim | None):
    """(passage rank, passage, span, relevance) for each distinct sentence."""
    from .chunking import split_sentences

    out, seen = [], set()
    for p_rank, p in enumerate(passages):
        doc_text = texts.get(p.source, "")
        for s in split_sentences(doc_text[p.start:p.end], p.start):
            if (p.source, s.start) not in seen:
                seen.add((p.source, s.start))
                out.append([p_rank, p, (s.start, s.end), 0.0])
    if sentence_sim and out:
        sims = [sentence_sim(p.source, a, b) for _, p, (a, b), _ in out]
        top = max(sims)
        for row, sim in zip(out, sims):
            row[3] = max(-1.0, 8.0 * (sim - top))  # 0 for the closest sentence
    return out


def fill_blank(question: str, lang: str, passages: list[Passage], texts: dict[str, str],
               terms: dict[str, float], sentence_sim: SentenceSim | None = None,
               anchored_only: bool = False) -> Candidate | None:
    """Open questions: the words filling the question's blank in the best
    matching clause (``用什么试点推动`` + ``专利开放许可试点推动`` -> ``专利开放许可试点``),
    else that clause itself."""
    anchor, verb_led = None, False
    if lang == "zh":
        import jieba.posseg as pseg

        from .lexical import _jieba

        m = re.search(r"(?:什么|哪一?[个种类档项])([\u4e00-\u9fff]+)", question)
        anchor = _jieba().lcut(m.group(1))[0] if m else None
        # 归入哪一档: a verb right before the blank in the question means one
        # sits right before it in the text too
        before = pseg.lcut(question[:m.start()]) if m else []
        verb_led = bool(before) and before[-1].flag == "v"
    best = None
    for p_rank, p, (s0, s1), rel in _sentences(passages[:2], texts, sentence_sim):
        sent = texts[p.source][s0:s1]
        for cm in re.finditer(r"[^，,；;：:。！？]+", sent):
            clause, (a, b) = cm.group(), cm.span()
            cover = coverage(clause, terms) + rel - 0.3 * p_rank
            for x in _find_all(clause, anchor) if anchor else []:
                lo = _blank_start(clause, x, terms, verb_led)
                if x - lo >= 2 and (best is None or cover + 1.0 > best.score):
                    best = Candidate(clause[lo:x + len(anchor)], s0 + a + lo, s0 + a + x + len(anchor),
                                     cover + 1.0, (s0, s1), p)
            if not anchored_only and (best is None or cover > best.score):
                lead = len(clause) - len(clause.lstrip())
                best = Candidate(clause.strip(), s0 + a + lead, s0 + a + lead + len(clause.strip()),
                                 cover, (s0, s1), p)
    return best


def _find_all(text: str, sub: str) -> list[int]:
    return [m.start() for m in re.finditer(re.escape(sub), text)]


def _blank_start(clause: str, x: int, terms: dict[str, float], verb_led: bool = False) -> int:
    """Start of the blank before ``x``: after the last question term or
    list separator, and after a leading verb."""
    lo = 0
    for t in terms:
        j = clause.rfind(t, 0, x)
        if j >= 0 and j + len(t) <= x:
            lo = max(lo, j + len(t))
    lo = max(lo, clause.rfind("、", 0, x) + 1)
    if verb_led and x - lo > 2:  # start after the last verb: 纳入特优 -> 特优
        import jieba.posseg as pseg

        pos = lo
        for word, flag in pseg.lcut(clause[lo:x]):
            pos += len(word)
            if flag == "v" and x - pos >= 2:
                lo = pos
    return lo


# ---- abstention --------------------------------------------------------------

def abstain_reason(question: str, corpus_squashed: str, kind: str, found: Candidate | None,
                   unknown_places: list[str], lexical_coverage: float, context: str = "",
                   terms: dict[str, float] | None = None) -> str:
    """Why the corpus cannot answer, or '' when it might.

    ``context`` is the text around the chosen answer (its passage, section and
    document title): a year the question names must appear there, not merely
    somewhere in the corpus.
    """
    for num in re.findall(r"(?<![\d.])(?:19|20)\d\d(?![\d.])", question):
        if num not in corpus_squashed:
            return f"The documents say nothing about {num}."
        if found is not None and context and num not in context:
            return f"The passages that could answer say nothing about {num}."
    if unknown_places:
        return f"The documents say nothing about {', '.join(unknown_places)}."
    if lexical_coverage < 0.2:
        return "The question's key words do not appear in these documents."
    if found is None:
        return f"No {kind} that answers this appears in the best passages." if kind != "span" else \
            "No passage answers this."
    if kind == "span" and terms and coverage(found.text, terms) < 0.25 and found.score < 1.0:
        return "No passage answers this closely enough."
    return ""
