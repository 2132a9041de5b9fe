"""What the page and the API accept, and how their results become JSON."""
from __future__ import annotations

import json
import math
import re
from typing import Any

K_MIN, K_MAX, K_DEFAULT = 1, 20, 5
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
    """k as an int in [K_MIN, K_MAX], or ValueError with a readable message."""
    if isinstance(k, str) and re.fullmatch(r"\s*\d+\s*", k):
        k = int(k)
    if isinstance(k, float) and math.isfinite(k) and k.is_integer():
        k = int(k)
    if isinstance(k, bool) or not isinstance(k, int) or not K_MIN <= k <= K_MAX:
        raise ValueError(f"k must be a whole number from {K_MIN} to {K_MAX}.")
    return k


def jsonable(value):
    """Plain JSON types all the way down (numpy scalars become Python numbers)."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=_json_default))


def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
