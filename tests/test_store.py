"""The vector-store seam and incremental builds (model-free: hashed-bigram vectors).

- FaissStore keeps the VectorStore protocol: stable ids, upsert/delete/search/get_vectors/count,
  and equality filters that still return k.
- A build is a diff: adding one document writes that document's rows and links the rest;
  removing or changing one marks its rows dead. Whatever the history, the loaded index
  equals a full build of the same corpus, row for row.
"""
import os
import shutil

import numpy as np
import pytest

from fakes import Counting
from qa import corpus as qa_corpus
from qa.index import IndexStore, merge_plan
from qa.lexical import absent_places, build_bridge, cedict_places, grouped_places, mentions_place, present_places
from qa.pipeline import Engine
from qa.presence import bridge, doc_presence, merge, place_lists
from qa.settings import Settings
from qa.store import FaissStore, VectorStore, check_where, chunk_id

D = 16


def _unit(rng, n):
    v = rng.standard_normal((n, D)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_faiss_store_keeps_the_protocol():
    rng = np.random.default_rng(0)
    store = FaissStore(D)
    assert isinstance(store, VectorStore)
    vecs = _unit(rng, 30)
    ids = np.arange(100, 130, dtype=np.int64)
    meta = [{"doc": f"d{i % 3}.md", "city": "宁波" if i % 2 else "杭州", "year": 2020 + i % 4} for i in range(30)]
    store.upsert(ids[:20], vecs[:20], meta[:20])
    store.seal()
    store.upsert(ids[20:], vecs[20:], meta[20:])
    store.seal()
    assert store.count() == 30 and len(store.segments) == 2
    # exact across segments: the best row for each vector is itself
    for j in (3, 25):
        got, scores = store.search(vecs[j], 5)
        assert got[0] == ids[j] and scores[0] == pytest.approx(1.0, abs=1e-5)
        assert list(scores) == sorted(scores, reverse=True)
    np.testing.assert_allclose(store.get_vectors(ids[[4, 27]]), vecs[[4, 27]])
    # delete: gone from search, count and get_vectors
    store.delete([ids[3], ids[25]])
    assert store.count() == 28 and ids[3] not in store.search(vecs[3], 30)[0]
    with pytest.raises(KeyError):
        store.get_vectors([ids[3]])
    # upsert of a live id replaces its row
    store.upsert([ids[4]], vecs[[5]], [meta[4]])
    store.seal()
    assert store.count() == 28
    np.testing.assert_allclose(store.get_vectors([ids[4]]), vecs[[5]])


def test_filters_are_exact_and_still_return_k():
    rng = np.random.default_rng(1)
    store = FaissStore(D)
    vecs = _unit(rng, 200)
    meta = [{"doc": f"d{i % 10}.md", "city": "宁波" if i % 4 == 0 else "杭州", "year": str(2020 + i % 2)}
            for i in range(200)]
    store.upsert(np.arange(200), vecs, meta)
    store.seal()
    q = vecs[7]
    for where in ({"city": "宁波"}, {"doc": "d3.md", "year": 2021}, {"city": "宁波", "year": "2020"}):
        got, scores = store.search(q, 5, where)
        want = [i for i in range(200) if all(str(meta[i][k]) == str(v) for k, v in where.items())]
        best = sorted(want, key=lambda i: -float(vecs[i] @ q))[:5]
        assert got.tolist() == best, where
    assert store.search(q, 5, {"city": "温州"})[0].size == 0
    with pytest.raises(ValueError, match="cannot filter on 'title'"):
        check_where({"title": "x"})


def test_filtered_search_oversamples_the_ann_when_many_rows_match(monkeypatch):
    from qa.store import faiss as store_faiss

    monkeypatch.setattr(store_faiss, "EXACT_FILTER_MAX", 0)  # force the ANN path
    rng = np.random.default_rng(2)
    store = FaissStore(D, "hnsw")
    vecs = _unit(rng, 500)
    store.upsert(np.arange(500), vecs, [{"doc": "a.md" if i % 25 else "b.md"} for i in range(500)])
    store.seal()
    got, _ = store.search(vecs[0], 10, {"doc": "b.md"})
    assert len(got) == 10 and all(i % 25 == 0 for i in got.tolist())


def test_chunk_ids_are_stable_and_distinct():
    assert chunk_id("a.md", "sha", 0, 10) == chunk_id("a.md", "sha", 0, 10)
    assert len({chunk_id("a.md", "sha", 0, 10), chunk_id("a.md", "sha", 0, 11),
                chunk_id("b.md", "sha", 0, 10), chunk_id("a.md", "sha2", 0, 10)}) == 4
    assert 0 <= chunk_id("a.md", "x", 1, 2) < 2 ** 63


def test_presence_per_document_rebuilds_the_corpus_tables_exactly():
    docs = qa_corpus.load_corpus(Settings.from_env().corpus_dir)
    bodies = [d.body for d in docs]
    found = merge(doc_presence(b) for b in bodies)
    assert bridge(found["cedict"], found["glossary"]) == build_bridge(bodies)
    absent, present = place_lists(found["places"])
    text = "\n".join(bodies)
    assert absent == absent_places(text) and present == present_places(text)


def test_a_group_abbreviation_names_its_places(tmp_path):
    # Chinese statistics say 不含港澳台: Taiwan is mentioned though 台湾 never appears
    text = "截至2021年底，我国（不含港澳台）发明专利有效量达到270.4万件，迈上新台阶。"
    taiwan = next(i for i, (en, _, _) in enumerate(cedict_places()) if en == "taiwan")
    assert "台湾" in grouped_places(text) and not grouped_places("平台迈上新台阶，宁波新增")
    assert taiwan in doc_presence(text)["places"] and taiwan not in doc_presence("平台迈上新台阶")["places"]
    assert "taiwan" in {en for en, _, _ in present_places(text)} - {en for en, _, _ in absent_places(text)}
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "stats.md").write_text(qa_corpus.render({"title": "统计", "city": ""}, f"# 统计\n\n{text}\n"),
                                                  encoding="utf-8")
    engine = _engine(tmp_path)
    engine.build(progress=False)
    searcher = engine.searcher()
    assert searcher.unknown_places("Excluding Hong Kong, Macao and Taiwan, how many valid invention patents?", "en") == []
    assert searcher.unknown_places("How many valid invention patents did Shanghai hold?", "en") == ["Shanghai"]
    # and a passage that says 港澳台 agrees with a question about Taiwan
    assert searcher.question_places("不含台湾，发明专利有效量多少？", "zh") == {"台湾"}
    assert mentions_place("台湾", text) and not mentions_place("台湾", "迈上新台阶")


