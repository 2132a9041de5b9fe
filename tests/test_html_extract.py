"""qa.ingest.convert.html on trafilatura: boilerplate out, the article in, Chinese lines whole.

Every page is generated here; no third-party text is stored in the tests.
"""
import subprocess
import sys
from types import SimpleNamespace

from qa.ingest import convert_file
from qa.ingest.convert import html

PARAS = [
    "2023年，宁波市发明专利授权量达到12345件，同比增长百分之十二点五，继续位居全省前列。",
    "全市知识产权质押融资金额为394.11亿元，惠及企业一千二百余家，其中中小企业占比超过八成。",
    "下一步，宁波将建设知识产权保护中心，开展快速预审、快速确权和快速维权服务，优化营商环境。",
]
NAV = ["首页", "机构概况", "新闻动态", "政务公开", "办事服务", "互动交流"]
FOOTER = "版权所有 © 2023 宁波市市场监督管理局　浙ICP备12345678号-1　浙公网安备33020302000123号"


def _wrapped(text: str, width: int = 17) -> str:
    """Hard line breaks inside the sentence between Chinese characters, as CMS editors leave them."""
    out = ""
    for i, ch in enumerate(text):
        out += ch
        if i % width == width - 1 and "\u4e00" <= ch <= "\u9fff" and "\u4e00" <= text[i + 1:i + 2] <= "\u9fff":
            out += "\n"
    return out


def _page(*, semantic: bool) -> str:
    menu = "".join(f"<li><a href='/{i}'>{n}</a></li>" for i, n in enumerate(NAV))
    body = "<h2>总体情况</h2>" + "".join(f"<p>{_wrapped(p)}</p>" for p in PARAS)
    frame = ("<nav><ul>{menu}</ul></nav>", "<footer>{foot}</footer>") if semantic else (
        "<div class='menu'><ul>{menu}</ul></div>", "<div class='bottom'>{foot}</div>")
    return ("<html><head><meta charset='utf-8'><title>宁波知识产权工作动态</title>"
            "<style>.menu li{float:left}</style>"
            "<script>var _hmt=[];document.write('欢迎访问本网站');</script></head><body>"
            + frame[0].format(menu=menu)
            + "<div class='crumb'>当前位置：首页 &gt; 新闻动态 &gt; 工作动态</div>"
            "<div class='article'><h1>宁波知识产权工作动态</h1>"
            f"<div class='content'>{body}</div>"
            "<div class='share'>分享到：微信 微博 QQ空间</div></div>"
            + frame[1].format(foot=FOOTER) + "</body></html>")


def _lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def test_boilerplate_is_dropped_with_or_without_semantic_tags():
    for semantic in (True, False):
        text, title, _ = html.convert(_page(semantic=semantic).encode(), "p.html", False)
        assert title == "宁波知识产权工作动态"
        for junk in ("机构概况", "政务公开", "ICP备", "版权所有", "当前位置", "分享到", "欢迎访问", "_hmt", "float"):
            assert junk not in text, (semantic, junk, text)


def test_paragraphs_and_headings_survive_each_on_its_own_line():
    text, _, _ = html.convert(_page(semantic=False).encode(), "p.html", False)
    lines = _lines(text)
    assert "## 总体情况" in lines
    assert sum("\n" in _wrapped(p) for p in PARAS) == 3  # the markup does break them
    for p in PARAS:
        assert p in lines  # whole and on a line of its own: the hard wraps are joined, not spaces


def test_chinese_lines_are_not_broken_mid_sentence():
    text, _, _ = html.convert(_page(semantic=True).encode(), "p.html", False)
    for line in _lines(text):
        if not line.startswith("#"):
            assert line[-1] in "。！？：；）", line  # every body line ends a sentence
    assert html.join_wraps("<p>专利\n  授权</p><pre>第一行\n第二行</pre>") == "<p>专利授权</p><pre>第一行\n第二行</pre>"
    assert html.join_wraps("<p>Patent\ngrants</p>") == "<p>Patent\ngrants</p>"  # Latin wraps stay spaces


def test_a_list_page_still_yields_its_items():
    items = [f"关于开展2023年第{i}批知识产权示范企业认定工作的通知" for i in range(1, 16)]
    page = ("<html><head><title>通知公告</title></head><body><h1>通知公告</h1><ul>"
            + "".join(f"<li><a href='/n{i}'>{t}</a> <span>2023-05-{i:02d}</span></li>" for i, t in enumerate(items))
            + "</ul></body></html>")
    text, title, _ = html.convert(page.encode(), "list.html", False)
    assert title == "通知公告"
    assert all(t in text for t in items)


def test_a_short_page_keeps_its_sentence_and_drops_its_menu():
    # trafilatura swaps extractions under 250 characters (a whole Chinese notice) for a dump of the page
    page = ("<html><body><nav><a>首页</a><a>机构概况</a></nav>"
            "<p>宁波市2023年知识产权质押融资金额为394.11亿元。</p></body></html>")
    text, _, _ = html.convert(page.encode(), "short.html", False)
    assert text.strip() == "宁波市2023年知识产权质押融资金额为394.11亿元。"


def test_data_tables_stay_tables_and_layout_tables_do_not():
    data = ("<table><tr><td><p>年份</p></td><td><p>授权量</p></td></tr>"
            "<tr><td><p>2023</p></td><td><p>12345</p></td></tr></table>")
    layout = ("<table><tr><td><a>首页</a></td><td><div>" + "".join(f"<p>{p}</p>" for p in PARAS)
              + data + "</div></td></tr></table>")
    text, _, _ = html.convert(f"<html><body>{layout}</body></html>".encode(), "t.html", False)
    lines = _lines(text)
    assert all(p in lines for p in PARAS)  # the layout cell's paragraphs, one per line
    assert "| 2023 | 12345 |" in lines  # the Word-style data table inside it, still a table


def test_nesting_past_libxml2s_default_limit_still_converts():
    # libxml2 stops building the tree at depth 256 unless told otherwise; the cap here is 1,000
    page = "<html><body>" + "<div>" * 600 + "<p>宁波市专利授权数量增长。</p>" + "</div>" * 600 + "</body></html>"
    text, _, _ = html.convert(page.encode(), "deep.html", False)
    assert "宁波市专利授权数量增长。" in text


def test_gb18030_page_with_an_xml_declaration(tmp_path):
    src = tmp_path / "old.htm"
    page = ("<?xml version='1.0' encoding='gb2312'?><html><head><meta charset='gb2312'><title>简报</title></head>"
            f"<body><p>{PARAS[0]}</p></body></html>")
    src.write_bytes(page.encode("gb18030"))
    doc = convert_file(src, SimpleNamespace(max_file_mb=1.0))
    assert doc.title == "简报" and PARAS[0] in doc.body


def test_a_page_with_no_text_yields_none():
    assert html.convert(b"<html><head><title></title></head><body></body></html>", "e.html", False)[0] == ""
    assert html.convert(b"   ", "blank.html", False)[:2] == ("", None)


def test_importing_ingest_does_not_load_the_extractor():
    code = "import sys, qa.ingest; print(sorted(m for m in ('trafilatura', 'lxml') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
