"""What the page and the API accept, and how their results become JSON."""
from __future__ import annotations

import json
from typing import Any

from qa.retrieve import K_MAX, K_MIN, check_k

__all__ = ["EXAMPLES", "K_DEFAULT", "K_MAX", "K_MIN", "UPLOAD_TYPES", "coerce_k", "jsonable"]

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


def jsonable(value):
    """Plain JSON types all the way down (numpy scalars become Python numbers)."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=_json_default))


def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
