"""The whole pipeline on the seed corpus with hashed-bigram vectors: no model, seconds."""
from pathlib import Path

from qa import corpus


def test_build_retrieve_and_offsets(fake_engine):
    report = fake_engine.build(progress=False)
    assert report.documents == 3 and report.chunks > 50 and report.embedded == report.chunks
    assert fake_engine.build(progress=False) is None  # up to date: nothing to do
    passages = fake_engine.retrieve("平均授权周期从22个月缩短到75.5天", k=4)
    assert len(passages) == 4 and passages[0].source == "ningbo-ip-complex.md"
    assert [p.rank for p in passages] == [1, 2, 3, 4]
    for p in passages:
        text = (fake_engine.settings.corpus_dir / p.source).read_text(encoding="utf-8")
        assert text[p.start:p.end] == p.text


def test_ask_returns_one_of_three_states(fake_engine):
    a = fake_engine.ask("宁波发明专利平均授权周期缩短到多少天？")
    assert a.status in {"answer", "sentence", "not_found"}
    if a.status != "not_found":
        assert a.sentence and a.passage.source.endswith(".md")
    off = fake_engine.ask("2031年火星专利申请量是多少？")
    assert off.status == "not_found" and off.reason_code


def test_the_answer_echoes_the_question_as_asked(fake_engine):
    # 啥 is read as 什么 to find the answer kind and the blank, but the user sees their own words
    a = fake_engine.ask("宁波那个一键对接融资需求的产品叫啥？")
    assert "啥" in a.question and "什么" not in a.question


def test_only_a_changed_document_is_re_embedded(fake_engine):
    fake_engine.build(progress=False)
    manifest = fake_engine.store.manifest()
    assert not fake_engine.is_stale(manifest)
    path = Path(fake_engine.settings.corpus_dir) / "ningbo-ip-complex.md"
    path.write_text(path.read_text(encoding="utf-8") + "\n新增一句：宁波新建了知识产权服务站。\n", encoding="utf-8")
    assert fake_engine.is_stale(manifest)  # size and mtime moved, and so did the hash
    report = fake_engine.build(progress=False)
    doc = corpus.load_document(path)
    assert report.embedded == report.chunks - sum(
        n for name, n in fake_engine.store.manifest()["doc_chunks"].items() if name != doc.name)
    assert 0 < report.embedded < report.chunks


def test_touching_a_file_without_changing_it_does_not_rebuild(fake_engine):
    fake_engine.build(progress=False)
    path = Path(fake_engine.settings.corpus_dir) / "ningbo-ip-complex.md"
    path.write_bytes(path.read_bytes())  # new mtime, same bytes: hashes decide, nothing to embed
    assert not fake_engine.is_stale(fake_engine.store.manifest())
    assert fake_engine.build(progress=False) is None


def test_one_k_rule_for_every_route(fake_engine):
    import pytest

    from qa.web.inputs import coerce_k

    fake_engine.build(progress=False)
    for k in (3, 3.0, "3", " 3 "):
        assert len(fake_engine.retrieve("宁波专利", k)) == 3 and coerce_k(k) == 3
    assert len(fake_engine.retrieve("宁波专利", None)) == fake_engine.settings.k  # the default
    for bad in (0, 21, 2.5, True, "five", float("nan"), "-1"):
        with pytest.raises(ValueError, match="from 1 to 20"):
            fake_engine.retrieve("宁波专利", bad)
        with pytest.raises(ValueError, match="from 1 to 20"):
            coerce_k(bad)
