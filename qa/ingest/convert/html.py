"""HTML -> Markdown text with trafilatura on lxml (imported on first use).

The declared ``<meta charset>`` wins, else :func:`decode_text`; pages nested
deeper than :data:`MAX_HTML_DEPTH` are refused before parsing (:func:`html_depth`).

Why trafilatura (measured by bench/html_extract.py, issue 10): on the eight
third-party texts in generated government/news pages it keeps the whole article,
as the former bs4 rules did (recall 1.000), while 6.7% of its output is
boilerplate against their 40.8% (menus, breadcrumbs, share bars, related lists,
版权所有/ICP备 footers: the rules only dropped <nav>/<footer>), and it keeps list
and table-only pages whole. html2text converts but extracts nothing (33.6%);
readability-lxml leaks nothing there but loses 8% of the text of real
documentation pages (31% of one) and all of a notice list or a 500-deep page;
jusText has no Chinese stoplist. The cost: 3% of the text of real documentation
pages (link-only tables of contents, <details> blocks) and some heading marks.
"""
from __future__ import annotations

import functools
import logging
import re

from ...errors import IngestError
from ..encoding import decode_text

logger = logging.getLogger("qa.ingest")

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_CJK_EDGE = "\u3400-\u9fff\u3000-\u303f\uff00-\uffef"
# a source line break between two Chinese characters is a hard wrap, not a space;
# the extractor would make it one, so the wraps are joined in the markup first
_WRAP = re.compile(rf"(?<=[{_CJK_EDGE}])[ \t\r\f]*\n\s*(?=[{_CJK_EDGE}])")
_PRE = re.compile(r"(<pre\b.*?</pre\s*>)", re.I | re.S)
# trafilatura's default (250 characters) is a short English page but a whole Chinese
# notice: shorter extractions were replaced by a dump of the page, menus included
MIN_EXTRACTED_SIZE = 1
# older government sites lay pages out in tables; left a table, the extractor flattens the
# article into one row of cells. A cell holding a table, a heading or several blocks is
# layout; a Word export's data cell holds one <p> and stays a table.
_OWN_CELLS = "./tr/td | ./*/tr/td | ./tr/th | ./*/tr/th"
_LAYOUT_CELL = ".//table | .//h1 | .//h2 | .//h3 | .//h4"
_BLOCKS = ".//p | .//div | .//ul | .//ol"

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


def decode_html(data: bytes) -> str:
    """The page as text: its declared charset when Python knows it and it fits, else detected."""
    m = _META_CHARSET.search(data[:4096])
    if m:
        declared = m.group(1).decode("ascii").lower()
        declared = {"gb2312": "gb18030", "gbk": "gb18030", "big5": "cp950"}.get(declared, declared)
        try:
            return data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_text(data)[0]


def join_wraps(html: str) -> str:
    """Hard line breaks between Chinese characters removed, except inside <pre>."""
    return "".join(part if i % 2 else _WRAP.sub("", part) for i, part in enumerate(_PRE.split(html)))


def extract(html: str) -> tuple[str, str | None]:
    """(Markdown text of the page's main content, <title> or first <h1>) for a decoded page."""
    import trafilatura
    from lxml import etree, html as lxml_html

    parser = lxml_html.HTMLParser(encoding="utf-8", huge_tree=True,  # libxml2 stops at depth 256 otherwise
                                  remove_comments=True, remove_pis=True, collect_ids=False)
    try:
        tree = lxml_html.document_fromstring(join_wraps(html).encode("utf-8", "replace"), parser=parser)
    except (etree.ParserError, ValueError):  # no elements at all
        return "", None
    title = None
    for node in (tree.find(".//title"), tree.find(".//h1")):
        if node is not None and (title := " ".join(node.text_content().split())):
            break
    for table in tree.xpath("//table"):
        cells = table.xpath(_OWN_CELLS)
        if any(c.xpath(_LAYOUT_CELL) or len(c.xpath(_BLOCKS)) > 1 for c in cells):
            for el in [table, *table.xpath("./*"), *table.xpath("./tr | ./*/tr"), *cells]:
                el.tag = "div"
    text = trafilatura.extract(tree, output_format="markdown", include_tables=True, include_formatting=True,
                               include_links=False, include_images=False, include_comments=False,
                               deduplicate=False, config=_config(MIN_EXTRACTED_SIZE))
    return text or "", title


@functools.cache
def _config(min_extracted_size: int):
    from trafilatura.settings import use_config

    config = use_config()
    config.set("DEFAULT", "MIN_EXTRACTED_SIZE", str(min_extracted_size))
    return config


def convert(data: bytes, display: str, progress: bool) -> tuple[str, str | None, dict]:
    """(text with Markdown headings, lists and `|` table rows, <title> or first <h1>, {})."""
    html = decode_html(data)
    if html_depth(html) > MAX_HTML_DEPTH:
        raise IngestError(f"this page nests its elements more than {MAX_HTML_DEPTH} levels deep, "
                          "which no real page does; it is refused rather than parsed")
    text, title = extract(html)
    logger.debug("%s: %d characters extracted", display, len(text))
    return text, title, {}
