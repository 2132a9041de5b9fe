"""MilvusStore against Milvus Lite in tmp_path (model-free: random unit vectors, short Chinese texts).

Rankings and filters are asserted, never raw scores: Milvus Lite's BM25 scores
are its own (negated, segment-local IDF) and differ from a server's.
"""
import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from qa.store import FaissStore, VectorStore, matches
from qa.store import milvus as qm

HAVE_MILVUS = all(importlib.util.find_spec(m) is not None for m in ("pymilvus", "milvus_lite"))
needs_milvus = pytest.mark.skipif(not HAVE_MILVUS,
                                  reason=f"Milvus tests need pymilvus and milvus-lite: {qm.INSTALL_HINT}")

ROOT = Path(__file__).resolve().parent.parent
CITIES = ["宁波", "杭州", "温州"]


def _unit(rng, n, d):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _meta(n):
    return [{"doc": f"d{i % 7}.md", "city": CITIES[i % 3], "year": 2020 + i % 4, "start": i * 10,
             "end": i * 10 + 9, "title": f"报告{i % 7}", "section": "概述", "text": f"第{i}段 商标注册数量"}
            for i in range(n)]


def _open(path, **kw):
    return qm.MilvusStore(str(path), dim=kw.pop("dim", 16), **kw)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "milvus.db"
    yield path
    if HAVE_MILVUS:  # the in-process Lite server lives until released; one per test
        from milvus_lite.server_manager import server_manager_instance
        server_manager_instance.release_server(str(path))


# ---- without a server ---------------------------------------------------------

def test_missing_pymilvus_raises_the_install_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pymilvus", None)  # import pymilvus -> ImportError
    with pytest.raises(ImportError, match=r"pip install -e '\.\[milvus\]'"):
        qm.MilvusStore(str(tmp_path / "x.db"), dim=8)


def test_filters_are_escaped_and_checked():
    assert qm.milvus_filter(None) == "" and qm.milvus_filter({"doc": "", "city": None}) == ""
    assert qm.milvus_filter({"doc": "a.md", "year": 2021}) == 'doc == "a.md" and year == "2021"'
    # a quote or backslash in a value stays inside one literal
    assert qm.quote('x" or doc != "') == r'"x\" or doc != \""'
    assert qm.quote("a\\b\n") == r'"a\\b\n"'
    with pytest.raises(ValueError, match="control character"):
        qm.quote("a\x00b")
    with pytest.raises(ValueError, match="cannot filter on 'text'"):
        qm.milvus_filter({"text": "x"})


# ---- Milvus Lite --------------------------------------------------------------

@needs_milvus
def test_protocol_round_trip(db):
    rng = np.random.default_rng(0)
    store = _open(db)
    assert isinstance(store, VectorStore) and store.count() == 0
    vecs, meta = _unit(rng, 30, 16), _meta(30)
    ids = np.arange(1000, 1030, dtype=np.int64)
    store.upsert(ids, vecs, meta)
    assert store.count() == 30
    got, scores = store.search(vecs[4], 5)
    assert got[0] == ids[4] and list(scores) == sorted(scores, reverse=True)
    np.testing.assert_allclose(store.get_vectors(ids[[2, 27]]), vecs[[2, 27]], atol=1e-6)
    assert store.get_rows([ids[5]]) == [{**meta[5], "year": str(meta[5]["year"])}]
    store.delete([ids[4], ids[9]])
    assert store.count() == 28 and ids[4] not in store.search(vecs[4], 30)[0]
    with pytest.raises(KeyError):
        store.get_vectors([ids[4]])
    assert store.missing_ids([ids[4], ids[5], 7]).tolist() == [ids[4], 7]
    store.upsert([ids[5]], vecs[[6]], [meta[5]])  # upsert of a stored id replaces its row
    assert store.count() == 28
    np.testing.assert_allclose(store.get_vectors([ids[5]]), vecs[[6]], atol=1e-6)
    assert store.delete_docs(["d0.md"]) == sum(1 for i in range(30) if i % 7 == 0 and i not in (4, 9))
    assert "d0.md" not in store.docs() and store.count() == sum(store.docs().values())
    # a second store on the same uri reads the same collection (through the alias)
    assert _open(db).count() == store.count()
    with pytest.raises(ValueError, match="16-d vectors, not 32-d"):
        _open(db, dim=32)


@needs_milvus
def test_dense_ranking_equals_faiss(db):
    rng = np.random.default_rng(1)
    n, d, k = 3000, 384, 10
    vecs, meta = _unit(rng, n, d), _meta(n)
    ids = rng.choice(2 ** 62, n, replace=False).astype(np.int64)
    faiss_store = FaissStore(d, "flat")  # exact: the reference ranking
    faiss_store.upsert(ids, vecs, meta)
    faiss_store.seal()
    store = _open(db, dim=d)
    store.upsert(ids, vecs, meta)
    store.flush()  # sealed segments are HNSW-indexed, as on a server
    for q in _unit(rng, 15, d):
        assert store.search(q, k)[0].tolist() == faiss_store.search(q, k)[0].tolist()
        where = {"city": "杭州", "year": 2021}
        assert store.search(q, k, where)[0].tolist() == faiss_store.search(q, k, where)[0].tolist()