def _engine(tmp_path, corpus_dir=None):
    from fakes import HashEncoder

    settings = Settings.from_env(corpus_dir=corpus_dir or tmp_path / "corpus", index_dir=tmp_path / "index")
    return Engine(settings, encoder=HashEncoder())


def _doc(corpus_dir, name, city, n):
    body = "".join(f"{city}市第{i}季度发明专利授权{n * 7 + i}件，同比增长{i + 3}%。" for i in range(n))
    (corpus_dir / name).write_text(qa_corpus.render({"title": f"{city}报告", "city": city}, f"# {city}报告\n\n{body}\n"),
                                   encoding="utf-8")


def _same_index(a, b):
    assert [c.to_dict() for c in a.chunks] == [c.to_dict() for c in b.chunks]
    np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-6)
    assert a.ids.tolist() == b.ids.tolist()
    for key in ("docs", "bridge", "absent_places", "present_places", "sentences", "tokens"):
        assert a.extras.get(key) == b.extras.get(key), key
    np.testing.assert_allclose(a.extras["sentence_vectors"], b.extras["sentence_vectors"], atol=1e-6)


def test_adding_one_document_writes_only_its_rows(fake_engine):
    engine = fake_engine
    first = engine.build(progress=False)
    assert first.rows_written == first.chunks
    corpus_dir = engine.settings.corpus_dir
    _doc(corpus_dir, "wenzhou.md", "温州", 12)
    report = engine.build(progress=False)
    new_rows = engine.index().manifest["doc_chunks"]["wenzhou.md"]
    assert report.embedded == new_rows and report.rows_written == new_rows
    gen = engine.settings.index_dir / report.generation
    assert len(list(gen.glob("seg-*"))) == 2
    # the unchanged segment is the previous generation's file (a hard link), not a copy
    assert sum((p / "vectors.npy").stat().st_nlink > 1 for p in gen.glob("seg-*")) == 1
    # the new document answers, and the result equals a full build of the same corpus
    assert engine.retrieve("温州市第3季度发明专利授权多少件", 1)[0].source == "wenzhou.md"
    full = _engine(engine.settings.index_dir.parent / "full", corpus_dir)
    full.build(progress=False)
    _same_index(engine.index(), full.index())


