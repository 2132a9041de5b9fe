"""What each document contains of CC-CEDICT and its places, kept per document.

The English bridge and the place lists are corpus-wide, but both depend only on
*which* dictionary entries and places occur somewhere in the corpus: an OR over
documents. Recording that per document lets an incremental build add or drop
one document and rebuild the corpus-wide tables from the union, without
reading any other document (same tables as :func:`qa.lexical.build_bridge`,
:func:`~qa.lexical.absent_places` and :func:`~qa.lexical.present_places`).
"""
from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache

from .lexical import IP_GLOSSARY, bridge_table, cedict_entries, cedict_places, grouped_places

_HAN_RUN = re.compile(r"[\u3400-\u9fff]+")
_MAX_N = 6  # the longest n-gram the bridge matches, as corpus_ngrams does
_STRIP = "市省县区"
_YEARS = re.compile(r"(?=((?:19|20)\d\d))")  # overlapping: every window, as a substring test sees it


@lru_cache(maxsize=1)
def _entries_by_zh() -> dict[str, list[int]]:
    by = defaultdict(list)
    for i, (zh, _) in enumerate(cedict_entries()):
        by[zh].append(i)
    return dict(by)


@lru_cache(maxsize=1)
def _places_by_name() -> tuple[dict[str, list[int]], list[int]]:
    """Place index by each name that counts as a mention (full, and without 市/省/县/区),
    and the places with a name too long for the n-gram lookup."""
    by, long = defaultdict(list), []
    for i, (_, zh, _) in enumerate(cedict_places()):
        names = {zh, zh.rstrip(_STRIP)}
        if "" in names or any(len(n) > _MAX_N or not _HAN_RUN.fullmatch(n) for n in names if n):
            long.append(i)
        for n in names:
            if n:
                by[n].append(i)
    return dict(by), long


def _ngrams(text: str) -> set[str]:
    grams = set()
    for run in _HAN_RUN.findall(text):
        for n in range(1, _MAX_N + 1):
            grams.update(run[i:i + n] for i in range(len(run) - n + 1))
    return grams


def doc_presence(body: str) -> dict[str, list]:
    """{"cedict": entry numbers, "glossary": glossary Chinese terms, "places": place numbers,
    "years": 4-digit years (19xx/20xx, anywhere in the whitespace-free text)} that occur in ``body``."""
    grams = _ngrams(body)
    entries = _entries_by_zh()
    cedict = sorted({i for g in grams if len(g) >= 2 for i in entries.get(g, ())})
    glossary = sorted({zh for zhs in IP_GLOSSARY.values() for zh in zhs if zh in grams and len(zh) >= 2})
    by_name, long = _places_by_name()
    places = {i for g in grams for i in by_name.get(g, ())}
    places.update(i for name in grouped_places(body) for i in by_name.get(name, ()))
    all_places = cedict_places()
    # as qa.lexical._in_text does: a name that strips to nothing is "in" every text
    places.update(i for i in long if any(n in body for n in (all_places[i][1], all_places[i][1].rstrip(_STRIP))))
    squashed = re.sub(r"\s+", "", body)
    years = sorted({m.group(1) for m in _YEARS.finditer(squashed)})
    return {"cedict": cedict, "glossary": glossary, "places": sorted(places), "years": years}


def merge(presences) -> dict[str, set]:
    out = {"cedict": set(), "glossary": set(), "places": set(), "years": set()}
    for p in presences:
        for key in out:
            out[key].update(p.get(key, ()))
    return out


def bridge(cedict: set[int], glossary: set[str]) -> dict[str, list[list]]:
    """The bridge :func:`qa.lexical.build_bridge` makes, from the entry numbers present."""
    entries = cedict_entries()
    return bridge_table((entries[i] for i in sorted(cedict)), glossary)


def place_lists(places: set[int]) -> tuple[list[list], list[list]]:
    """(absent, present) places as [English, Chinese, major] rows, like absent_places / present_places."""
    absent, present = [], []
    for i, (en, zh, major) in enumerate(cedict_places()):
        (present if i in places else absent).append([en, zh, major])
    return absent, present
