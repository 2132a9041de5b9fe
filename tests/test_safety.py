"""Nothing breaks the index: crashes, corrupt generations, settings drift, concurrency.

Full rebuilds (drift, corruption) run on a two-paragraph slice of the Ningbo
report so they embed a handful of texts; crash and concurrency tests copy the
session engine's built index of the real corpus so they only embed what they add.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qa.corpus import load_corpus, render, split_front_matter
from qa.index import IndexStore
from qa.ingest import add_files
from qa.pipeline import Engine
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "2023年宁波新增专利授权多少件？"
ANSWER = "64110件"


# ---- helpers ----------------------------------------------------------------

def copy_dirs(corpus_dir: Path, index_dir: Path, base: Path) -> tuple[Path, Path]:
    shutil.copytree(corpus_dir, base / "corpus")
    shutil.copytree(index_dir, base / "index", ignore=shutil.ignore_patterns("*.lock", ".tmp-*"))
    return base / "corpus", base / "index"


def engine_on(corpus_dir: Path, index_dir: Path, encoder, **changes) -> Engine:
    return Engine(Settings.from_env(corpus_dir=corpus_dir, index_dir=index_dir, **changes), encoder=encoder)


def record_builds(eng: Engine) -> list:
    reports, real = [], eng.build

    def build(*args, **kwargs):
        reports.append(real(*args, **kwargs))
        return reports[-1]

    eng.build = build
    return reports


def assert_consistent(corpus_dir: Path, index_dir: Path, encoder) -> Engine:
    """The live generation loads, and a fresh engine answers from an index in step with corpus/."""
    assert IndexStore(index_dir).load() is not None, "CURRENT must name a complete generation"
    docs = load_corpus(corpus_dir)
    for doc in docs:  # no half-written corpus file: each one is whole, front matter and body
        assert doc.meta.get("title") and doc.body.strip(), doc.name
    eng = engine_on(corpus_dir, index_dir, encoder)
    answer = eng.ask(QUESTION)  # answered from the index as it is: a question never builds
    assert any(ANSWER in p.text for p in answer.passages), [p.text[:40] for p in answer.passages]
    eng.build(progress=False)  # the next build (or add) finishes what a killed add left
    index = eng.index()
    assert not eng.is_stale(index.manifest)
    assert set(index.manifest["files"]) == {d.name for d in docs}
    assert len(index.chunks) == len(index.vectors) == index.ann.count()
    assert sum(index.manifest["doc_chunks"].values()) == len(index.chunks)
    return eng


@pytest.fixture(scope="module")
def mini(encoder, tmp_path_factory) -> tuple[Path, Path]:
    """A built two-paragraph corpus (the 64110件 paragraph and the next one)."""
    base = tmp_path_factory.mktemp("mini")
    corpus_dir = base / "corpus"
    corpus_dir.mkdir()
    text = (ROOT / "corpus" / "ningbo-2023-ip-report.md").read_text(encoding="utf-8")
    meta, start = split_front_matter(text)
    lines = text[start:].split("\n")
    i = next(n for n, ln in enumerate(lines) if ANSWER in ln)
    body = "\n".join([lines[0], ""] + lines[i - 4:i + 3]).strip("\n") + "\n"
    assert ANSWER in body and body.startswith("# ")
    (corpus_dir / "ningbo-mini.md").write_text(render(meta, body), encoding="utf-8")
    engine_on(corpus_dir, base / "index", encoder).build(progress=False)
    return corpus_dir, base / "index"


@pytest.fixture
def mini_copy(mini, tmp_path) -> tuple[Path, Path]:
    return copy_dirs(*mini, tmp_path)


@pytest.fixture
def real_copy(engine, tmp_path) -> tuple[Path, Path]:
    """The real corpus and the session engine's built index, copied."""
    return copy_dirs(Path(engine.settings.corpus_dir), Path(engine.settings.index_dir), tmp_path)