def test_removing_and_changing_documents_mark_rows_dead_and_match_a_full_build(fake_engine, tmp_path):
    engine = fake_engine
    corpus_dir = engine.settings.corpus_dir
    for i, city in enumerate(["温州", "嘉兴", "湖州"]):
        _doc(corpus_dir, f"c{i}.md", city, 5)
        engine.build(progress=False)
    (corpus_dir / "c1.md").unlink()
    _doc(corpus_dir, "c2.md", "湖州", 9)  # changed in place
    report = engine.build(progress=False)
    assert report.removed == ["c1.md"] and report.embedded == engine.index().manifest["doc_chunks"]["c2.md"]
    live = engine.index()
    assert "c1.md" not in live.extras["docs"] and all(c.doc != "c1.md" for c in live.chunks)
    assert live.ann.count() == len(live.chunks)
    full = _engine(tmp_path / "full", corpus_dir)
    full.build(progress=False)
    _same_index(live, full.index())
    # a fresh process reads the same thing back from disk
    _same_index(IndexStore(engine.settings.index_dir).load(), full.index())


def test_segments_merge_logarithmically(tmp_path, monkeypatch):
    from qa import index as qa_index

    monkeypatch.setattr(qa_index, "MERGE_FACTOR", 3)
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    engine = _engine(tmp_path, corpus_dir)
    counts = []
    for i in range(7):
        _doc(corpus_dir, f"d{i}.md", "宁波", 1)  # one chunk each: tier 0
        engine.build(progress=False)
        counts.append(len(engine.index().segments))
    assert max(counts) < 3 and counts[-1] <= 2
    full = _engine(tmp_path / "full", corpus_dir)
    full.build(progress=False)
    _same_index(engine.index(), full.index())
    assert merge_plan(engine.index().segments) == []


def test_an_interrupted_add_is_finished_by_the_next_build_not_by_a_question(fake_engine, caplog):
    caplog.set_level("WARNING")
    engine = fake_engine
    engine.build(progress=False)
    # a document that reached corpus/ but not the index: what a killed `qa add` leaves
    _doc(engine.settings.corpus_dir, "wenzhou.md", "温州", 4)
    fresh = Engine(engine.settings, encoder=Counting(engine.encoder))
    hits = fresh.retrieve("温州市第3季度发明专利授权多少件", 3)
    assert fresh.encoder.passages == 0 and all(p.source != "wenzhou.md" for p in hits)
    assert "run `qa build`" in caplog.text  # served as it was
    report = fresh.build(progress=False)
    assert report.embedded > 0 and fresh.retrieve("温州市第3季度发明专利授权多少件", 1)[0].source == "wenzhou.md"


