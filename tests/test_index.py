"""The manifest keeps the index in step with corpus/ and the settings."""
from qa.corpus import load_corpus


def test_changed_corpus_file_triggers_an_incremental_rebuild(scratch):
    assert scratch.build(progress=False) is None  # the copied index is current
    doc = load_corpus(scratch.settings.corpus_dir)[0]
    doc.path.write_text(doc.text + "\n新增一句：宁波2024年新增专利授权70000件。\n", encoding="utf-8")
    assert scratch.is_stale(scratch.store.manifest())
    again = scratch.build(progress=False)
    changed = again.embedded
    assert 0 < changed < again.chunks  # only the edited document was re-embedded
    assert changed == scratch.index().manifest["doc_chunks"][doc.name]
    assert any("70000件" in p.text for p in scratch.retrieve("2024年新增专利授权多少件？", 3))


def test_removed_file_drops_its_vectors_without_reembedding(scratch):
    scratch.build(progress=False)
    doc = load_corpus(scratch.settings.corpus_dir)[-1]
    doc.path.unlink()
    report = scratch.build(progress=False)
    assert report.embedded == 0 and report.removed == [doc.name]
    assert all(c.doc != doc.name for c in scratch.index().chunks)