def new_documents(folder: Path, tag: str, n: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cities = ["丽水", "衢州", "舟山", "台州", "金华"]
    paths = []
    for j in range(n):
        city = cities[j % len(cities)]
        paras = [f"{city}市知识产权工作简报{tag}{j}"]
        paras += [f"2024年第{q}季度，{city}市新增发明专利授权{1000 + 37 * q + j}件，"
                  f"专利质押融资{10 + q}.{j}亿元，服务企业{200 + q * 11}家。" for q in range(1, 9)]
        path = folder / f"{city}-{tag}-{j}.txt"
        path.write_text("\n\n".join(paras) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


# ---- crash safety -----------------------------------------------------------

def _kill_when(proc: subprocess.Popen, ready, timeout: float, poll: float) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()``; False if it finished first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(poll)
    if proc.poll() is None:  # hung: kill it anyway, and say so
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail("qa add did not finish in time")
    return False


@pytest.mark.slow
def test_sigkill_during_add_leaves_a_consistent_index(real_copy, encoder, tmp_path):
    """Kill `qa add` at three points; the next engine answers from the old or a rebuilt index."""
    corpus0, index0 = real_copy
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    outcomes = []
    for attempt, moment in enumerate(("corpus file written", "index generation being written",
                                      "random moment")):
        corpus_dir, index_dir = copy_dirs(corpus0, index0, tmp_path / f"try{attempt}")
        files = new_documents(tmp_path / f"in{attempt}", f"t{attempt}")
        before = set(os.listdir(corpus_dir))
        start = time.monotonic()
        delay = rng.uniform(1.0, 30.0)
        ready = {
            0: lambda: any(n.endswith(".md") for n in set(os.listdir(corpus_dir)) - before),
            1: lambda: any(n.startswith(".tmp-gen-") for n in os.listdir(index_dir)),
            2: lambda: time.monotonic() - start > delay,
        }[attempt]
        env = {**os.environ, "QA_CORPUS_DIR": str(corpus_dir), "QA_INDEX_DIR": str(index_dir),
               "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        with open(tmp_path / f"add{attempt}.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "add", "--quiet", *map(str, files)],
                                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            killed = _kill_when(proc, ready, timeout=300, poll=0.0005 if attempt == 1 else 0.01)
        outcomes.append((moment, "killed" if killed else f"finished rc={proc.returncode}",
                         round(time.monotonic() - start, 1)))
        if not killed:
            assert proc.returncode == 0, (tmp_path / f"add{attempt}.log").read_text(errors="replace")
        try:
            assert_consistent(corpus_dir, index_dir, encoder)
        except AssertionError as exc:
            raise AssertionError(f"after {outcomes[-1]} (seed {seed}, delay {delay:.1f}s): {exc}") from exc
        # what the killed writer left behind is ignored, then swept by the next writer
        assert not [n for n in os.listdir(corpus_dir) if n.endswith(".md") and n.startswith(".")]
    print("crash outcomes:", outcomes)
    assert outcomes[0][1] == "killed", outcomes  # the corpus is written long before the model loads


def _gen_dir(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text(encoding="utf-8").strip()


def _seg_file(index_dir: Path, name: str) -> Path:
    (seg,) = _gen_dir(index_dir).glob("seg-*")
    return seg / name


def _truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


CORRUPTIONS = {
    "vectors-truncated": lambda idx: _truncate(_seg_file(idx, "vectors.npy"), 0.5),
    "vectors-empty": lambda idx: _truncate(_seg_file(idx, "vectors.npy"), 0.0),
    "ann-truncated": lambda idx: _truncate(_seg_file(idx, "ann.faiss"), 0.3),
    "texts-garbage": lambda idx: _seg_file(idx, "texts.sqlite").write_text("{not json\n"),
    "texts-truncated": lambda idx: _truncate(_seg_file(idx, "texts.sqlite"), 0.5),
    "manifest-garbage": lambda idx: (_gen_dir(idx) / "manifest.json").write_text("garbage"),
    "manifest-not-an-object": lambda idx: (_gen_dir(idx) / "manifest.json").write_text("[1, 2]"),
    "current-names-nothing": lambda idx: (idx / "CURRENT").write_text("gen-that-does-not-exist\n"),
    "current-binary-garbage": lambda idx: (idx / "CURRENT").write_bytes(b"\xff\xfe\x00\x80\x93garbage"),
    "current-missing": lambda idx: (idx / "CURRENT").unlink(),
    "generation-deleted": lambda idx: shutil.rmtree(_gen_dir(idx)),
}


# only the pointer is damaged: the intact generation it named still serves, nothing re-embedded
POINTER_ONLY = {"current-names-nothing", "current-binary-garbage", "current-missing"}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_corrupt_generation_is_rebuilt_or_falls_back_not_a_crash(mini_copy, encoder, corruption):
    corpus_dir, index_dir = mini_copy
    old = IndexStore(index_dir).current()
    CORRUPTIONS[corruption](index_dir)
    eng = engine_on(corpus_dir, index_dir, encoder)
    assert any(ANSWER in p.text for p in eng.retrieve(QUESTION))  # rebuilt or fallen back, then answered
    assert (eng.index().generation == old) == (corruption in POINTER_ONLY)
    assert IndexStore(index_dir).load().generation == eng.index().generation
    assert not eng.is_stale(eng.index().manifest)


# ---- drift ------------------------------------------------------------------

def test_changed_chunking_settings_rebuild_instead_of_mixing(mini_copy, encoder):
    corpus_dir, index_dir = mini_copy
    old = IndexStore(index_dir).load()
    assert max(len(c.text) for c in old.chunks) > 120  # built with the default 200
    eng = engine_on(corpus_dir, index_dir, encoder, chunk_size=120, chunk_overlap=40)
    assert eng.is_stale(old.manifest)
    reports = record_builds(eng)
    assert any(ANSWER in p.text for p in eng.retrieve(QUESTION))
    index = eng.index()
    assert index.generation != old.generation
    assert index.manifest["chunking"] == eng.settings.chunking_fingerprint() != old.manifest["chunking"]
    assert all(len(c.text) <= 120 for c in index.chunks)
    assert len(index.chunks) > len(old.chunks)
    assert [r.embedded for r in reports] == [len(index.chunks)]  # nothing reused from 200-char chunks
    assert not eng.is_stale(index.manifest)


def test_a_different_model_fingerprint_rebuilds_everything(mini_copy, encoder):
    corpus_dir, index_dir = mini_copy
    manifest_path = _gen_dir(index_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["model"] = "some-other-model:0000"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")

    eng = engine_on(corpus_dir, index_dir, encoder)
    assert eng.is_stale(IndexStore(index_dir).manifest())
    reports = record_builds(eng)
    eng.retrieve(QUESTION)
    index = eng.index()
    assert index.manifest["model"] == encoder.fingerprint()
    assert [r.embedded for r in reports] == [len(index.chunks)]  # vectors of another model never mixed in


# ---- concurrency --------------------------------------------------------------

@pytest.mark.slow
def test_queries_keep_working_while_documents_are_added(real_copy, encoder, tmp_path):
    corpus_dir, index_dir = real_copy
    reader = engine_on(corpus_dir, index_dir, encoder)
    writer = engine_on(corpus_dir, index_dir, encoder)
    reader.warm_up()
    files = new_documents(tmp_path / "in", "c")
    target = "丽水市2024年第3季度新增发明专利授权多少件？"
    new_name = files[0].stem.lower() + ".md"
    errors, served, seen = [], [], threading.Event()
    stop = threading.Event()

    def ask_forever():
        questions = [QUESTION, target, "How many patents were granted in Ningbo in 2023?"]
        i = 0
        while not stop.is_set():
            q = questions[i % len(questions)]
            i += 1
            try:
                passages = reader.retrieve(q, k=3)
                served.append(q)
                if q == QUESTION and not any(ANSWER in p.text for p in passages):
                    errors.append(f"lost the old answer in {reader.index().generation}")
                if q == target and any(p.source == new_name for p in passages):
                    seen.set()
            except Exception as exc:  # any error at all fails the test
                errors.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=ask_forever, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        during = len(served)
        results = add_files(writer, files, progress=False)
        served_during_add = len(served) - during
        assert all(r.ok for r in results), [r.to_dict() for r in results]
        assert seen.wait(60), "the reader never saw the new document"
    finally:
        stop.set()
        thread.join(60)
    assert errors == []
    assert served_during_add > 0  # queries were answered while the add ran
    assert reader.index().generation == IndexStore(index_dir).current()
