"""Damage that keeps a file's shape is caught by checksums, and a garbage pointer falls
back to the newest intact generation instead of re-embedding (hashed-bigram encoder)."""
import json
import sqlite3

import numpy as np
import pytest

from fakes import Counting
from qa.index import IndexStore

QUESTION = "平均授权周期从22个月缩短到75.5天"


def _two_generations(engine):
    engine.build(progress=False)
    first = engine.store.current()
    engine.build(force=True, progress=False)
    second = engine.store.current()
    assert first != second and engine.store.generations()[:2] == [second, first]
    return first, second


def _segment(gen):
    (seg,) = gen.glob("seg-*")
    return seg


def _overwrite_vectors(gen):
    path = _segment(gen) / "vectors.npy"
    v = np.load(path)
    np.save(path, np.random.default_rng(0).standard_normal(v.shape).astype(np.float32))


def _sql(gen, statement):
    con = sqlite3.connect(_segment(gen) / "texts.sqlite")
    con.execute(statement)
    con.commit()
    con.close()


DAMAGE = {
    "vectors-random-same-shape": _overwrite_vectors,
    "tokens-emptied": lambda gen: _sql(gen, "UPDATE chunks SET tokens = '[]'"),
    "sentences-emptied": lambda gen: _sql(gen, "DELETE FROM sentences"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_same_shape_damage_is_detected_and_the_older_generation_serves(fake_engine, damage, caplog):
    first, second = _two_generations(fake_engine)
    DAMAGE[damage](fake_engine.settings.index_dir / second)
    loaded = IndexStore(fake_engine.settings.index_dir).load()
    assert loaded is not None and loaded.generation == first
    assert "checksum" in caplog.text and "newest intact generation" in caplog.text
    fake_engine.encoder = counting = Counting(fake_engine.encoder)
    fake_engine._index = None
    assert fake_engine.retrieve(QUESTION, 3)[0].source == "ningbo-ip-complex.md"
    assert counting.passages == 0  # served from the intact generation, nothing re-embedded


@pytest.mark.parametrize("pointer", [b"\xff\xfe garbage", b"gen-that-does-not-exist\n", None])
def test_a_garbage_pointer_falls_back_without_re_embedding(fake_engine, pointer):
    first, second = _two_generations(fake_engine)
    current = fake_engine.settings.index_dir / "CURRENT"
    current.unlink() if pointer is None else current.write_bytes(pointer)
    fake_engine.encoder = counting = Counting(fake_engine.encoder)
    fake_engine._index = None
    assert fake_engine.index().generation == second  # the newest intact one
    assert fake_engine.retrieve(QUESTION, 3)[0].source == "ningbo-ip-complex.md"
    assert counting.passages == 0
    # the next write keeps the generation that served, and points CURRENT at the new one
    fake_engine.build(force=True, progress=False)
    gens = fake_engine.store.generations()
    assert second in gens and fake_engine.store.current() == gens[0]


def test_every_generation_file_has_a_checksum(fake_engine):
    fake_engine.build(progress=False)
    gen = fake_engine.settings.index_dir / fake_engine.store.current()
    manifest = json.loads((gen / "manifest.json").read_text())
    files = {str(p.relative_to(gen)) for p in gen.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["checksums"]) == files and all(len(c) == 8 for c in manifest["checksums"].values())
