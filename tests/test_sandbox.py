"""Converters run in a child with bounded memory and time; the parent stays free."""
import os
import signal
import threading
import time

import pytest

from qa import ingest
from qa.errors import IngestError
from qa.ingest.sandbox import run_bounded


def _hog(mb):
    blocks = [bytearray(1024 * 1024) for _ in range(mb)]
    return len(blocks)


def _sleep(s):
    time.sleep(s)
    return "late"


def _spin(s):
    end = time.monotonic() + s
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


def _refuse():
    raise IngestError("this file is not welcome")


def test_a_result_comes_back():
    assert run_bounded(_hog, (10,), memory_mb=500, timeout_s=30) == 10


def test_memory_over_the_budget_is_refused_with_a_reason():
    # far over the budget: the child may also reuse heap the parent had freed (already mapped),
    # which a suite with the model loaded holds a few hundred MB of
    with pytest.raises(IngestError, match="more than 100 MB of memory"):
        run_bounded(_hog, (4000,), memory_mb=100, timeout_s=60)
    assert run_bounded(_hog, (50,), memory_mb=100, timeout_s=30) == 50  # under it is fine


def test_a_converter_past_its_time_is_stopped():
    t0 = time.monotonic()
    with pytest.raises(IngestError, match="longer than 0.5 s"):
        run_bounded(_sleep, (30,), memory_mb=100, timeout_s=0.5)
    assert time.monotonic() - t0 < 5


def test_a_crashing_reader_is_reported_not_fatal():
    with pytest.raises(IngestError, match="crashed"):
        run_bounded(_die, memory_mb=100, timeout_s=30)


def test_the_converters_own_errors_come_through():
    with pytest.raises(IngestError, match="not welcome"):
        run_bounded(_refuse, memory_mb=100, timeout_s=30)


def test_the_parent_keeps_working_while_a_child_parses():
    """A CPU-bound parse in the child holds no lock of the serving process."""
    done = []
    t = threading.Thread(target=lambda: done.append(run_bounded(_spin, (1.5,), memory_mb=100, timeout_s=30)))
    t.start()
    time.sleep(0.2)
    t0, n = time.monotonic(), 0
    while time.monotonic() - t0 < 0.5:
        n += 1
    t.join()
    assert done and done[0] > 0 and n > 100_000


def test_add_files_refuses_a_memory_bomb_and_keeps_the_rest(fake_engine, tmp_path, monkeypatch):
    real = ingest.convert_file

    def convert(path, settings, **kw):
        if path.name == "bomb.txt":
            _hog(10_000)
        return real(path, settings, **kw)

    monkeypatch.setattr(ingest, "convert_file", convert)
    fake_engine.settings = fake_engine.settings.replace(convert_memory_mb=200)
    bomb, good = tmp_path / "bomb.txt", tmp_path / "good.txt"
    bomb.write_text("炸弹\n正文。\n", encoding="utf-8")
    good.write_text("苏州专利快审\n苏州知识产权保护中心预审周期为5个工作日。\n", encoding="utf-8")
    monkeypatch.setenv("QA_ALLOWED_UPLOAD_DIRS", str(tmp_path))
    fake_engine.settings = fake_engine.settings.replace(allowed_upload_dirs=(str(tmp_path),))
    results = {r.name: r for r in ingest.add_files(fake_engine, [bomb, good], progress=False)}
    assert not results["bomb.txt"].ok and "more than 200 MB of memory" in results["bomb.txt"].message
    assert results["good.txt"].ok
    names = {d["name"] for d in ingest.list_documents(fake_engine)}
    assert any(n.startswith("good") for n in names) and not any(n.startswith("bomb") for n in names)


def test_retrying_a_file_whose_add_was_interrupted_says_what_happens(fake_engine, tmp_path):
    """A kill between writing the corpus file and the build leaves the file unindexed: the retry
    indexes it and says so, instead of "already in the corpus"; a second retry is a duplicate."""
    from qa import corpus

    fake_engine.build(progress=False)
    src = tmp_path / "suzhou.txt"
    src.write_text("苏州专利快审\n苏州知识产权保护中心预审周期为5个工作日。\n", encoding="utf-8")
    fake_engine.settings = fake_engine.settings.replace(allowed_upload_dirs=(str(tmp_path),))
    doc = ingest.convert_file(src, fake_engine.settings)  # what the killed add had written
    (fake_engine.settings.corpus_dir / "suzhou.md").write_text(
        corpus.render({"title": doc.title, "original": "suzhou.txt"}, doc.body), encoding="utf-8")
    [res] = ingest.add_files(fake_engine, [src], progress=False)
    assert res.ok and "not yet indexed" in res.message and "indexed now" in res.message
    assert "suzhou.md" in fake_engine.store.manifest()["files"]
    [again] = ingest.add_files(fake_engine, [src], progress=False)
    assert not again.ok and "already in the corpus as suzhou.md" in again.message
