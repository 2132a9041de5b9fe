"""Answer stage: ranked passages -> the exact answer span, or an honest None."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

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
    "duration": re.compile(rf"{_NUM}(?:个工作日|个月|天|小时|周|年)"),
    "percent": re.compile(r"\d+(?:\.\d+)?%"),
    "money": re.compile(rf"(?:人民币)?{_NUM}余?(?:元|美元)"),
    "rank": re.compile(r"第[\d一二三四五六七八九十]+(?:名|位)?|\d+位"),
    "count": re.compile(rf"{_NUM}余?{_UNIT}"),
    "name": re.compile(r"《[^》]{1,40}》|“[^”]{1,30}”"),
    "org": re.compile(r"[\u4e00-\u9fff]{2,16}(?:有限公司|股份公司|公司|联合会（\w+）|联合会|组织|大学|研究院)"),
    "address": re.compile(r"[\u4e00-\u9fff]{2,10}(?:路|街|大道|巷)(?:\d+号)?"),
    "list": re.compile(r"[\u4e00-\u9fffA-Za-z0-9]{2,12}(?:、[\u4e00-\u9fffA-Za-z0-9]{2,12})+"),
}

_ZH_TYPES = [
    ("date", r"什么时候|何时|哪一年|哪年|哪个月|几月|哪一天|成立于"),
    ("duration", r"多长时间|多久|多少天|几天|时长|周期是|用时"),
    ("percent", r"百分之|比例|比率|占比|覆盖率|增长率|多少%|提高到了多少|提高至多少|达到百分"),
    ("rank", r"第几|排名|名次|几名|几位"),
    ("money", r"金额|多少钱|资金|价值|补助|借到|贷款|融资"),
    ("list", r"哪些|哪几|分别|哪两|哪三|哪四|哪五"),
    ("count", r"多少|几个|几家|几项|几件|数量|总量|几"),
    ("org", r"哪个\w{0,4}(?:公司|企业|组织|机构|单位)|哪家"),
    ("address", r"地址|哪条路|哪条街|位于哪|在哪里"),
    ("name", r"叫什么|名字|名称|什么名|什么\w{0,6}(?:产品|标准|称号|荣誉|评选|模式|活动|规范|奖)"),
]
_EN_TYPES = [
    ("date", r"\bwhen\b|what year|which year|what date|what month"),
    ("duration", r"how long|how much time|average time|\bperiod\b|\bcycle\b|duration|shortest time|"
                 r"how many (?:days|months|years)"),
    ("percent", r"percent|percentage|\bshare\b|proportion|\brate\b|ratio"),
    ("rank", r"\brank|what place|which place|\bposition\b"),
    ("money", r"how much money|amount|\bvalue\b|worth|financ|\bloan|funding|subsid"),
    ("list", r"which (?:two|three|four|five|\d+)\b|what are the|\blist\b"),
    ("count", r"how many|number of"),
    ("org", r"which (?:company|enterprise|organi[sz]ation|firm|institution|university)"),
    ("address", r"\baddress\b|which (?:road|street)|where is .* located"),
    ("name", r"\bname\b|\bcalled\b|\bnamed\b|what (?:product|standard|campaign|title|honou?r|model|pilot)"),
]


def answer_type(question: str, lang: str) -> str:
    table = _ZH_TYPES if lang == "zh" else _EN_TYPES
    q = question if lang == "zh" else question.lower()
    for kind, pattern in table:
        if re.search(pattern, q):
            return kind
    return "span"


# fallbacks when the expected kind is not in the text
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
_BEFORE = re.compile(r"\bbefore\b|\bpreviously\b|\boriginally\b|原来|之前|此前|以前|原先")
_CLAUSE = "，,；;。！？"


@dataclass
class Candidate:
    text: str
    start: int  # absolute offsets into the source file
    end: int
    score: float
    sentence: tuple[int, int]
    passage: Passage


def wanted_units(question: str, lang: str) -> str:
    if lang == "zh":
        m = re.search(r"(?:多少|几)(个工作日|个月|批次|[^\s，。？?的]{1})", question)
        return m.group(1) if m else ""
    q = question.lower()
    m = re.search(r"how many ([a-z\- ]+?)(?: (?:did|do|does|were|was|are|is|has|have|had|can|will)\b|[?,]|$)", q)
    head = m.group(1) if m else q
    for pattern, units in _EN_UNITS:
        if re.search(pattern, head):
            return units
    return ""


def candidates(kind: str, sentence: str) -> list[tuple[int, int]]:
    """Spans in ``sentence`` (relative offsets) that could answer a ``kind`` question."""
    pattern = PATTERNS.get(kind)
    if pattern is None:
        return []
    spans = []
    for m in pattern.finditer(sentence):
        a, b = m.span()
        if kind == "name" and sentence[a] == "“":
            a, b = a + 1, b - 1  # quoted names are answered without the marks
        if kind == "list":
            a, b = _trim_list(sentence, a, b)
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
    start = a + len(items[0]) - len(first)
    end = b - len(items[-1]) + len(last)
    return start, end


def proximity(sentence: str, a: int, b: int, terms: dict[str, float]) -> float:
    """How tightly the question's terms surround a candidate: terms just before
    it in the same clause count most."""
    score = 0.0
    for term, w in terms.items():
        best = 0.0
        for m in re.finditer(re.escape(term), sentence):
            if m.start() >= a and m.end() <= b:
                continue  # the term is inside the candidate itself
            if m.end() <= a:
                gap = sentence[m.end():a]
                dist = len(gap)
            else:
                gap = sentence[b:m.start()]
                dist = 2 * len(gap) + 4
            clauses = sum(gap.count(ch) for ch in _CLAUSE)
            best = max(best, 1.0 / (1.0 + dist / 6.0) / (1 + clauses))
        score += w * best
    return score


def extract(question: str, lang: str, passages: list[Passage], texts: dict[str, str],
            terms: dict[str, float], sentence_sims: dict[tuple[str, int, int], float] | None = None,
            top_passages: int = 3) -> Candidate | None:
    """Best answer span over the sentences of the top passages, or None."""
    from .chunking import split_sentences

    kind = answer_type(question, lang)
    kinds = [kind] + _FALLBACK.get(kind, [])
    units = wanted_units(question, lang) if kind in ("count", "duration") else ""
    before = bool(_BEFORE.search(question))
    best: Candidate | None = None
    seen = set()
    total_w = sum(terms.values()) or 1.0
    for p_rank, p in enumerate(passages[:top_passages]):
        doc_text = texts.get(p.source, "")
        prior = 1.0 / (1.0 + 0.5 * p_rank)
        for s in split_sentences(doc_text[p.start:p.end], p.start):
            if (p.source, s.start) in seen:
                continue
            seen.add((p.source, s.start))
            sent = doc_text[s.start:s.end]
            rel = sum(w for t, w in terms.items() if t in sent) / total_w
            if sentence_sims:
                rel = 0.5 * rel + sentence_sims.get((p.source, s.start, s.end), 0.0)
            for depth, k in enumerate(kinds):
                spans = candidates(k, sent)
                if kind == "span" or not spans:
                    continue
                for a, b in spans:
                    text = sent[a:b]
                    sc = prior * (0.6 + rel) + 0.5 * proximity(sent, a, b, terms) - 0.3 * depth
                    if units and not any(text.endswith(u) or u in text[-4:] for u in units):
                        sc -= 0.4
                    if kind == "duration" or kind == "count":
                        lead = sent[max(0, a - 3):a]
                        if re.search(r"到|至|为|达", lead):
                            sc += -0.3 if before else 0.3
                        elif re.search(r"从|由", lead):
                            sc += 0.3 if before else -0.3
                    if any(text in q for q in [question]):
                        sc -= 1.0  # echoing the question is no answer
                    if best is None or sc > best.score:
                        best = Candidate(text, s.start + a, s.start + b, sc, (s.start, s.end), p)
                break  # found the preferred kind in this sentence
    return best


def span_fallback(question: str, lang: str, passages: list[Passage], texts: dict[str, str],
                  terms: dict[str, float]) -> Candidate | None:
    """For open questions: the clause that best matches, and in Chinese the
    words that fill the question's blank (``用什么试点`` -> ``专利开放许可试点``)."""
    from .chunking import split_sentences

    anchor = None
    if lang == "zh":
        m = re.search(r"(?:什么|哪一?[个种类档项])([\u4e00-\u9fff]{1,4})", question)
        anchor = m.group(1) if m else None
    best = None
    for p_rank, p in enumerate(passages[:2]):
        doc_text = texts.get(p.source, "")
        for s in split_sentences(doc_text[p.start:p.end], p.start):
            sent = doc_text[s.start:s.end]
            for cm in re.finditer(r"[^，,；;：:。！？]+", sent):
                clause = cm.group()
                cover = sum(w for t, w in terms.items() if t in clause)
                a, b = cm.span()
                if anchor:
                    for x in _anchor_hits(clause, anchor):
                        lo = _blank_start(clause, x, terms)
                        if lo < x:
                            sc = cover + 1.0 - 0.5 * p_rank
                            if best is None or sc > best.score:
                                best = Candidate(clause[lo:x + len(anchor)], s.start + a + lo,
                                                 s.start + a + x + len(anchor), sc, (s.start, s.end), p)
                sc = cover - 0.5 * p_rank
                if best is None or sc > best.score:
                    best = Candidate(clause.strip(), s.start + a, s.start + b, sc, (s.start, s.end), p)
    return best


