"""HTML extractors measured for qa.ingest.convert.html (issue 10).

Candidates: the bs4 rules html.py used before issue 10 (read from git), the
converter html.py ships now (trafilatura on lxml, wraps joined, layout tables
unwrapped; also with trafilatura's rescue threshold at 250 and 50 characters),
plain trafilatura (balanced, precision, recall), html2text, readability-lxml
(its summary, then the old bs4 rules) and jusText (it has no Chinese stoplist,
so it runs on paragraph length alone).

Pages:
  synthetic  the eight texts in ../shared/corpora/third-party/*.txt (read at run
             time, never stored here) wrapped in generated Chinese government /
             news-portal boilerplate, three layouts each; the reference is the text
             the bench put into the article (title, paragraphs, subheadings, table)
  real       HTML documentation shipped on this machine (Node.js API, npm, mdBook,
             Valgrind); the reference is the page's content element
  other      pages that are not articles: a notice list, a statistics table, a
             one-line page, a page nested 500 deep (under the 1,000 cap)

Scores, on units (a CJK character or a Latin word):
  recall     share of the reference's units in the output (multiset)
  leak       share of the output's units not in the reference (boilerplate kept)
  marks      boilerplate phrases (ICP备, 分享到, 当前位置, ...) found in the output
  para       share of reference paragraphs that begin an output line
  head       share of subheadings that come out as a Markdown heading
  cut        whitespace between two Chinese characters that the reference lacks
             (a line broken or a wrap left as a space inside a sentence)
  ms         milliseconds per page (median)

    .venv/bin/python bench/html_extract.py [--real N] [--show NAME]
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import random
import re
import statistics
import subprocess
import sys
import time
import types
from collections import Counter
from pathlib import Path

from common import ROOT, table

THIRD_PARTY = ROOT.parent / "shared" / "corpora" / "third-party"
BEFORE_COMMIT = "15419c0"  # the last commit with html.py's hand-written bs4 rules

_CJK = "\u3400-\u9fff"
_UNIT = re.compile(rf"[{_CJK}]|[A-Za-z0-9]+")
_CUT = re.compile(rf"[{_CJK}]\s+[{_CJK}]")
_LINE_MARK = re.compile(r"^[\s#>*|\-]+")
_NOISE = re.compile(r"[\s|*#`\u00a0]+")  # whitespace and Markdown marks, ignored when lines are compared


# ---- candidates ---------------------------------------------------------------

def _before_module():
    """html.py as it was before issue 10, loaded from git as a sibling module."""
    try:
        src = subprocess.run(["git", "show", f"{BEFORE_COMMIT}:qa/ingest/convert/html.py"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    mod = types.ModuleType("qa.ingest.convert._html_before")
    mod.__package__ = "qa.ingest.convert"  # its relative imports resolve inside qa
    exec(compile(src, "html_before.py", "exec"), mod.__dict__)
    return mod


def candidates() -> dict:
    from qa.ingest.convert import html as shipped

    out = {}
    before = _before_module()
    if before is not None:
        out["bs4 rules (before)"] = lambda raw: before.convert(raw.encode(), "p.html", False)[0]
    out["qa html.convert (now)"] = lambda raw: shipped.convert(raw.encode(), "p.html", False)[0]

    def shipped_with(min_size):  # the shipped converter with trafilatura's rescue threshold changed
        def run(raw):
            kept, shipped.MIN_EXTRACTED_SIZE = shipped.MIN_EXTRACTED_SIZE, min_size
            try:
                return shipped.convert(raw.encode(), "p.html", False)[0]
            finally:
                shipped.MIN_EXTRACTED_SIZE = kept
        return run
    for size in (250, 50):
        out[f"  same, rescue below {size}"] = shipped_with(size)
    if importlib.util.find_spec("trafilatura"):
        import trafilatura

        def traf(**kw):
            return lambda raw: trafilatura.extract(raw, output_format="markdown", include_tables=True,
                                                   include_formatting=True, include_links=False,
                                                   include_images=False, include_comments=False,
                                                   deduplicate=False, **kw) or ""
        out["trafilatura"] = traf()
        out["trafilatura precision"] = traf(favor_precision=True)
        out["trafilatura recall"] = traf(favor_recall=True)
    if importlib.util.find_spec("html2text"):
        import html2text

        def h2t(raw):
            h = html2text.HTML2Text()
            h.body_width, h.ignore_links, h.ignore_images, h.ignore_emphasis = 0, True, True, True
            return h.handle(raw)
        out["html2text"] = h2t
    if importlib.util.find_spec("readability") and before is not None:
        from readability import Document

        out["readability + bs4"] = lambda raw: before.convert(
            Document(raw).summary(html_partial=True).encode(), "p.html", False)[0]
    if importlib.util.find_spec("justext"):
        import justext

        def jt(raw):
            paras = justext.justext(raw.encode(), frozenset(), stopwords_low=0, stopwords_high=0,
                                    encoding="utf-8")
            return "\n\n".join(p.text for p in paras if not p.is_boilerplate)
        out["justext (no zh list)"] = jt
    return out


# ---- synthetic pages ---------------------------------------------------------

NAV = ["首页", "机构概况", "新闻动态", "政务公开", "办事服务", "互动交流", "专题专栏", "English"]
MARKS = ["ICP备", "公网安备", "版权所有", "分享到", "当前位置", "上一篇", "下一篇", "相关文章", "打印本页",
         "关闭窗口", "网站地图", "联系我们", "浏览次数", "字体", "扫一扫", "热点新闻", "网站标识码", "欢迎访问"]


def _source(path: Path) -> tuple[str, list[str]]:
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return lines[0], lines[1:]


def _is_heading(line: str) -> bool:
    return len(line) <= 30 and not re.search(r"[。！？；，,.:：)）]$", line)


def _wrap(text: str, width: int) -> str:
    """Hard line breaks every ``width`` characters, as CMS editors and Word exports leave them
    (never inside a Latin word or a number, which editors do not split)."""
    lines, line = [], ""
    for i, ch in enumerate(text):
        if len(line) >= width and not (line[-1].isascii() and line[-1].isalnum() and ch.isascii() and ch.isalnum()):
            lines.append(line)
            line = ""
        line += ch
    return "\n".join([*lines, line])


def _stats_table(rng: random.Random) -> tuple[str, list[str]]:
    rows = [["年份", "发明专利授权量（件）", "商标注册量（件）", "质押融资金额（亿元）"]]
    for year in range(2019, 2024):
        rows.append([str(year), str(rng.randint(3000, 9000)), str(rng.randint(20000, 90000)),
                     f"{rng.uniform(10, 400):.2f}"])
    html = "<table class='data' border='1' style='width:100%'>" + "".join(
        "<tr>" + "".join((f"<th>{c}</th>" if i == 0 else f"<td>{c}</td>") for c in r) + "</tr>"
        for i, r in enumerate(rows)) + "</table>"
    return html, [" ".join(r) for r in rows]


def _related(rng: random.Random) -> str:
    topics = ["专利转化专项计划", "商标品牌指导站", "地理标志保护工程", "知识产权纠纷调解", "数据知识产权登记"]
    return "".join(f"<li><a href='/art/{rng.randint(1000, 9999)}.html'>我市召开{t}推进会</a>"
                   f"<span class='date'>2023-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}</span></li>" for t in topics)


def _footer(city: str) -> str:
    return (f"<p>主办：{city}市市场监督管理局（知识产权局）　承办：{city}市大数据中心</p>"
            f"<p>地址：{city}市人民路100号　邮编：315000　电话：0574-12345678</p>"
            "<p>版权所有 © 2023　浙ICP备12345678号-1　浙公网安备 33020302000123号　网站标识码：3302000001</p>"
            "<p><a href='/sitemap'>网站地图</a> | <a href='/contact'>联系我们</a></p>")


_SCRIPTS = ("<script>var _hmt=_hmt||[];(function(){var hm=document.createElement('script');"
            "hm.src='https://hm.baidu.com/hm.js?abc';document.write('欢迎访问本网站');})();</script>"
            "<script type='text/javascript'>function setFont(s){document.getElementById('zoom')"
            ".style.fontSize=s+'px';}</script>")


def build_page(title: str, paras: list[str], layout: int, seed: int) -> tuple[str, dict]:
    """(page, reference) for one text in one of three layouts."""
    rng = random.Random(seed)
    city = rng.choice(["宁波", "温州", "嘉兴", "绍兴"])
    table_html, table_lines = _stats_table(rng)
    body_html, ref_paras, heads = [], [], []
    wrap = layout != 0  # layouts 1 and 2 hard-wrap their paragraphs inside <p>
    for p in paras:
        if _is_heading(p):
            if layout == 1:  # old sites mark subheadings with bold only
                body_html.append(f"<p><strong>{p}</strong></p>")
            else:
                body_html.append(f"<h2>{p}</h2>")
                heads.append(p)
        else:
            style = " style='text-indent:2em;line-height:2'" if layout == 1 else ""
            body_html.append(f"<p{style}>{_wrap(p, 37) if wrap else p}</p>")
        ref_paras.append(p)
    if layout == 0:  # a statistics table inside the article
        body_html.insert(min(2, len(body_html)), table_html)
        ref_paras[2:2] = table_lines
    article = "\n".join(body_html)
    meta = f"发布时间：2023-04-2{rng.randint(0, 9)}　来源：{city}市知识产权局　浏览次数：{rng.randint(100, 9999)}"
    share = "<div class='share'>分享到：<a>微信</a><a>微博</a><a>QQ空间</a>　扫一扫在手机打开当前页</div>"
    tools = "<div class='tools'>字体：<a>大</a> <a>中</a> <a>小</a>　<a>【打印本页】</a><a>【关闭窗口】</a></div>"
    prevnext = ("<div class='prevnext'><p>上一篇：我市举办知识产权宣传周活动</p>"
                "<p>下一篇：关于公布2023年度专利奖评选结果的通知</p></div>")
    if layout == 0:  # modern: semantic tags for the frame
        page = (f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'><title>{title}_{city}市知识产权局"
                f"</title><style>.nav li{{float:left}}</style>{_SCRIPTS}</head><body>"
                "<header><div class='logo'>" + city + "市知识产权局</div><nav><ul>"
                + "".join(f"<li><a href='/{i}'>{n}</a></li>" for i, n in enumerate(NAV)) + "</ul></nav></header>"
                "<div class='crumb'>当前位置：<a>首页</a> &gt; <a>新闻动态</a> &gt; 工作动态</div>"
                f"<main><article><h1>{title}</h1><div class='info'>{meta}</div>{tools}"
                f"<div class='content' id='zoom'>{article}</div>{share}{prevnext}</article>"
                f"<aside><h3>相关文章</h3><ul>{_related(rng)}</ul></aside></main>"
                f"<footer>{_footer(city)}</footer></body></html>")
    elif layout == 1:  # an old government site: layout tables, no semantic tags
        navrow = "".join(f"<td class='navtd'><a href='/{i}'>{n}</a></td>" for i, n in enumerate(NAV))
        page = (f"<html><head><meta http-equiv='Content-Type' content='text/html; charset=utf-8'>"
                f"<title>{title}</title>{_SCRIPTS}</head><body style='margin:0'>"
                f"<table width='1000' align='center'><tr><td><img src='/banner.jpg'></td></tr></table>"
                f"<table width='1000' align='center' class='nav'><tr>{navrow}</tr></table>"
                "<table width='1000' align='center'><tr>"
                "<td width='220' valign='top' class='left'><div class='lm'>热点新闻</div><ul>"
                f"{_related(rng)}</ul></td><td valign='top'>"
                "<div class='position'>当前位置：<a>首页</a> &gt; <a>政务公开</a> &gt; <a>工作动态</a></div>"
                f"<table width='100%'><tr><td align='center' class='title'><b>{title}</b></td></tr>"
                f"<tr><td align='center' class='time'>{meta}</td></tr>"
                f"<tr><td class='zoom' id='zoom'>{article}</td></tr></table>{tools}{prevnext}"
                "</td></tr></table>"
                f"<table width='1000' align='center' class='bottom'><tr><td>{_footer(city)}</td></tr></table>"
                "</body></html>")
    else:  # a news portal: divs with class names only, comments and a related list
        page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title} - 新闻中心 - {city}网</title>"
                f"<link rel='stylesheet' href='/css/a.css'>{_SCRIPTS}</head><body>"
                "<div class='top'><div class='topbar'>欢迎访问" + city + "网　<a>登录</a> <a>注册</a></div>"
                "<div class='menu'>" + "".join(f"<a href='/{i}'>{n}</a>" for i, n in enumerate(NAV)) + "</div></div>"
                "<div class='wrap'><div class='main-left'>"
                "<div class='crumb'>当前位置：<a>首页</a> &gt; <a>新闻中心</a> &gt; <a>本地</a></div>"
                f"<div class='article'><h1 class='art-title'>{title}</h1><div class='art-info'>{meta}</div>"
                f"<div class='art-body'>{article}</div><div class='editor'>（责任编辑：王小明）</div>"
                f"{share}</div>{prevnext}<div class='related'><div class='hd'>相关文章</div><ul>{_related(rng)}"
                "</ul></div><div class='comment'>网友评论：<textarea>请输入评论</textarea><a>发表</a></div></div>"
                f"<div class='main-right'><div class='hot'>热点新闻</div><ul>{_related(rng)}</ul></div></div>"
                f"<div class='foot'>{_footer(city)}</div></body></html>")
    return page, {"paras": ref_paras, "heads": heads, "title": title}


def synthetic_pages() -> list[tuple[str, str, dict]]:
    pages = []
    for n, path in enumerate(sorted(THIRD_PARTY.glob("*.txt"))):
        title, paras = _source(path)
        for layout in range(3):
            page, ref = build_page(title, paras, layout, seed=n * 10 + layout)
            pages.append((f"{path.stem}/{layout}", page, ref))
    return pages


# ---- real and non-article pages ----------------------------------------------

REAL_FAMILIES = [  # (glob, the element holding the page's content)
    ("/usr/share/doc/nodejs/api/*.html", {"id": "apicontent"}),
    ("/usr/lib/node_modules/npm/docs/output/commands/*.html", {"id": "_content"}),
    (os.path.expanduser("~/.rustup/toolchains/*/share/doc/rust/html/rustc/*.html"), {"name": "main"}),
    ("/usr/share/doc/valgrind/html/*.html", {"class_": "chapter"}),
]


def real_pages(per_family: int) -> list[tuple[str, str, dict]]:
    from bs4 import BeautifulSoup

    pages = []
    for pattern, where in REAL_FAMILIES:
        files = [f for f in sorted(glob.glob(pattern)) if 5_000 < os.path.getsize(f) < 150_000]
        for f in files[:per_family]:
            raw = Path(f).read_text(encoding="utf-8", errors="replace")
            soup = BeautifulSoup(raw, "html.parser")
            node = soup.find(where.get("name"), id=where.get("id"), class_=where.get("class_"))
            if node is None:
                continue
            for t in node.find_all(["script", "style"]):
                t.decompose()
            paras = [ln.strip() for ln in node.get_text("\n").split("\n") if ln.strip()]
            heads = [h.get_text(" ", strip=True) for h in node.find_all(["h2", "h3"])]
            pages.append((f"{Path(f).parent.name}/{Path(f).stem}"[:30], raw,
                          {"paras": paras, "heads": heads, "title": None}))
    return pages


def other_pages() -> list[tuple[str, str, dict]]:
    items = [f"关于开展2023年第{i}批知识产权示范企业认定工作的通知" for i in range(1, 21)]
    notices = ("<html><head><meta charset='utf-8'><title>通知公告</title></head><body><h1>通知公告</h1><ul>"
               + "".join(f"<li><a href='/n{i}'>{t}</a> <span>2023-05-{i:02d}</span></li>" for i, t in enumerate(items))
               + "</ul></body></html>")
    rows = [["地区", "发明专利授权量", "同比增长"]] + [[c, str(1000 + 37 * i), f"{i + 3}.5%"]
                                              for i, c in enumerate(["宁波", "温州", "嘉兴", "湖州", "绍兴"])]
    stats = ("<html><head><title>2023年各地专利授权统计</title></head><body><table>"
             + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
             + "</table></body></html>")
    line = "宁波市2023年知识产权质押融资金额为394.11亿元。"
    short = f"<html><body><p>{line}</p></body></html>"
    deep = "<html><body>" + "<div>" * 500 + f"<p>{line}</p>" + "</div>" * 500 + "</body></html>"
    empty = {"heads": [], "title": None}
    return [("notice list", notices, {**empty, "paras": items, "title": "通知公告"}),
            ("stats table only", stats, {**empty, "paras": [" ".join(r) for r in rows],
                                         "title": "2023年各地专利授权统计"}),
            ("one sentence", short, {**empty, "paras": [line]}),
            ("500 deep", deep, {**empty, "paras": [line]})]


# ---- scoring -----------------------------------------------------------------

def score(out: str, ref: dict) -> dict:
    """The title is left out of recall (html.convert returns it apart, convert_file heads the
    document with it) but not counted as leaked when an extractor keeps it in the text."""
    ref_text = "\n".join(ref["paras"])
    ru, ou = Counter(_UNIT.findall(ref_text)), Counter(_UNIT.findall(out))
    recall = sum((ru & ou).values()) / max(1, sum(ru.values()))
    allowed = ru + Counter(_UNIT.findall(ref["title"] or ""))
    leak = 1 - sum((allowed & ou).values()) / sum(ou.values()) if ou else 0.0
    starts = {_NOISE.sub("", _LINE_MARK.sub("", ln))[:10] for ln in out.splitlines()}
    paras = [_NOISE.sub("", p)[:10] for p in ref["paras"] if len(p) >= 8]
    para = sum(p in starts for p in paras) / len(paras) if paras else 1.0
    md_heads = {_NOISE.sub("", ln) for ln in out.splitlines() if ln.startswith("#")}
    head = (sum(_NOISE.sub("", h) in md_heads for h in ref["heads"]) / len(ref["heads"])) if ref["heads"] else None
    marks = sum(m in out and m not in ref_text for m in MARKS)
    cut = max(0, len(_CUT.findall(out)) - len(_CUT.findall(ref_text)))
    return {"recall": recall, "leak": leak, "para": para, "head": head, "marks": marks, "cut": cut,
            "empty": not out.strip()}


def measure(fn, pages) -> tuple[list[dict], float]:
    rows, times = [], []
    try:
        fn(pages[0][1])  # warm: imports and first-use setup are not per-page costs
    except Exception:
        pass
    for _name, raw, ref in pages:
        t0 = time.perf_counter()
        try:
            out = fn(raw) or ""
        except Exception as exc:  # a candidate that fails on a page scores it as empty
            out = ""
            print(f"  ({type(exc).__name__}: {str(exc)[:80]})", file=sys.stderr)
        times.append(time.perf_counter() - t0)
        rows.append(score(out, ref))
    return rows, statistics.median(times)


def _mean(xs) -> float:
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else float("nan")


def report(title: str, cands: dict, pages: list) -> None:
    rows = []
    for name, fn in cands.items():
        res, med = measure(fn, pages)
        rows.append([name, f"{_mean(r['recall'] for r in res):.3f}", f"{min(r['recall'] for r in res):.3f}",
                     f"{_mean(r['leak'] for r in res):.3f}", f"{_mean(r['marks'] for r in res):.1f}",
                     f"{_mean(r['para'] for r in res):.2f}", f"{_mean(r['head'] for r in res):.2f}",
                     f"{_mean(r['cut'] for r in res):.1f}", sum(r["empty"] for r in res), f"{med * 1e3:.1f}"])
    table(f"{title} ({len(pages)} pages)",
          ["candidate", "recall", "min rec", "leak", "marks", "para", "head", "cut", "empty", "ms"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", type=int, default=4, help="real pages per family (0: none)")
    ap.add_argument("--show", help="print each candidate's output for the synthetic page with this name")
    args = ap.parse_args()
    cands = candidates()
    synth = synthetic_pages()
    if args.show:
        raw = next(p for n, p, _ in synth if n.startswith(args.show))
        for name, fn in cands.items():
            print(f"\n===== {name}\n{fn(raw)}")
        return
    print(f"candidates: {', '.join(cands)}")
    report("third-party texts in generated boilerplate", cands, synth)
    for layout, label in enumerate(["semantic tags", "layout tables", "class names only"]):
        report(f"  layout {layout}: {label}", cands, [p for p in synth if p[0].endswith(f"/{layout}")])
    if args.real:
        report("real pages on this machine", cands, real_pages(args.real))
    report("non-article pages", cands, other_pages())
    print("\nrecall/leak: units (CJK char or word) of the reference kept / output not in it; marks: boilerplate "
          "phrases leaked per page; para: paragraphs starting a line; head: subheadings as '#'; cut: spaces or "
          "breaks inside Chinese text per page; empty: pages with no output; ms: median per page")


if __name__ == "__main__":
    main()
