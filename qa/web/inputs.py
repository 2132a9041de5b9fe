"""What the page and the API accept, and how their results become JSON."""
from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from qa.retrieve import K_MAX, K_MIN, check_k

from .i18n import filter_text

__all__ = ["EXAMPLES", "FILTER_MAX_CHARS", "K_DEFAULT", "K_MAX", "K_MIN", "SCOPES", "UPLOAD_TYPES", "BadFilter",
           "coerce_filter", "coerce_k", "coerce_where", "jsonable", "scope_where"]

K_DEFAULT = 5
UPLOAD_TYPES = [".txt", ".md", ".pdf", ".docx", ".html", ".htm"]
EXAMPLES = [
    "how long is the average patent grant cycle?",
    "宁波2023年知识产权质押融资金额是多少？",
    "How many PCT patent applications did Ningbo file in 2023?",
    "杭州市知识产权保护工作考核排名第几？",
    "When was Hangzhou selected as a national IP model city?",
    "宁波知识产权保护中心2023年累计接收多少案件？",
]


def coerce_k(k: Any) -> int:
    """The library's one k rule (:func:`qa.retrieve.check_k`)."""
    return check_k(k)


# What the Ask tab can search in: everything, one document (by corpus name) or one city.
SCOPES = ("all", "doc", "city")
# Corpus names are file names (255 bytes at most on common file systems); cities and years are shorter.
FILTER_MAX_CHARS = 255
_YEAR = re.compile(r"[0-9]{4}")  # not \d: full-width digits would never match an indexed year


class BadFilter(ValueError):
    """A filter value refused before it reaches the library. ``key`` and ``params`` name its
    catalogue text (:func:`qa.web.i18n.filter_text`), so each user reads it in their language."""

    def __init__(self, key: str, **params):
        self.key, self.params = key, params
        super().__init__(filter_text(key, params, "en"))


def coerce_filter(field: str, value: Any) -> str:
    """One filter value (``field`` is doc, city or year) as clean text; "" means no filter."""
    if value is None:
        return ""
    if field == "year" and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # 2023 from a client is as good as "2023"
    if not isinstance(value, str):
        raise BadFilter("filter.not_text", field=field)
    value = value.strip()
    if len(value) > FILTER_MAX_CHARS:
        raise BadFilter("filter.too_long", field=field, n=len(value), limit=FILTER_MAX_CHARS)
    # no name, city or year holds control characters; refusing them keeps them out of every store's query
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise BadFilter("filter.bad_chars", field=field)
    if field == "year" and value and not _YEAR.fullmatch(value):
        raise BadFilter("filter.bad_year")
    return value


def coerce_where(doc: Any = None, city: Any = None, year: Any = None) -> dict[str, str]:
    """The API's optional ``doc``, ``city``, ``year`` as the library's ``where`` ({} = search everything)."""
    where = {}
    for field, value in (("doc", doc), ("city", city), ("year", year)):
        value = coerce_filter(field, value)
        if value:
            where[field] = value
    return where


def scope_where(scope: Any, value: Any) -> dict[str, str]:
    """The Ask tab's "search in" choice (one of :data:`SCOPES`) and its document or city as ``where``."""
    if scope in (None, "", "all"):
        return {}
    if scope not in SCOPES:
        raise BadFilter("filter.bad_scope")
    value = coerce_filter(scope, value)
    if not value:
        raise BadFilter("filter.choose", field=scope)
    return {scope: value}


def jsonable(value):
    """Plain JSON types all the way down (numpy scalars become Python numbers)."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=_json_default))


def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
