"""Adding, removing and listing documents (issue #5).

Every test that changes documents works on a private copy of the corpus AND
of the session engine's already built index, so a test only pays for what it
embeds itself (a few small files), never for the whole corpus.
"""
import io
import json
import os
import random
import shutil
from pathlib import Path

import pytest

from qa import cli
from qa.corpus import load_corpus, split_front_matter
from qa.errors import IngestError, InvalidQuestion
from qa.ingest import (FileResult, add_files, check_path, allowed_roots, convert_file, decode_text,
                       list_documents, remove_document, slugify)
from qa.pipeline import Engine
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "2023年宁波新增专利授权多少件？"


# ---- fixtures and helpers ---------------------------------------------------

@pytest.fixture
def fresh(engine, encoder, tmp_path) -> Engine:
    """A private copy of the real corpus and of its built index."""
    return copy_engine(engine, encoder, tmp_path)


def copy_engine(engine, encoder, base: Path, **changes) -> Engine:
    corpus_dir, index_dir = base / "corpus", base / "index"
    shutil.copytree(engine.settings.corpus_dir, corpus_dir)
    shutil.copytree(engine.settings.index_dir, index_dir, ignore=shutil.ignore_patterns("*.lock", ".tmp-*"))
    eng = Engine(engine.settings.replace(corpus_dir=corpus_dir, index_dir=index_dir, **changes),
                 encoder=encoder)
    assert eng.build(progress=False) is None  # the copy is up to date: nothing to embed
    return eng


def record_builds(eng: Engine) -> list:
    """Wrap eng.build so a test can see each BuildReport add/remove produced."""
    reports, real = [], eng.build

    def build(*args, **kwargs):
        report = real(*args, **kwargs)
        reports.append(report)
        return report

    eng.build = build
    return reports


