"""Small hardening fixes: closed pipes, exact removal, upload caps, wrapping, UTF-16, error text.

None of these needs the embedding model: ingestion runs against a stand-in
engine whose build() only counts calls, over a temporary corpus.
"""
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from qa import cli, ingest
from qa.corpus import render
from qa.errors import IngestError
from qa.ingest import FileResult, add_files, convert_file, decode_text, remove_document
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # app.py lives at the repo root


class FakeEngine:
    """What ingestion uses of an Engine: settings, build(), store.manifest()."""

    def __init__(self, settings: Settings, fail: BaseException | None = None):
        self.settings = settings
        self.builds = 0
        self.fail = fail
        self.store = SimpleNamespace(manifest=lambda: {})

    def build(self, progress=True, **kwargs):
        self.builds += 1
        if self.fail is not None:
            raise self.fail


@pytest.fixture
def fake(tmp_path) -> FakeEngine:
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    return FakeEngine(Settings.from_env(corpus_dir=corpus_dir, index_dir=tmp_path / "index"))


def put(engine, name: str, title: str, original: str | None = None) -> Path:
    meta = {"title": title, "city": "", "original": original, "format": "txt"}
    path = Path(engine.settings.corpus_dir) / name
    path.write_text(render(meta, f"# {title}\n\n2024年，{title}的专利授权量为100件。\n"), encoding="utf-8")
    return path


# ---- 1. a reader that stops early ------------------------------------------

