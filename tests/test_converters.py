"""qa.ingest.convert: the suffix registry, one module per format, parsers imported on first use."""
import io
import subprocess
import sys
import zipfile
from types import SimpleNamespace

import pytest

from qa.errors import IngestError
from qa.ingest import CONVERTERS, FORMATS, convert_file
from qa.ingest.convert import docx, html, pdf, text

SETTINGS = SimpleNamespace(max_file_mb=1.0)


def test_every_extension_has_a_format_and_a_converter():
    assert FORMATS == {".txt": "txt", ".md": "md", ".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html"}
    assert {s: c for s, (_, c) in CONVERTERS.items()} == {
        ".txt": text.convert, ".md": text.convert, ".pdf": pdf.convert, ".docx": docx.convert,
        ".html": html.convert, ".htm": html.convert}


def test_importing_ingest_loads_no_parser():
    code = ("import sys, qa.ingest; "
            "print(sorted(m for m in ('pypdf', 'docx', 'bs4', 'charset_normalizer') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unsupported_types_are_named(tmp_path):
    src = tmp_path / "old.doc"
    src.write_bytes(b"x")
    with pytest.raises(IngestError, match=r"unsupported file type \.doc; save it as \.docx"):
        convert_file(src, SETTINGS)


def test_text_keeps_front_matter_and_its_title(tmp_path):
    src = tmp_path / "brief.md"
    src.write_text("---\ntitle: 温州知识产权简报\ncity: 温州\n---\n2024年，温州市商标注册量为5000件。\n",
                   encoding="utf-8")
    doc = convert_file(src, SETTINGS)
    assert (doc.fmt, doc.title, doc.meta["city"]) == ("md", "温州知识产权简报", "温州")
    assert doc.body.startswith("# 温州知识产权简报\n")


def test_gbk_text_goes_through_the_encoding_module(tmp_path):
    src = tmp_path / "报告.txt"
    src.write_bytes("宁波知识产权报告\n2023年宁波新增专利授权多少件。\n".encode("gbk"))
    doc = convert_file(src, SETTINGS)
    assert doc.fmt == "txt" and doc.title == "宁波知识产权报告" and "专利授权" in doc.body


def test_html_title_headings_and_dropped_scripts(tmp_path):
    src = tmp_path / "page.htm"
    src.write_text("<html><head><meta charset='gbk'><title>简报</title><script>x()</script></head>"
                   "<body><h2>概况</h2><p>专利\n授权</p><nav>menu</nav></body></html>", encoding="gbk")
    doc = convert_file(src, SETTINGS)
    assert doc.fmt == "html" and doc.title == "简报"
    assert "## 概况" in doc.body and "专利授权" in doc.body
    assert "x()" not in doc.body and "menu" not in doc.body


def test_html_nested_too_deep_is_refused_before_parsing():
    page = ("<div>" * (html.MAX_HTML_DEPTH + 1)).encode()
    with pytest.raises(IngestError, match="levels deep"):
        html.convert(page, "deep.html", False)


def test_docx_zip_bomb_is_refused_from_the_declared_sizes():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/document.xml", b"\0" * (docx.DOCX_RATIO_MIN_MB * 1024 * 1024 + 1))
    with pytest.raises(IngestError, match="zip bomb"):
        docx.check_zip(buf.getvalue())
    with pytest.raises(IngestError, match="not a Word file"):
        docx.check_zip(b"not a zip")


def test_a_damaged_pdf_is_refused():
    with pytest.raises(IngestError, match="cannot read this PDF"):
        pdf.convert(b"%PDF-1.4 broken", "broken.pdf", False)
