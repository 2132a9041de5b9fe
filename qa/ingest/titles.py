"""Title heuristics (front matter, first heading, a short first line, the file name) and the city tag."""
from __future__ import annotations

import logging
import re

from .. import corpus

logger = logging.getLogger("qa.ingest")  # one logger for the package

_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[\w\u3400-\u9fff]", re.UNICODE)

_JUNK_TITLES = re.compile(r"^(untitled|无标题|document\d*|microsoft word\s*-.*|slide \d+|\d+)$", re.I)


def _clean_title(title) -> str:
    title = " ".join(str(title or "").split()).strip().lstrip("#").strip()
    if not title or _JUNK_TITLES.match(title):
        return ""
    return title[:120]


def _pick_title(meta_title: str | None, body: str, stem: str) -> tuple[str, str]:
    """(title, where from): the document's own title, its first heading, a short first line, the name."""
    title = _clean_title(meta_title)
    if title:
        return title, "meta"
    lines = [ln.strip() for ln in body.splitlines() if ln.strip()]
    for ln in lines:
        if re.match(r"#{1,6}\s", ln):
            title = _clean_title(ln)
            if title:
                return title, "heading"
    if lines:
        first = lines[0]
        if len(first) <= 60 and first[-1] not in "。.!?！？；;：:，," and _WORD.search(first) \
                and not first.startswith(("-", "*", ">", "|")):
            return _clean_title(first), "line"
    return _clean_title(stem.replace("_", " ")) or stem, "name"


def _with_heading(body: str, title: str, title_from: str) -> str:
    """Make the body open with ``# title`` as corpus documents do, when the title is document text."""
    lines = body.split("\n")
    top = [ln.strip() for ln in lines if ln.strip()][:10]
    if any(re.fullmatch(r"#{1,6}\s+" + re.escape(title), ln) for ln in top):
        return body  # already there, perhaps under a kicker line
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is not None and lines[first].strip().lstrip("#").strip() == title:
        rest = any(ln.strip() for ln in lines[first + 1:])
        if not lines[first].startswith("#") and rest:  # a lone line stays text, or nothing is left to index
            lines[first] = "# " + title
        return "\n".join(lines)
    if title_from == "meta":
        return f"# {title}\n\n{body}"
    return body



def _city_of(title: str) -> str:
    if not _CJK_CHAR.search(title or ""):
        return ""
    try:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        return corpus.place_in(title)
    except Exception:  # jieba missing or broken: the city tag is a nicety
        logger.debug("no city for %r", title, exc_info=True)
        return ""