def snapshot(eng: Engine) -> tuple[dict, str | None]:
    corpus_dir = Path(eng.settings.corpus_dir)
    files = {p.name: p.read_bytes() for p in corpus_dir.iterdir()}
    return files, eng.store.current()


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal PDF with real extractable (CJK) text: Type0 font, Identity-H, ToUnicode CMap."""
    chars = sorted({ch for page in pages for ch in page if ch != "\n"})
    cid = {ch: i + 1 for i, ch in enumerate(chars)}
    bf = "\n".join(f"<{cid[ch]:04X}> <{ord(ch):04X}>" for ch in chars)
    cmap = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            "/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
            "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
            f"{len(chars)} beginbfchar\n{bf}\nendbfchar\n"
            "endcmap CMapName currentdict /CMap defineresource pop end end\n").encode()
    kids = [7 + 2 * i for i in range(len(pages))]
    objs = {
        1: "<< /Type /Catalog /Pages 2 0 R >>",
        2: f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(pages)} >>",
        3: "<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /Identity-H "
           "/DescendantFonts [4 0 R] /ToUnicode 5 0 R >>",
        4: "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
           "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 1000 >>",
        5: cmap,
        6: f"<< /Title <FEFF{title.encode('utf-16-be').hex().upper()}> >>" if title else "<< >>",
    }
    for kid, page in zip(kids, pages):
        ops = ["BT /F1 12 Tf 14 TL 40 800 Td"]
        ops += [("<" + "".join(f"{cid[ch]:04X}" for ch in ln) + "> Tj T*") if ln else "T*"
                for ln in page.split("\n")]
        objs[kid] = (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
                     f"/Resources << /Font << /F1 3 0 R >> >> /Contents {kid + 1} 0 R >>")
        objs[kid + 1] = "\n".join(ops + ["ET"]).encode()
    out, offsets = io.BytesIO(), {}
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    for num in sorted(objs):
        offsets[num] = out.tell()
        body = objs[num]
        if isinstance(body, bytes):
            out.write(f"{num} 0 obj\n<< /Length {len(body)} >>\nstream\n".encode() + body
                      + b"\nendstream\nendobj\n")
        else:
            out.write(f"{num} 0 obj\n{body}\nendobj\n".encode())
    xref, size = out.tell(), max(objs) + 1
    out.write(f"xref\n0 {size}\n0000000000 65535 f \n".encode())
    out.write("".join(f"{offsets[n]:010d} 00000 n \n" for n in range(1, size)).encode())
    out.write(f"trailer\n<< /Size {size} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def encrypted_pdf(password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["机密文件\n内部资料，不得外传。"]))))
    writer.encrypt(password, algorithm="RC4-128")  # RC4 needs no extra crypto package
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def blank_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def make_docx(path: Path) -> None:
    import docx

    d = docx.Document()
    d.core_properties.title = "温州市版权工作总结"
    d.add_heading("温州市版权工作总结", 0)
    d.add_heading("一、作品登记", 1)
    d.add_paragraph("2024年，温州市作品登记量达到86420件，同比增长8.1%，其中美术作品占比最高。")
    table = d.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "指标", (0, 1): "数值", (1, 0): "版权示范单位", (1, 1): "37家"}.items():
        table.cell(r, c).text = text
    d.save(path)


HTML = """<!DOCTYPE html>
<html><head><meta charset="gbk"><title>绍兴市知识产权保护中心年报</title>
<style>p {{ color: red }}</style><script>var tracking = "alert-me";</script></head>
<body><nav><a href="/">网站首页</a> | <a href="/news">新闻中心</a></nav>
<h1>绍兴市知识产权保护中心年报</h1>
<p>2024年，绍兴市知识产权保护中心受理专利预审案件5432件，
预审合格率达到91.2%。</p>
<ul><li>快速预审</li><li>快速维权</li></ul>
<footer>版权所有 绍兴市某某网站 备案号12345</footer></body></html>
"""


def sample_folder(base: Path) -> Path:
    """One file of each supported format, each with a fact no corpus document has."""
    src = base / "upload"
    (src / "sub").mkdir(parents=True)
    (src / "lishui.txt").write_bytes(
        "丽水市知识产权简报\n2024年，丽水市新增发明专利授权1357件，同比增长12.5%。\n"
        "丽水市同时新增地理标志证明商标6件。\n".encode("gbk"))
    (src / "huzhou.md").write_text(
        "---\ntitle: 湖州市商标品牌发展报告\ncity: 湖州\n---\n## 概况\n\n"
        "2024年，湖州市有效注册商标总量达到246810件，居全省前列。\n", encoding="utf-8")
    (src / "sub" / "jiaxing.pdf").write_bytes(make_pdf(
        ["嘉兴市专利导航报告\n2024年，嘉兴市共实施专利导航项目97个，覆盖集成电路等重点产业链。"],
        title="嘉兴市专利导航报告"))
    make_docx(src / "sub" / "wenzhou.docx")
    (src / "shaoxing.html").write_bytes(HTML.format().encode("gbk"))
    return src


# ---- encodings --------------------------------------------------------------

@pytest.mark.parametrize("text", ["专利申请", "产权", "宁波知识产权报告", "hello world 专利",
                                  "2023年，新增专利授权64110件，其中，发明专利9372件。"])
def test_short_gbk_files_are_read_as_gbk(text):
    # charset-normalizer alone reads the 4-character file as Big5 ("蚳瞳扠③")
    assert decode_text(text.encode("gbk")) == (text, "gb18030")


@pytest.mark.parametrize("text", ["權利", "知識產權保護", "臺灣專利申請案件數量逐年增加。"])
def test_big5_files_are_read_as_big5(text):
    assert decode_text(text.encode("big5")) == (text, "big5")


def test_utf8_with_and_without_bom():
    text = "宁波知识产权 report ✓\n"
    assert decode_text(text.encode("utf-8")) == (text, "utf-8")
    assert decode_text(b"\xef\xbb\xbf" + text.encode("utf-8")) == (text, "utf-8")
    assert decode_text(text.encode("utf-16")) == (text, "utf-16")


def test_binary_bytes_are_not_text():
    with pytest.raises(IngestError, match="binary"):
        decode_text(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    noise = bytes(random.Random(7).randbytes(4000).replace(b"\x00", b"\x01"))  # no NUL bytes at all
    with pytest.raises(IngestError, match="binary"):
        decode_text(noise)


# ---- adding -----------------------------------------------------------------

def test_every_format_goes_in_with_one_build_that_embeds_only_the_new_files(fresh, tmp_path):
    reports = record_builds(fresh)
    before = fresh.index()
    results = add_files(fresh, [sample_folder(tmp_path)], progress=False)

    assert [r.ok for r in results] == [True] * 5, [r.to_dict() for r in results]
    assert {r.name for r in results} == {"upload/huzhou.md", "upload/lishui.txt", "upload/shaoxing.html",
                                         "upload/sub/jiaxing.pdf", "upload/sub/wenzhou.docx"}
    assert len(reports) == 1  # one build for the whole batch
    report = reports[0]
    assert report.embedded == sum(r.chunks for r in results) > 0
    assert report.chunks == len(before.chunks) + report.embedded
    assert report.documents == len(before.manifest["files"]) + 5

    docs = {d.meta["original"]: d for d in load_corpus(fresh.settings.corpus_dir) if "original" in d.meta}
    assert set(docs) == {"lishui.txt", "huzhou.md", "jiaxing.pdf", "wenzhou.docx", "shaoxing.html"}
    expect = {"lishui.txt": ("txt", "丽水市知识产权简报", "丽水"),
              "huzhou.md": ("md", "湖州市商标品牌发展报告", "湖州"),
              "jiaxing.pdf": ("pdf", "嘉兴市专利导航报告", "嘉兴"),
              "wenzhou.docx": ("docx", "温州市版权工作总结", "温州"),
              "shaoxing.html": ("html", "绍兴市知识产权保护中心年报", "绍兴")}
    for original, (fmt, title, city) in expect.items():
        doc = docs[original]
        assert doc.name.endswith(".md") and "/" not in doc.name
        assert (doc.meta["format"], doc.title, doc.city) == (fmt, title, city)
        assert str(doc.meta["added"])[:4].isdigit()
        assert doc.body.endswith("\n") and "\r" not in doc.text
    html = docs["shaoxing.html"].body
    assert "受理专利预审案件5432件，预审合格率" in html  # a source line break inside Chinese is no space
    for dropped in ("alert-me", "color: red", "网站首页", "备案号"):
        assert dropped not in html
    assert "版权示范单位 | 37家" in docs["wenzhou.docx"].body
    assert "## 一、作品登记" in docs["wenzhou.docx"].body

    questions = {"lishui.txt": "2024年丽水市新增发明专利授权多少件？",
                 "huzhou.md": "湖州市有效注册商标总量是多少？",
                 "jiaxing.pdf": "嘉兴市实施了多少个专利导航项目？",
                 "wenzhou.docx": "温州市作品登记量达到多少件？",
                 "shaoxing.html": "绍兴市知识产权保护中心受理了多少专利预审案件？"}
    for original, q in questions.items():
        sources = [p.source for p in fresh.retrieve(q, k=3)]
        assert docs[original].name in sources, (q, sources)
    # and the old documents still answer
    assert any("64110件" in p.text for p in fresh.retrieve(QUESTION))


def test_adding_one_file_embeds_exactly_its_chunks(fresh, tmp_path):
    reports = record_builds(fresh)
    src = tmp_path / "quzhou.txt"
    src.write_text("衢州市知识产权年度报告\n\n" + "2024年，衢州市新增有效发明专利2468件。" * 3
                   + "\n\n衢州市还建成知识产权服务站12个，服务企业超过3000家。\n", encoding="utf-8")
    [result] = add_files(fresh, [src], progress=False)
    assert result.ok and result.chunks > 0, result
    assert [r.embedded for r in reports] == [result.chunks]
    assert fresh.index().manifest["doc_chunks"][result.message.split()[2]] == result.chunks


def test_remove_drops_vectors_without_reembedding(fresh, tmp_path):
    src = tmp_path / "Zhoushan Report.txt"
    src.write_text("舟山市海洋知识产权报告\n2024年，舟山市海洋领域专利授权量为864件，同比增长6.6%。\n",
                   encoding="utf-8")
    [added] = add_files(fresh, [src], progress=False)
    assert added.ok
    name = next(d["name"] for d in list_documents(fresh) if d["title"] == "舟山市海洋知识产权报告")
    assert name == "zhoushan-report.md"
    n_before = len(fresh.index().chunks)

    reports = record_builds(fresh)
    result = remove_document(fresh, "zhoushan-report")  # the stem works as well as the file name
    assert result == FileResult("zhoushan-report.md", True, result.message, chunks=added.chunks)
    assert [(r.embedded, r.removed) for r in reports] == [(0, ["zhoushan-report.md"])]
    index = fresh.index()
    assert len(index.chunks) == n_before - added.chunks
    assert name not in index.manifest["files"]
    assert all(p.source != name for p in fresh.retrieve("舟山市海洋领域专利授权量是多少？"))

    # an original corpus document goes the same way
    result = remove_document(fresh, "ningbo-ip-complex.md")
    assert result.ok and reports[-1].embedded == 0
    for bad in ("zhoushan-report", "../corpus/ningbo-2023-ip-report.md", "/etc/passwd", "", ".."):
        res = remove_document(fresh, bad)
        assert not res.ok and res.message
    assert len(reports) == 2  # failed removals build nothing


def test_bad_files_are_rejected_clearly_and_the_rest_still_goes_in(fresh, tmp_path):
    src = tmp_path / "mixed"
    src.mkdir()
    good = "金华市知识产权快报\n2024年，金华市专利质押融资金额达到75.3亿元。\n"
    (src / "good.txt").write_text(good, encoding="utf-8")
    (src / "twin.txt").write_text(good, encoding="utf-8")  # same content as good.txt
    (src / "empty.txt").write_bytes(b"")
    (src / "blank.md").write_text("   \n\n\t\n", encoding="utf-8")
    (src / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    (src / "noise.txt").write_bytes(random.Random(3).randbytes(5000).replace(b"\x00", b"\x01"))
    (src / "broken.pdf").write_bytes(make_pdf(["台州市报告\n内容。"])[:300])
    (src / "locked.pdf").write_bytes(encrypted_pdf())
    (src / "scan.pdf").write_bytes(blank_pdf())
    (src / "fake.docx").write_bytes(b"PK\x03\x04 this is not really a zip")
    (src / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    (src / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    shutil.copy(ROOT / "corpus" / "ningbo-ip-complex.md", src / "copy-of-existing.md")

    reports = record_builds(fresh)
    files_before, _ = snapshot(fresh)
    results = {r.name.split("/", 1)[1]: r for r in add_files(fresh, [src], progress=False)}
    expected = {
        "good.txt": None,
        "twin.txt": "already in the corpus as good.md",
        "empty.txt": "empty",
        "blank.md": "empty",
        "photo.txt": "binary",
        "noise.txt": "binary",
        "broken.pdf": "damaged",
        "locked.pdf": "encrypted",
        "scan.pdf": "no extractable text",
        "fake.docx": "damaged",
        "sheet.xlsx": "unsupported file type .xlsx",
        "old.doc": "unsupported file type .doc; save it as .docx",
        "copy-of-existing.md": "already in the corpus as ningbo-ip-complex.md",
    }
    assert set(results) == set(expected)
    for name, pattern in expected.items():
        r = results[name]
        if pattern is None:
            assert r.ok and r.chunks > 0, r
        else:
            import re
            assert not r.ok and re.search(pattern, r.message), (name, r.message)
            assert r.chunks == 0
    files_after, _ = snapshot(fresh)
    assert set(files_after) - set(files_before) == {"good.md"}
    assert all(files_after[n] == b for n, b in files_before.items())
    assert [r.embedded for r in reports] == [results["good.txt"].chunks]


def test_a_batch_of_only_bad_files_changes_nothing(fresh, tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "x.exe").write_bytes(b"MZ\x90\x00")
    shutil.copy(ROOT / "corpus" / "hangzhou-ip-model-city.md", tmp_path / "dup.md")
    reports = record_builds(fresh)
    before = snapshot(fresh)
    results = add_files(fresh, [tmp_path / "empty.txt", tmp_path / "x.exe", tmp_path / "dup.md",
                                tmp_path / "missing.txt"], progress=False)
    assert [r.ok for r in results] == [False] * 4
    assert "no such file" in results[3].message
    assert snapshot(fresh) == before  # corpus bytes and live generation
    assert reports == []


def test_files_over_the_size_cap_are_refused(fresh, encoder, tmp_path):
    small = Engine(fresh.settings.replace(max_file_mb=0.001), encoder=encoder)  # ~1 KB
    big = tmp_path / "big.txt"
    big.write_text("知识产权。" * 200, encoding="utf-8")  # 3 KB
    before = snapshot(small)
    [r] = add_files(small, [big], progress=False)
    assert not r.ok and "over the 0.001 MB limit" in r.message
    assert snapshot(small) == before
    ok = tmp_path / "ok.txt"
    ok.write_text("衢州知识产权。\n", encoding="utf-8")
    assert convert_file(ok, small.settings).body  # under the cap is fine


def test_paths_outside_the_allowed_folders_are_refused(fresh, tmp_path, monkeypatch):
    import tempfile

    for d in ("cwd", "home", "tmp", "outside"):
        (tmp_path / d).mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    secret = tmp_path / "outside" / "secret.txt"
    secret.write_text("秘密：不应被加入语料库。\n", encoding="utf-8")
    (tmp_path / "cwd" / "link.txt").symlink_to(secret)
    (tmp_path / "cwd" / "docs").mkdir()
    (tmp_path / "cwd" / "docs" / "inner-link.txt").symlink_to(secret)

    before = snapshot(fresh)
    attempts = [secret, "../outside/secret.txt", tmp_path / "home" / ".." / "outside" / "secret.txt",
                "link.txt", "docs", "/etc/passwd", "/proc/self/environ"]
    results = add_files(fresh, attempts, progress=False)
    assert len(results) == len(attempts)
    for r in results:
        assert not r.ok and "outside the folders" in r.message, r
    assert "escapes with '..'" in results[1].message
    assert "link pointing elsewhere" in results[3].message
    assert snapshot(fresh) == before

    roots = allowed_roots(fresh.settings)
    with pytest.raises(IngestError):
        check_path(secret, roots)
    extra = fresh.settings.replace(allowed_upload_dirs=(str(tmp_path / "outside"),))
    assert check_path(secret, allowed_roots(extra)) == secret.resolve()
    assert check_path("link.txt", allowed_roots(extra)) == secret.resolve()
    assert Path("/") not in allowed_roots(fresh.settings.replace(allowed_upload_dirs=("/",)))


def test_names_are_safe_and_never_clobber_another_document(fresh, tmp_path):
    assert slugify("../../etc/passwd") == "etc-passwd"
    assert slugify("宁波 2023 报告（终稿）") == "宁波-2023-报告-终稿"
    assert slugify("...") == "document" and slugify("a/b\\c..d") == "a-b-c.d"
    assert len(slugify("长" * 300)) <= 60

    existing = (ROOT / "corpus" / "ningbo-ip-complex.md").read_bytes()
    clash = tmp_path / "Ningbo-IP-Complex.txt"
    clash.write_text("宁波知识产权综合体补充材料\n2024年，综合体新增入驻服务机构8家。\n", encoding="utf-8")
    [r] = add_files(fresh, [clash], progress=False)
    assert r.ok and r.message.startswith("added as ningbo-ip-complex-2.md"), r
    assert (Path(fresh.settings.corpus_dir) / "ningbo-ip-complex.md").read_bytes() == existing
    assert not list(Path(fresh.settings.corpus_dir).glob(".ingest-*"))  # no temp files left


# ---- listing and the CLI ----------------------------------------------------

def test_list_documents_matches_the_index(fresh):
    docs = list_documents(fresh)
    index = fresh.index()
    assert {tuple(sorted(d)) for d in docs} == {("chars", "chunks", "city", "name", "sha256", "title", "year")}
    assert {d["name"]: d["chunks"] for d in docs} == index.manifest["doc_chunks"]
    assert {d["name"]: d["sha256"] for d in docs} == index.manifest["files"]
    assert all(d["chars"] > 0 and d["title"] for d in docs)


def test_cli_add_list_remove(fresh, encoder, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QA_CORPUS_DIR", str(fresh.settings.corpus_dir))
    monkeypatch.setenv("QA_INDEX_DIR", str(fresh.settings.index_dir))
    monkeypatch.setattr(cli, "_engine", lambda: Engine(Settings.from_env(), encoder=encoder))
    src = tmp_path / "lishui-brief.txt"
    src.write_text("丽水市版权简报\n2024年，丽水市版权登记量为4321件。\n", encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")

    assert cli.main(["add", "--quiet", str(src)]) == 0
    assert "added as lishui-brief.md" in capsys.readouterr().out
    assert cli.main(["add", "--quiet", str(src), str(tmp_path / "empty.txt")]) == 1  # some failed
    out = capsys.readouterr().out
    assert "already in the corpus as lishui-brief.md" in out and "the file is empty" in out

    assert cli.main(["list", "--json"]) == 0
    listed = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert listed["lishui-brief.md"]["title"] == "丽水市版权简报"
    assert cli.main(["list"]) == 0
    assert "lishui-brief.md" in capsys.readouterr().out

    assert cli.main(["remove", "lishui-brief"]) == 0
    assert "removed lishui-brief.md" in capsys.readouterr().out
    assert cli.main(["remove", "lishui-brief"]) == 1
    assert cli.main(["add", "--json", "--quiet", str(tmp_path / "nope.pdf")]) == 1
    [row] = json.loads(capsys.readouterr().out)
    assert row == {"name": "nope.pdf", "ok": False, "message": "no such file or folder", "chunks": 0}


# ---- questions --------------------------------------------------------------

@pytest.mark.parametrize("question", ["", "   \n\t  ", "问" * 10_000, "\x00\x01\x02\x1b\x7f",
                                      "\u200b\u200e\ufeff"],
                         ids=["empty", "whitespace", "10000-chars", "control-chars", "format-chars"])
def test_invalid_questions_are_refused(encoder, tmp_path, question):
    eng = Engine(Settings.from_env(index_dir=tmp_path / "index"), encoder=encoder)
    with pytest.raises(InvalidQuestion):
        eng.ask(question)
    with pytest.raises(InvalidQuestion):
        eng.retrieve(question)


def test_control_characters_inside_a_real_question_are_dropped(engine):
    passages = engine.retrieve("2023年宁波\x00新增专利授权\x07多少件？\x1b")
    assert any("64110件" in p.text for p in passages)


def test_front_matter_written_for_added_documents_round_trips(tmp_path):
    src = tmp_path / "t.md"
    src.write_text("---\ntitle: 'a: b'\ntags: [x, y]\n---\n# 标题\n\n正文内容。\n", encoding="utf-8")
    doc = convert_file(src, Settings())
    assert doc.title == "a: b" and doc.meta["tags"] == ["x", "y"]
    assert split_front_matter("---\ntitle: x\n---\nbody")[1] > 0
    assert os.path.basename(str(doc.source)) == "t.md"