def test_a_crash_between_segment_and_pointer_leaves_the_previous_generation(fake_engine, monkeypatch):
    from qa import index as qa_index

    engine = fake_engine
    engine.build(progress=False)
    live = engine.store.current()
    _doc(engine.settings.corpus_dir, "wenzhou.md", "温州", 4)

    def crash(path, text):
        raise KeyboardInterrupt  # killed after the generation was moved into place

    monkeypatch.setattr(qa_index, "_atomic_write_text", crash)
    with pytest.raises(KeyboardInterrupt):
        engine.build(progress=False)
    assert engine.store.current() == live
    assert not [p for p in os.listdir(engine.settings.index_dir) if p.startswith(".tmp-")]
    loaded = IndexStore(engine.settings.index_dir).load()
    assert loaded.generation == live and "wenzhou.md" not in loaded.extras["docs"]
    monkeypatch.undo()
    assert engine.build(progress=False).embedded > 0
    shutil.rmtree(engine.settings.index_dir / live, ignore_errors=True)  # linked files survive it
    assert IndexStore(engine.settings.index_dir).load() is not None


def test_built_rows_carry_doc_city_and_year_for_filters(fake_engine):
    fake_engine.build(progress=False)
    index = fake_engine.index()
    by_doc = {c.doc: (c.city, c.year) for c in index.chunks}
    # front matter year, else a year the title names, else unknown
    assert by_doc["ningbo-2023-ip-report.md"] == ("宁波", "2023")
    assert by_doc["hangzhou-ip-model-city.md"] == ("杭州", "")
    q = fake_engine.encoder.encode_queries(["宁波专利授权"])[0]
    for where, docs in (({"year": 2023}, {"ningbo-2023-ip-report.md"}),
                        ({"city": "宁波"}, {"ningbo-2023-ip-report.md", "ningbo-ip-complex.md"}),
                        ({"doc": "hangzhou-ip-model-city.md"}, {"hangzhou-ip-model-city.md"})):
        _, rows = index.search(q[None, :], 8, where)
        got = {index.chunks[r].doc for r in rows[0] if r >= 0}
        assert got == docs, where
        assert (rows[0] >= 0).sum() == min(8, sum(c.doc in docs for c in index.chunks))


def test_a_title_year_is_read_when_front_matter_has_none(tmp_path):
    path = tmp_path / "r.md"
    path.write_text(qa_corpus.render({"title": "《温州市2021年知识产权白皮书》"}, "# x\n\n正文。\n"), encoding="utf-8")
    assert qa_corpus.load_document(path).year == "2021"
    path.write_text(qa_corpus.render({"title": "报告", "year": "2019"}, "# x\n\n正文。\n"), encoding="utf-8")
    assert qa_corpus.load_document(path).year == "2019"
    path.write_text(qa_corpus.render({"title": "编号12020年"}, "# x\n\n正文。\n"), encoding="utf-8")
    assert qa_corpus.load_document(path).year == ""


def test_retrieve_and_ask_search_only_what_where_names(fake_engine):
    fake_engine.build(progress=False)
    q = "宁波知识产权"
    assert {p.source for p in fake_engine.retrieve(q, 10)} > {"ningbo-2023-ip-report.md"}
    only = fake_engine.retrieve(q, 10, where={"doc": "ningbo-2023-ip-report.md"})
    assert len(only) == 10 and {p.source for p in only} == {"ningbo-2023-ip-report.md"}
    hz = fake_engine.retrieve(q, 5, where={"city": "杭州"})
    assert {p.source for p in hz} == {"hangzhou-ip-model-city.md"}
    assert {p.source for p in fake_engine.ask(q, 3, where={"year": 2023}).passages} == {"ningbo-2023-ip-report.md"}
    with pytest.raises(ValueError, match="no indexed document matches city '温州'"):
        fake_engine.retrieve(q, 3, where={"city": "温州"})
    with pytest.raises(ValueError, match="cannot filter on 'section'"):
        fake_engine.retrieve(q, 3, where={"section": "x"})