def _anchor_hits(clause: str, anchor: str) -> list[int]:
    out, i = [], clause.find(anchor)
    while i >= 0:
        out.append(i)
        i = clause.find(anchor, i + 1)
    return out


def _blank_start(clause: str, x: int, terms: dict[str, float]) -> int:
    """Start of the blank before position ``x``: right after the last question
    term (or verb-like marker) that precedes it."""
    lo = 0
    for t in terms:
        j = clause.rfind(t, 0, x)
        if j >= 0 and j + len(t) <= x:
            lo = max(lo, j + len(t))
    m = None
    for m in re.finditer(r"纳入|推出|构建|发布|获得|授予|开展|实施|成为|入选|设立|建成|出台", clause[lo:x]):
        pass
    if m is not None:
        lo += m.end()
    return lo


def abstain_reason(question: str, corpus_text: str, kind: str, found: Candidate | None) -> str:
    """Why the corpus cannot answer, or '' when it might."""
    squashed = re.sub(r"\s+", "", corpus_text)
    for num in re.findall(r"(?<![\d.])(?:19|20)\d\d(?![\d.])", question):
        if num not in squashed:
            return f"The documents say nothing about {num}."
    if found is None and kind not in ("span",):
        return f"No {kind} that answers this appears in the best passages."
    return ""