@needs_milvus
def test_filters_on_doc_city_year(db):
    rng = np.random.default_rng(2)
    vecs, meta = _unit(rng, 200, 16), _meta(200)
    meta[13]["doc"] = 'x" or doc != "'  # an injection attempt is just a strange name
    store = _open(db)
    store.upsert(np.arange(200), vecs, meta)
    q = vecs[0]
    for where in ({"doc": "d3.md"}, {"city": "温州"}, {"year": 2022}, {"year": "2022", "city": "宁波"},
                  {"doc": "d1.md", "city": "杭州", "year": 2023}, {"doc": 'x" or doc != "'}):
        got = store.search(q, 50, where)[0]
        want = {i for i, m in enumerate(meta) if matches(m, {k: str(v) for k, v in where.items()})}
        assert set(got.tolist()) == want or (len(got) == 50 and set(got.tolist()) <= want), where
    assert store.search(q, 5, {"doc": 'x" or doc != "'})[0].tolist() == [13]
    assert store.search(q, 5, {"doc": "nope.md"})[0].size == 0
    with pytest.raises(ValueError):
        store.search(q, 5, {"section": "概述"})


def _texts_store(db):
    texts = ["宁波市知识产权质押融资金额达到394.11亿元，同比增长", "专利授权周期平均缩短至16个月",
             "杭州商标注册数量持续增长", "温州地理标志保护工作成效明显", "版权登记数量创历史新高",
             "知识产权保护中心为企业提供快速预审服务"]
    cities = ["宁波", "", "杭州", "温州", "", ""]
    meta = [{"doc": f"t{i}.md", "city": c, "year": 2023, "text": t} for i, (t, c) in enumerate(zip(texts, cities))]
    store = _open(db)
    store.upsert(np.arange(len(texts)), _unit(np.random.default_rng(3), len(texts), 16), meta)
    return store


@needs_milvus
def test_bm25_ranks_the_chinese_passage_with_the_words_first(db):
    store = _texts_store(db)
    ids, scores = store.search_text("知识产权质押融资金额是多少", 3)
    assert ids[0] == 0 and list(scores) == sorted(scores, reverse=True)
    assert store.search_text("专利授权周期", 3)[0][0] == 1
    assert store.search_text("商标注册", 3, {"city": "杭州"})[0].tolist() == [2]
    assert 2 not in store.search_text("商标注册", 3, {"city": "宁波"})[0].tolist()


@needs_milvus
def test_hybrid_fuses_dense_and_text(db):
    store = _texts_store(db)
    q = store.get_vectors([4])[0]  # dense points at row 4, the words at row 1
    ids, _ = store.hybrid(q, "专利授权周期", 3)
    assert set(ids[:2].tolist()) == {1, 4}
    assert store.hybrid(q, "专利授权周期", 3, {"doc": "t1.md"})[0].tolist() == [1]
    assert store.hybrid(q, "专利授权周期", 3, weights=(0.0, 1.0))[0][0] == 1


@needs_milvus
def test_rebuild_swaps_the_alias(db):
    rng = np.random.default_rng(4)
    vecs = _unit(rng, 40, 16)
    store = _open(db)
    store.upsert(np.arange(20), vecs[:20], _meta(20))
    reader = _open(db)
    old = store.physical()
    with store.rebuild() as new:
        new.upsert(np.arange(100, 140), vecs, _meta(40))
        # readers still answer from the old collection until the swap
        assert reader.count() == 20 and reader.search(vecs[25], 1)[0][0] != 125
        assert new.count() == 40
    assert reader.count() == 40 and reader.search(vecs[25], 1)[0].tolist() == [125]
    assert store.physical() != old and old not in store.client.list_collections()
    # a rebuild that fails changes nothing and leaves no collection behind
    before = set(store.client.list_collections())
    with pytest.raises(RuntimeError):
        with store.rebuild() as new:
            new.upsert([1], vecs[:1], _meta(1))
            raise RuntimeError("embedding failed")
    assert reader.count() == 40 and set(store.client.list_collections()) == before


CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    from qa.store.milvus import MilvusStore
    n, d = 3000, 16
    rng = np.random.default_rng(5)
    v = rng.standard_normal((n, d)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    store = MilvusStore(sys.argv[1], dim=d, batch_size=100)
    real = store.client.upsert
    def slow(*a, **kw):  # report each written batch, then dawdle so the parent kills us mid-way
        out = real(*a, **kw)
        print("batch", flush=True)
        time.sleep(0.05)
        return out
    store.client.upsert = slow
    meta = [{"doc": f"d{i % 9}.md", "text": f"第{i}段"} for i in range(n)]
    store.upsert(np.arange(n) + 1, v, meta)
    print("done", flush=True)
""")


@needs_milvus
def test_kill_during_bulk_upsert_then_resume(db):
    n, d = 3000, 16
    rng = np.random.default_rng(5)
    v = rng.standard_normal((n, d)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    ids = np.arange(n) + 1
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(ROOT)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    batches = 0
    for line in child.stdout:
        batches += line.startswith("batch")
        if batches == 6:
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL

    store = _open(db, dim=d)
    stored = store.count()
    have = np.setdiff1d(ids, store.missing_ids(ids))
    # consistent: at least the acknowledged batches, not all, and every stored row whole
    assert 600 <= stored < n and len(have) == stored
    np.testing.assert_allclose(store.get_vectors(have), v[have - 1], atol=1e-6)
    assert [r["text"] for r in store.get_rows(have[:50])] == [f"第{i - 1}段" for i in have[:50]]

    written = []
    real = store.client.upsert
    store.client.upsert = lambda name, rows, **kw: (written.append(len(rows)), real(name, rows, **kw))[1]
    meta = [{"doc": f"d{i % 9}.md", "text": f"第{i}段"} for i in range(n)]
    store.upsert(ids, v, meta, skip_existing=True)
    assert sum(written) == n - stored and store.count() == n
    np.testing.assert_allclose(store.get_vectors(ids[::97]), v[::97], atol=1e-6)
