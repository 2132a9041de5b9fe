"""Hostile input files are refused quickly and cheaply, and a failed build leaves nothing behind.

Each hostile file is generated here (never committed) and converted in a
fresh subprocess, with its own temp corpus and index folders, so its wall time
and peak memory are its own. The child reports its peak from VmHWM in
/proc/self/status: ru_maxrss of a child forked from a large pytest process
(the loaded model) would count the parent's pages from before exec.
"""
import errno
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from qa import corpus, index as qa_index
from qa.errors import IngestError
from qa.ingest import MAX_HTML_DEPTH, html_depth

ROOT = Path(__file__).resolve().parent.parent
MAX_SECONDS = 10
MAX_RSS_KB = 1024 * 1024  # 1 GB, as VmHWM (KB)

_CONVERT = """
import json, sys
from pathlib import Path
from qa.errors import IngestError
from qa.ingest import convert_file
from qa.settings import Settings
def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
try:
    doc = convert_file(Path(sys.argv[1]), Settings.from_env())
    out = {"ok": True, "title": doc.title[:200], "chars": len(doc.body)}
except IngestError as exc:
    out = {"ok": False, "error": str(exc)}
out["peak_kb"] = peak_kb()
print(json.dumps(out))
"""


def _convert_in_child(path: Path, tmp_path: Path) -> tuple[dict, float, int]:
    """(result, wall seconds, peak RSS in KB) of converting ``path`` in a fresh process."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "QA_CORPUS_DIR": str(tmp_path / "corpus"), "QA_INDEX_DIR": str(tmp_path / "index")}
    t0 = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-c", _CONVERT, str(path)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"converting {path.name} ran past 120 s")
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result, wall, result["peak_kb"]


def _assert_refused(path: Path, tmp_path: Path, *words: str) -> str:
    result, wall, rss = _convert_in_child(path, tmp_path)
    assert not result["ok"], f"{path.name} was converted: {result}"
    message = result["error"]
    for word in words:
        assert word in message, message
    assert wall < MAX_SECONDS, f"{path.name}: refused after {wall:.1f} s"
    assert rss < MAX_RSS_KB, f"{path.name}: peak memory {rss // 1024} MB"
    assert not (tmp_path / "corpus").exists() or not any((tmp_path / "corpus").iterdir())
    return message


# ---- 1. YAML alias bomb in front matter -------------------------------------

def _alias_bomb() -> str:
    n = "abcdefgh"
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{n[i]}: &{n[i]} [" + ",".join(["*" + n[i - 1]] * 9) + "]" for i in range(1, 8)]
    return "---\n" + "\n".join(lines) + "\ntitle: *h\n---\n正文。\n"


def test_yaml_alias_bomb_is_refused(tmp_path):
    bomb = tmp_path / "bomb.md"
    bomb.write_text(_alias_bomb(), encoding="utf-8")
    _assert_refused(bomb, tmp_path, "front matter", "aliases")


def test_front_matter_loader_refuses_aliases_and_huge_blocks():
    with pytest.raises(corpus.UnsafeFrontMatter):
        corpus.split_front_matter(_alias_bomb(), strict=True)
    # a corpus file read later is not fatal: its front matter is just not trusted
    assert corpus.split_front_matter(_alias_bomb()) == ({}, 0)
    big = "---\n" + "".join(f"k{i}: {'x' * 60}\n" for i in range(400)) + "---\n正文。\n"
    with pytest.raises(corpus.UnsafeFrontMatter, match="KB"):
        corpus.split_front_matter(big, strict=True)
    with pytest.raises(corpus.UnsafeFrontMatter):
        corpus.split_front_matter("---\ntitle: &t 标题\nx: *t\n---\n正文。\n", strict=True)


def test_normal_front_matter_still_parses_and_round_trips():
    meta, start = corpus.split_front_matter("---\ntitle: 宁波知识产权\ncity: 宁波\ntags: [a, b]\n---\n正文。\n",
                                            strict=True)
    assert meta == {"title": "宁波知识产权", "city": "宁波", "tags": ["a", "b"]}
    shared = ["x", "y"]  # the same object twice must be written out in full, not as an alias
    text = corpus.render({"title": "t", "a": shared, "b": shared}, "正文。\n")
    assert "&" not in text.split("---")[1]
    assert corpus.split_front_matter(text, strict=True)[0] == {"title": "t", "a": shared, "b": shared}


# ---- 2. .docx zip bomb --------------------------------------------------------

_CT = ('<?xml version="1.0" encoding="UTF-8"?>'
       '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
       '<Default Extension="xml" ContentType="application/xml"/>'
       '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
       '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
       'officedocument.wordprocessingml.document.main+xml"/></Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8"?>'
         '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         'relationships/officeDocument" Target="word/document.xml"/></Relationships>')


def _docx_bomb(path: Path, mb: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", _CT)
        zf.writestr("_rels/.rels", _RELS)
        with zf.open("word/document.xml", "w", force_zip64=True) as fh:
            fh.write(b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
                     b'wordprocessingml/2006/main"><w:body>')
            block = b" " * (1 << 20)
            for _ in range(mb):
                fh.write(block)
            fh.write(b"</w:body></w:document>")


def test_docx_zip_bomb_is_refused(tmp_path):
    bomb = tmp_path / "bomb.docx"
    _docx_bomb(bomb, 300)
    assert bomb.stat().st_size < 2 * 1024 * 1024  # ~300 KB on disk
    _assert_refused(bomb, tmp_path, "zip bomb", "200 MB")


def test_docx_member_with_extreme_ratio_is_refused(tmp_path):
    bomb = tmp_path / "ratio.docx"
    _docx_bomb(bomb, 20)  # under the total cap, but 20 MB packed ~1000:1
    _assert_refused(bomb, tmp_path, "zip bomb", "word/document.xml")


# ---- 3. deeply nested HTML ------------------------------------------------------

def test_deeply_nested_html_is_refused(tmp_path):
    deep = tmp_path / "deep.html"
    deep.write_text("<div>" * 20000 + "测试。" + "</div>" * 20000, encoding="utf-8")
    _assert_refused(deep, tmp_path, "levels deep", str(MAX_HTML_DEPTH))


def test_html_under_the_depth_cap_still_converts(tmp_path):
    page = tmp_path / "ok.html"
    page.write_text("<html><body>" + "<div>" * 500 + "<p>宁波市专利授权数量增长。</p>" + "</div>" * 500
                    + "</body></html>", encoding="utf-8")
    result, wall, _ = _convert_in_child(page, tmp_path)
    assert result["ok"], result
    assert wall < MAX_SECONDS


def test_html_depth_follows_the_parser():
    assert html_depth("<p>a</p>" * 1000) == 1
    assert html_depth("<div><br><img src=x><hr/><p>x</p></div>") == 2
    assert html_depth("<script>" + "<div>" * 50 + "</script><!--" + "<div>" * 50 + "-->") == 0
    # stray end tags close nothing, so they cannot hide the nesting
    assert html_depth("<div>" * 50 + "</span>" * 50 + "<div>") == 51
    assert html_depth("<div><span><b></div><i>") == 3  # </div> closes span and b too; <i> opens at depth 1
    assert html_depth("<div>" * 5000) == MAX_HTML_DEPTH + 1  # stops counting past the cap


# ---- 4. a failed index write leaves nothing behind ---------------------------------

class _FakeEncoder:
    dim = 8

    def fingerprint(self):
        return "fake-encoder-1"

    def encode_passages(self, texts, progress=False):
        rng = np.random.default_rng(len(texts))
        v = rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True) if len(texts) else v

    def encode_queries(self, texts):
        return self.encode_passages(texts)


def _fake_engine(tmp_path):
    from qa.pipeline import Engine
    from qa.settings import Settings

    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    (corpus_dir / "a.md").write_text(corpus.render({"title": "宁波专利"}, "# 宁波专利\n\n宁波市2023年专利授权五万件。\n"),
                                     encoding="utf-8")
    settings = Settings.from_env(corpus_dir=corpus_dir, index_dir=tmp_path / "index")
    return Engine(settings, encoder=_FakeEncoder())


def test_disk_full_during_build_cleans_up_and_says_so(tmp_path, monkeypatch):
    engine = _fake_engine(tmp_path)
    real_save = np.save
    calls = {"n": 0}

    def full_disk(*args, **kwargs):
        calls["n"] += 1
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(qa_index.np, "save", full_disk)
    with pytest.raises(OSError) as info:
        engine.build(progress=False)
    assert calls["n"] == 1
    assert info.value.errno == errno.ENOSPC
    assert "the disk is full" in str(info.value)
    index_dir = tmp_path / "index"
    assert not list(index_dir.glob(".tmp-gen-*"))
    assert not list(index_dir.glob("gen-*"))
    assert engine.store.current() is None

    monkeypatch.setattr(qa_index.np, "save", real_save)
    report = engine.build(progress=False)
    assert report is not None and report.chunks > 0
    assert engine.store.current() == report.generation
    assert not list(index_dir.glob(".tmp-gen-*"))


def test_disk_full_while_swapping_keeps_the_old_generation(tmp_path, monkeypatch):
    engine = _fake_engine(tmp_path)
    engine.build(progress=False)
    live = engine.store.current()
    (tmp_path / "corpus" / "b.md").write_text("# 温州\n\n温州市商标注册量三万件。\n", encoding="utf-8")

    def full_disk(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(qa_index, "_atomic_write_text", full_disk)
    with pytest.raises(OSError, match="the disk is full"):
        engine.build(progress=False)
    index_dir = tmp_path / "index"
    assert engine.store.current() == live
    assert not list(index_dir.glob(".tmp-gen-*"))
    assert sorted(p.name for p in index_dir.glob("gen-*")) == [live]


def test_disk_full_during_add_is_reported_to_the_user(tmp_path, monkeypatch):
    from qa import ingest

    engine = _fake_engine(tmp_path)
    engine.build(progress=False)
    src = tmp_path / "new.txt"
    src.write_text("杭州市2023年发明专利授权量增长百分之十。\n", encoding="utf-8")
    monkeypatch.setattr(qa_index.np, "save",
                        lambda *a, **k: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(IngestError, match="the disk is full"):
        ingest.add_files(engine, [src], progress=False)
    assert sorted(p.name for p in (tmp_path / "corpus").iterdir()) == ["a.md"]
    assert not list((tmp_path / "index").glob(".tmp-gen-*"))
