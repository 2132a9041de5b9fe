"""HTML -> Markdown-ish text with BeautifulSoup (imported on first use).

The declared ``<meta charset>`` wins, else :func:`decode_text`; pages nested
deeper than :data:`MAX_HTML_DEPTH` are refused before parsing (:func:`html_depth`).
"""
from __future__ import annotations

import re

from ...errors import IngestError
from ..encoding import decode_text

_HTML_DROP = ["script", "style", "noscript", "template", "nav", "footer", "iframe", "svg", "canvas",
               "form", "button", "select", "object", "embed"]
_HTML_BLOCKS = ["p", "div", "section", "article", "main", "header", "aside", "blockquote",
                "pre", "table", "ul", "ol", "dl", "dt", "dd", "figure", "figcaption", "address", "hr",
                "body", "center"]
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_CJK_EDGE = "\u3400-\u9fff\u3000-\u303f\uff00-\uffef"
_WRAP = re.compile(rf"(?<=[{_CJK_EDGE}])\s*\n\s*(?=[{_CJK_EDGE}])")


MAX_HTML_DEPTH = 1000  # elements open at once; real pages stay under ~100, parsing cost grows with depth
_HTML_VOID = frozenset("area base br col embed hr img input keygen link meta param source track wbr".split())
_HTML_RAW = ("script", "style", "textarea", "title", "xmp", "plaintext")
_HTML_TAG = re.compile(r"<!--|<(/?)([A-Za-z][A-Za-z0-9:_-]*)[^<>]*(>?)")
_HTML_RAW_END = {name: re.compile(rf"</{name}\b", re.I) for name in _HTML_RAW}


def html_depth(html: str, limit: int = MAX_HTML_DEPTH) -> int:
    """How deep elements nest in ``html`` as html.parser builds the tree, in one linear scan.

    Stops counting once ``limit`` is passed (the result is then ``limit + 1``).
    Void and self-closed tags open nothing, comments and raw-text elements
    (script, style, ...) are skipped, and an end tag closes its element and any
    left open inside it, or nothing when no such element is open (as bs4 does).
    """
    stack: list[str] = []
    open_count: dict[str, int] = {}
    pos, deepest = 0, 0
    while True:
        m = _HTML_TAG.search(html, pos)
        if m is None:
            return deepest
        if m.group(0) == "<!--":
            end = html.find("-->", m.end())
            if end < 0:
                return deepest
            pos = end + 3
            continue
        pos = m.end()
        if not m.group(3):  # "<a" with no ">" before the next tag is text to html.parser
            continue
        closing, name = m.group(1), m.group(2).lower()
        if closing:
            if open_count.get(name):
                while stack:
                    top = stack.pop()
                    open_count[top] -= 1
                    if top == name:
                        break
            continue
        if name in _HTML_VOID or m.group(0).endswith("/>"):
            continue
        if name in _HTML_RAW_END:
            end = _HTML_RAW_END[name].search(html, pos)
            if end is None:
                return deepest
            pos = end.start()
            continue
        stack.append(name)
        open_count[name] = open_count.get(name, 0) + 1
        if len(stack) > deepest:
            deepest = len(stack)
            if deepest > limit:
                return deepest


def convert(data: bytes, display: str, progress: bool) -> tuple[str, str | None, dict]:
    """(text with Markdown headings, lists and `|` table rows, <title> or first <h1>, {})."""
    from bs4 import BeautifulSoup, Comment, Declaration, Doctype, ProcessingInstruction

    html = None
    m = _META_CHARSET.search(data[:4096])
    if m:
        declared = m.group(1).decode("ascii").lower()
        declared = {"gb2312": "gb18030", "gbk": "gb18030", "big5": "cp950"}.get(declared, declared)
        try:
            html = data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            html = None
    if html is None:
        html, _ = decode_text(data)
    if html_depth(html) > MAX_HTML_DEPTH:
        raise IngestError(f"this page nests its elements more than {MAX_HTML_DEPTH} levels deep, "
                          "which no real page does; it is refused rather than parsed")
    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    h1 = soup.find("h1")
    if not title and h1 is not None:
        title = h1.get_text(" ", strip=True)
    for tag in soup.find_all(["head", *_HTML_DROP]):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": "navigation"}):
        tag.decompose()
    for node in soup.find_all(string=True):
        if isinstance(node, (Comment, Declaration, Doctype, ProcessingInstruction)):
            node.extract()
        elif node.find_parent("pre") is None:
            # source line breaks are spaces in HTML; between Chinese characters, nothing
            node.replace_with(re.sub(r"\s+", " ", _WRAP.sub("", str(node))))
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for h in soup.find_all(re.compile(r"^h[1-6]$")):
        text = h.get_text(" ", strip=True)
        if text:
            h.replace_with(f"\n\n{'#' * int(h.name[1])} {text}\n\n")
        else:
            h.decompose()
    for tr in soup.find_all("tr"):
        cells = [c.get_text(" ", strip=True) for c in tr.find_all(["td", "th"])]
        tr.replace_with("\n" + " | ".join(c for c in cells if c) + "\n")
    for li in soup.find_all("li"):
        li.insert_before("\n- ")
        li.insert_after("\n")
    for tag in soup.find_all(_HTML_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    lines = [" ".join(ln.split()) for ln in soup.get_text().split("\n")]
    return "\n".join(lines), title, {}