@pytest.mark.parametrize("argv", [["list"], ["--help"]], ids=["list", "help"])
def test_closed_pipe_ends_the_cli_quietly(tmp_path, argv):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QA_INDEX_DIR": str(tmp_path / "index")}
    proc = subprocess.Popen([sys.executable, "-m", "qa.cli", *argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written (like `| head -0`)
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert proc.returncode in (0, 141), (proc.returncode, err)


def test_cli_still_prints_normally(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QA_INDEX_DIR": str(tmp_path / "index")}
    out = subprocess.run([sys.executable, "-m", "qa.cli", "list"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith("NAME") and "documents" in out.stdout.splitlines()[-1]


# ---- 2. remove matches exactly ---------------------------------------------

def test_remove_is_case_sensitive_and_knows_the_original_name(fake):
    report = put(fake, "report.md", "深圳知识产权报告", original="Report.txt")
    other = put(fake, "other.md", "杭州知识产权报告")

    for wrong in ("REPORT", "Report", "report.MD", "report.txt", "Other.md"):
        res = remove_document(fake, wrong)
        assert not res.ok, wrong
        assert report.exists() and other.exists()
    assert "report.md" in remove_document(fake, "Report").message  # a hint at the right name
    assert fake.builds == 0

    res = remove_document(fake, "Report.txt")  # the file the user added
    assert res.ok and res.name == "report.md"
    assert "report.md" in res.message and "深圳知识产权报告" in res.message and "Report.txt" in res.message
    assert not report.exists() and other.exists() and fake.builds == 1

    res = remove_document(fake, "other")  # the stem, exactly
    assert res == FileResult("other.md", True, res.message, chunks=res.chunks)
    assert not other.exists()


def test_remove_refuses_an_original_name_shared_by_two_documents(fake):
    a = put(fake, "notes.md", "宁波知识产权简报", original="notes.txt")
    b = put(fake, "notes-2.md", "温州知识产权简报", original="notes.txt")
    res = remove_document(fake, "notes.txt")
    assert not res.ok and "notes.md" in res.message and "notes-2.md" in res.message
    assert a.exists() and b.exists() and fake.builds == 0
    assert remove_document(fake, "notes-2.md").ok and a.exists() and not b.exists()


def test_cli_remove_prints_what_it_removed(fake, monkeypatch, capsys):
    put(fake, "brief.md", "丽水市版权简报", original="Lishui Brief.docx")
    monkeypatch.setattr(cli, "_engine", lambda: fake)
    assert cli.main(["remove", "lishui brief.docx"]) == 1
    err = capsys.readouterr().err
    assert "no document named" in err and "brief.md" in err  # wrong case: nothing removed, a hint
    assert (Path(fake.settings.corpus_dir) / "brief.md").exists()
    assert cli.main(["remove", "Lishui Brief.docx"]) == 0
    out = capsys.readouterr().out
    assert "removed brief.md" in out and "丽水市版权简报" in out and "Lishui Brief.docx" in out


# ---- 3/4. the web page: upload cap, cache cleanup, wrapping tables -----------

def test_launch_caps_uploads_and_sweeps_the_upload_cache(monkeypatch):
    import gradio as gr

    import app

    seen = {}
    demo = gr.Blocks()
    monkeypatch.setattr(demo, "launch", lambda **kw: seen.update(kw))
    app.launch(demo, settings=Settings.from_env(max_file_mb=3))
    assert seen["max_file_size"] == 3 * 1024 * 1024  # the cap ingestion applies (_read_capped)
    assert gr.utils._parse_file_size(seen["max_file_size"]) == 3 * 1024 * 1024
    frequency, age = demo.delete_cache
    assert 0 < frequency <= 86400 and 0 < age <= 86400

    seen.clear()
    demo = gr.Blocks()
    monkeypatch.setattr(demo, "launch", lambda **kw: seen.update(kw))
    monkeypatch.setenv("QA_MAX_FILE_MB", "7")
    app.launch(demo)  # what `python app.py` does: the cap comes from QA_MAX_FILE_MB
    assert seen["max_file_size"] == 7 * 1024 * 1024
    assert demo.delete_cache


def test_document_table_cells_wrap_long_titles():
    import app

    rules = re.findall(r"([^{}]+)\{([^}]*)\}", app.CSS)
    cells = [body for sel, body in rules if re.search(r"\.qa-table\s+td\b", sel)]
    assert any("overflow-wrap: anywhere" in body for body in cells)
    assert any("word-break" in body for body in cells)


# ---- 5. UTF-16 without a byte-order mark -------------------------------------

@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", ["深圳知识产权报告。", "深圳知识产权报告。2023年专利授权64110件。\n",
                                  "Shenzhen IP report\n深圳市2023年PCT国际专利申请量为15900件。\n"],
                         ids=["cjk", "cjk-digits", "mixed"])
def test_utf16_without_bom_is_text(tmp_path, encoding, text):
    src = tmp_path / "shenzhen.txt"
    src.write_bytes(text.encode(encoding))
    assert decode_text(src.read_bytes()) == (text, encoding)
    doc = convert_file(src, Settings.from_env(index_dir=tmp_path / "index"))
    assert "深圳" in doc.body and "\x00" not in doc.body


def test_nul_bytes_that_are_not_utf16_are_still_binary():
    for data in (bytes(64), b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
                 b"\x01\x00\x02\x00\x03\x00\x04\x00" * 20):
        with pytest.raises(IngestError, match="binary"):
            decode_text(data)


# ---- 6. no server paths in messages -------------------------------------------

SECRET = "/srv/qa-secret/uploads/tmpab12cd"


def test_converter_os_errors_do_not_show_server_paths(fake, tmp_path, monkeypatch):
    src = tmp_path / "Report 2024.txt"
    src.write_text("深圳知识产权报告\n2024年，深圳市专利授权量为100件。\n", encoding="utf-8")

    def boom(path, settings, **kwargs):
        raise PermissionError(13, "Permission denied", f"{SECRET}/{path.name}")

    monkeypatch.setattr(ingest, "convert_file", boom)
    [res] = add_files(fake, [src], progress=False)
    assert not res.ok and res.name == "Report 2024.txt"
    assert "Permission denied" in res.message
    assert SECRET not in res.message and str(tmp_path) not in res.message


def test_a_link_loop_is_refused_without_its_path(fake, tmp_path):
    loop = tmp_path / "loop.txt"
    loop.symlink_to(loop)
    [res] = add_files(fake, [loop], progress=False)
    assert not res.ok and res.name == "loop.txt"
    assert str(tmp_path) not in res.message, res.message


def test_write_and_build_failures_do_not_show_server_paths(fake, tmp_path, monkeypatch):
    src = tmp_path / "brief.txt"
    src.write_text("温州知识产权简报\n2024年，温州市商标注册量为5000件。\n", encoding="utf-8")
    corpus_dir = str(fake.settings.corpus_dir)

    def denied(path, data):
        raise PermissionError(13, "Permission denied", f"{corpus_dir}/.ingest-0123.tmp")

    with monkeypatch.context() as m:
        m.setattr(ingest, "_write_atomic", denied)
        with pytest.raises(IngestError) as info:
            add_files(fake, [src], progress=False)
    assert "Permission denied" in str(info.value) and corpus_dir not in str(info.value)
    assert list(Path(corpus_dir).iterdir()) == []

    fake.fail = OSError(28, "No space left on device", f"{SECRET}/index/gen-3/vectors.npy")
    with pytest.raises(IngestError) as info:
        add_files(fake, [src], progress=False)
    assert "No space left" in str(info.value) and SECRET not in str(info.value)
    assert list(Path(corpus_dir).iterdir()) == []  # rolled back

    fake.fail = ValueError(f"cannot map '{SECRET}/index/gen-3/vectors.npy'")
    with pytest.raises(IngestError) as info:
        add_files(fake, [src], progress=False)
    assert SECRET not in str(info.value) and "vectors.npy" in str(info.value)