def test_cli_ask_takes_doc_city_and_year(fake_engine, monkeypatch, capsys):
    import json

    from qa import cli

    fake_engine.build(progress=False)
    monkeypatch.setattr(cli, "_engine", lambda: fake_engine)
    assert cli.main(["ask", "宁波知识产权", "--city", "杭州", "--k", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {p["source"] for p in out["passages"]} == {"hangzhou-ip-model-city.md"}
    assert cli.main(["ask", "宁波知识产权", "--doc", "nosuch.md"]) == 2
    assert "no indexed document matches doc 'nosuch.md'" in capsys.readouterr().err


def test_persisted_bm25_scores_equal_bm25s_over_the_live_corpus(fake_engine, tmp_path):
    from qa.lexical import BM25Index

    engine = fake_engine
    corpus_dir = engine.settings.corpus_dir
    engine.build(progress=False)
    for i, city in enumerate(["温州", "嘉兴"]):  # one segment holding both
        _doc(corpus_dir, f"c{i}.md", city, 6)
    engine.build(progress=False)
    (corpus_dir / "c0.md").unlink()  # dead rows must not count in df, N or the average length
    engine.build(progress=False)
    index = IndexStore(engine.settings.index_dir).load(tokens=True)
    assert len(index.segments) >= 2 and any(s.dead_docs for s in index.segments)
    reference = BM25Index(index.extras["tokens"])
    for terms in ({"专利": 1.0}, {"宁波": 1.0, "授权": 0.5}, {"嘉兴市": 1.0, "发明专利": 2.0}, {"温州": 1.0}):
        np.testing.assert_allclose(index.bm25.scores(terms), reference.scores(terms), rtol=2e-5, atol=1e-6)
    assert ("宁波" in index.bm25.vocab) == ("宁波" in reference.vocab)
    assert "温州" not in index.bm25.vocab or "温州" in reference.vocab  # only in the removed document


def test_a_bulk_add_goes_in_committed_batches_and_resumes_after_a_kill(fake_engine, monkeypatch):
    from qa import build as qa_build

    engine = fake_engine
    engine.build(progress=False)
    monkeypatch.setattr(qa_build, "BATCH_CHARS", 300)  # a batch per document below
    corpus_dir = engine.settings.corpus_dir
    for i, city in enumerate(["温州", "嘉兴", "湖州"]):
        _doc(corpus_dir, f"b{i}.md", city, 8)
    real, calls = engine.encoder.encode_passages, []

    def dies_on_the_second_batch(texts, progress=False):
        calls.append(len(texts))
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while embedding the second batch
        return real(texts, progress)

    monkeypatch.setattr(engine.encoder, "encode_passages", dies_on_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        engine.build(progress=False)
    kept = IndexStore(engine.settings.index_dir).load()
    assert "b0.md" in kept.extras["docs"] and "b1.md" not in kept.extras["docs"]
    monkeypatch.setattr(engine.encoder, "encode_passages", real)
    engine._index = None
    counting = Counting(engine.encoder)
    engine.encoder = counting
    report = engine.build(progress=False)  # resumes: b0 is not embedded again
    assert sorted(report.new_docs) == ["b1.md", "b2.md"]
    chunks = engine.index().manifest["doc_chunks"]
    assert report.embedded == chunks["b1.md"] + chunks["b2.md"]
    assert counting.passages == report.embedded + sum(d in ("b1.md", "b2.md") for d, _, _ in
                                                      engine.index().extras["sentences"])
    full = _engine(engine.settings.index_dir.parent / "full", corpus_dir)
    full.build(progress=False)
    _same_index(engine.index(), full.index())


def test_a_year_the_documents_never_name_is_absent_without_a_corpus_copy(fake_engine):
    fake_engine.build(progress=False)
    index = fake_engine.index()
    years = set(index.extras["years"])
    assert {"2023", "2022"} <= years and "1987" not in years
    assert not hasattr(fake_engine.searcher(), "corpus_squashed")
    out = fake_engine.inspect("宁波1987年知识产权质押融资金额是多少？")
    assert out.code == "year_absent"
    assert fake_engine.inspect("宁波2023年知识产权质押融资金额是多少？").code != "year_absent"
