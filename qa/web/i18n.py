"""Interface text: one JSON catalogue per language in ``locales/``, the same keys in each.

Keys are flat strings. ``reason.<code>`` holds the text for each abstention code of
``qa.answer.REASONS`` ("{0}" is the year or place the question names), ``message.<name>``
the text of each library error message the page knows (see :data:`MESSAGES`).
Values are plain text: the templates escape them.
"""
from __future__ import annotations

import json
import logging
import re
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from qa.answer import Answer

logger = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES = ("en", "zh")  # the first is the fallback
DEFAULT_LANG = LANGUAGES[0]


def load_catalogue(lang: str) -> dict[str, str]:
    with open(LOCALES_DIR / f"{lang}.json", encoding="utf-8") as f:
        return json.load(f)


CATALOGUES: dict[str, dict[str, str]] = {lang: load_catalogue(lang) for lang in LANGUAGES}
# (label, value) pairs for the language switch: each language by its own name
LANGS = [(CATALOGUES[lang]["language.name"], lang) for lang in LANGUAGES]

# The library's error messages (InvalidQuestion and other QAError texts) are English and carry
# no code; each pattern names the catalogue entry that says it in every language, its groups
# filling "{0}", "{1}". Abstention reasons are translated by code instead (reason_text).
MESSAGES = [
    (r"The question is empty\.", "message.empty"),
    (r"The question must be text\.", "message.not_text"),
    (r"The question is too long \((\d+) characters; the limit is (\d+)\)\.", "message.too_long"),
    (r"The question has no words to search for\.", "message.no_words"),
]


def missing(key: str) -> str:
    """What the page shows for a key no catalogue has (tests look for it)."""
    return f"⟦{key}⟧"


def t(lang: str, key: str, *args, **kw) -> str:
    """``key`` in ``lang`` (else English), formatted with ``args``/``kw`` when given."""
    s = CATALOGUES.get(lang, CATALOGUES[DEFAULT_LANG]).get(key)
    if s is None:
        s = CATALOGUES[DEFAULT_LANG].get(key)
    if s is None:
        logger.error("no interface text for %r", key)
        return missing(key)
    return s.format(*args, **kw) if args or kw else s


def translator(lang: str) -> Callable[..., str]:
    """``t`` with the language bound, as the templates call it: ``t("answer")``."""
    return partial(t, lang)


def has(key: str) -> bool:
    return key in CATALOGUES[DEFAULT_LANG]


def translate_message(message: str, lang: str) -> str:
    """A library message in the interface language (unknown ones stay as they are)."""
    text = (message or "").strip()
    if lang != DEFAULT_LANG:
        for pattern, key in MESSAGES:
            m = re.fullmatch(pattern, text)
            if m:
                return t(lang, key, *m.groups())
    return message


def _reason_value(reason: str) -> str | None:
    """The year or place in an English reason such as "The documents say nothing about 1999."."""
    m = re.search(r"\babout (.+?)\.?\s*$", reason or "")
    return m.group(1).strip() if m and m.group(1).strip() else None


def reason_text(answer: Answer, lang: str) -> str:
    """Why ``answer`` is not an answer, in the interface language (translated by ``reason_code``)."""
    reason = (answer.reason or "").strip()
    key = f"reason.{answer.reason_code}" if answer.reason_code else ""
    if not key or not has(key):  # no code, or one this page does not know yet
        if lang == DEFAULT_LANG and reason:
            return reason
        return t(lang, "not_found_reason")
    if lang == DEFAULT_LANG and reason:
        return reason
    template = t(lang, key)
    if "{0}" in template:
        value = _reason_value(reason)
        return template.format(value) if value else t(lang, "not_found_reason")
    return template


def filter_text(key: str, params: dict, lang: str) -> str:
    """A refused filter's message (``filter.*``), its ``field`` (doc, city, year) named in ``lang``."""
    params = dict(params)
    if "field" in params:
        params["field"] = t(lang, f"field.{params['field']}")
    return t(lang, key, **params)


def where_text(where: dict, lang: str) -> str:
    """A filter as the page says it: 'city “宁波”, year “2023”'."""
    parts = [t(lang, "where.part", field=t(lang, f"field.{key}"), value=value) for key, value in where.items()]
    return t(lang, "where.sep").join(parts)


def request_lang(accept_language: str | None) -> str:
    """The language an API caller asked for in ``Accept-Language`` (else the fallback)."""
    ranked = []
    for n, part in enumerate((accept_language or "")[:500].split(",")):  # a header is short; cap the work
        tag, _, params = part.strip().partition(";")
        q = re.search(r"\bq\s*=\s*([^;\s]*)", params)
        try:
            weight = float(q.group(1)) if q else 1.0
        except ValueError:  # a malformed weight counts as a refusal
            weight = 0.0
        if weight > 0:  # q=0 means "not this one"
            ranked.append((-weight, n, tag.strip().lower().split("-")[0]))
    for _, _, code in sorted(ranked):
        if code in LANGUAGES:
            return code
    return DEFAULT_LANG


# The catalogues in the shapes app.py has always exported.
TEXT = CATALOGUES  # lang -> key -> text
REASON_TEXT = {key.split(".", 1)[1]: {lang: CATALOGUES[lang][key] for lang in LANGUAGES}
               for key in CATALOGUES[DEFAULT_LANG] if key.startswith("reason.")}
