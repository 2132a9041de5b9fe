"""Composing the answer from the ranker's chosen span, for two question forms no single
candidate answers.

- Several figures at once (一共几件、牵涉多少人; how many cases, and how many suspects):
  the answer runs from the chosen figure over its nearest figures in the same sentence.
- One item of a list (除了A和B，还有哪一项; besides A and B, which; 排在第N位的; 哪种仲裁):
  when the chosen span is a list, the answer is the item at the asked position, the only
  item the question does not already name, or the only item holding the head noun a
  Chinese question asks for.

Both read the question's form (``answer_forms.json``: ``several_figures``, ``one_item``);
nothing is fitted, and a span neither form touches comes back unchanged.
"""
from __future__ import annotations

import re
from functools import lru_cache

from .candidates import NUMERIC, forms, sentence_spans
from .ranker import Question, _items

_HAN_OR_WORD = re.compile(r"[\u4e00-\u9fff\w]")
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_EN_WORD = re.compile(r"[A-Za-z][A-Za-z\-]+")


@lru_cache(maxsize=1)
def _tables() -> dict:
    sev, one = forms()["several_figures"], forms()["one_item"]
    return {"ask": {"zh": re.compile(sev["zh_ask"]), "en": re.compile(sev["en_ask"], re.I)},
            "each": {"zh": re.compile(sev["zh_each"]), "en": re.compile(sev["en_each"], re.I)},
            "stop": set(sev["stop"]),
            "except": {"zh": re.compile(one["zh_except"]), "en": re.compile(one["en_except"], re.I)},
            "position": {"zh": re.compile(one["zh_position"]), "en": re.compile(one["en_position"], re.I)},
            "single": re.compile(one["zh_single"]),
            "positions": one["positions"]}


def figures_wanted(q: Question) -> int:
    """How many figures the question asks for: one per numeric interrogative; with a word for
    "respectively", at least two, and one per item of a list the question names."""
    t = _tables()
    n = len(t["ask"][q.lang].findall(q.text))
    if not t["each"][q.lang].search(q.text):
        return n
    # 分别 after a list of k things (金额、项目数和企业数分别是多少) asks for k figures
    listed = max((c.count("、") + 1 + bool(re.search("[和及与]", c[c.rfind("、"):]))
                  for c in re.split(r"[，,？?；;]", q.text) if "、" in c), default=0)
    return max(n, 2, listed)


def _figures(sentence: str, q: Question, chosen: tuple[int, int]) -> list[tuple[int, int]]:
    """The sentence's figures, longest where they overlap, in order; none the question
    itself states, and dates only when the chosen span is one."""
    spans = [s for s in sentence_spans(sentence) if s.source == "pattern" and s.kind in NUMERIC]
    dated = any(s.kind == "date" and (s.a, s.b) == chosen for s in spans)
    keep = [s for s in spans if (s.kind != "date" or dated) and sentence[s.a:s.b] not in q.text]
    keep.sort(key=lambda s: (s.a, -(s.b - s.a)))
    out: list[tuple[int, int]] = []
    for s in keep:
        if out and s.a < out[-1][1]:
            if (s.a, s.b) == chosen or (s.b - s.a) > (out[-1][1] - out[-1][0]) and s.a == out[-1][0]:
                out[-1] = (s.a, s.b)
            continue
        out.append((s.a, s.b))
    return out


def several_figures(q: Question, sentence: str, a: int, b: int) -> tuple[int, int]:
    """[a, b) widened over the nearest figures of the sentence, as many as the question asks
    for, never across a sentence stop (；。); at equal distance, the later one (reading order)."""
    n = figures_wanted(q)
    if n < 2 or len(_DIGITS.findall(sentence[a:b])) >= n:
        return a, b
    figs = _figures(sentence, q, (a, b))
    at = next((i for i, (x, y) in enumerate(figs) if x < b and a < y), None)
    if at is None:
        return a, b
    stop = _tables()["stop"]
    lo = hi = at
    while hi - lo + 1 < n:
        left = figs[lo - 1] if lo > 0 and not stop & set(sentence[figs[lo - 1][1]:figs[lo][0]]) else None
        right = figs[hi + 1] if hi + 1 < len(figs) and not stop & set(sentence[figs[hi][1]:figs[hi + 1][0]]) else None
        if left is None and right is None:
            break
        gap_left = figs[lo][0] - left[1] if left else 1 << 30
        gap_right = right[0] - figs[hi][1] if right else 1 << 30
        if gap_right <= gap_left:
            hi += 1
        else:
            lo -= 1
    return min(a, figs[lo][0]), max(b, figs[hi][1])


def _position(q: Question) -> int | None:
    t = _tables()
    m = t["position"][q.lang].search(q.text)
    if not m:
        return None
    word = next(g for g in m.groups() if g)
    if word.isdigit():
        return int(word)
    return t["positions"].get(word.lower())


def _excluded(q: Question) -> str:
    """The part of the question that names the items to set aside ("" when it sets none aside):
    Chinese, what stands before 还有/之外/以外 or from 除了 to the next comma; English, from
    besides/apart from to the interrogative, read as the Chinese terms its words stand for."""
    m = _tables()["except"][q.lang].search(q.text)
    if not m:
        return ""
    if q.lang == "zh":
        if m.group() in ("除了", "除去"):
            rest = q.text[m.end():]
            return re.split(r"[，,？?]|还有|之外|以外", rest, maxsplit=1)[0]
        return q.text[:m.start()]
    region = re.split(r"\b(?:what|which|who|whom|how|where|when)\b|[?;]", q.text[m.end():], maxsplit=1, flags=re.I)[0]
    if q.translate is None:
        return ""
    return "|".join(zh for w in _EN_WORD.findall(region) for zh in q.translate(w.lower()))


def _named(said: str, item: str) -> bool:
    """Whether ``said`` names the item: holds half its character pairs."""
    core = "".join(_HAN_OR_WORD.findall(item))
    pairs = {core[i:i + 2] for i in range(len(core) - 1)} or {core}
    return sum(p in said for p in pairs) >= len(pairs) / 2


def one_item(q: Question, sentence: str, a: int, b: int) -> tuple[int, int]:
    """The item of the list [a, b) the question asks for, or [a, b) itself."""
    k = _position(q)
    said = _excluded(q) if k is None else ""
    single = q.lang == "zh" and bool(q.heads) and bool(_tables()["single"].search(q.text))
    if k is None and not said and not single:
        return a, b
    items = [(x, y) for x, y in _items(sentence, a, b) if _HAN_OR_WORD.search(sentence[x:y])]
    if len(items) < 2:
        return a, b
    if k is not None:
        return (items[k - 1] if k > 0 else items[k]) if 1 <= abs(k) <= len(items) else (a, b)
    if said:
        rest = [(x, y) for x, y in items if not _named(said, sentence[x:y])]
    else:  # the only item holding the head noun asked for
        rest = [(x, y) for x, y in items if any(h in sentence[x:y] for h in q.heads)]
    return rest[0] if len(rest) == 1 else (a, b)


def compose(q: Question, sentence: str, a: int, b: int, kind: str) -> tuple[int, int]:
    """The answer's bounds in ``sentence`` for the ranker's chosen span [a, b) of ``kind``."""
    if kind in NUMERIC:
        return several_figures(q, sentence, a, b)
    return one_item(q, sentence, a, b)
