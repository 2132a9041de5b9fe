"""Shared fixtures: the real converted model on the real corpus.

Tests never touch the project's own index/: each engine gets a temporary
index directory (and a temporary corpus when the test changes documents).
"""
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# engines over fake vectors skip the span model (torch + the real weights); the engines over
# the real model below turn it on
os.environ.setdefault("QA_SPAN_MODEL", "0")

from qa.embedding import Encoder, make_encoder  # noqa: E402
from qa.pipeline import Engine  # noqa: E402
from qa.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"


MODEL_FIXTURES = {"encoder", "engine", "scratch", "model_dir", "st_model", "e5"}


def pytest_collection_modifyitems(config, items):
    # tests on the real model are marked, so `make test-fast` can leave them out
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture
def fake_engine(tmp_path) -> Engine:
    """An engine over a private copy of the corpus with hashed-bigram vectors: the whole
    pipeline, no model."""
    from fakes import HashEncoder

    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    settings = Settings.from_env(corpus_dir=corpus, index_dir=tmp_path / "index")
    return Engine(settings, encoder=HashEncoder())


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    settings = Settings.from_env()
    return make_encoder(settings.encoder, settings.model_dir)


@pytest.fixture(scope="session")
def engine(encoder, tmp_path_factory) -> Engine:
    """Read-only engine over the real corpus; don't add or remove documents with it."""
    settings = Settings.from_env(index_dir=tmp_path_factory.mktemp("index"), span_model=True)
    eng = Engine(settings, encoder=encoder)
    eng.build(progress=False)
    return eng


@pytest.fixture
def scratch(engine, tmp_path) -> Engine:
    """An engine over a private copy of the corpus and of the built index, free
    to change; its builds re-embed only what a test changes."""
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    shutil.copytree(engine.settings.index_dir, tmp_path / "index",
                    ignore=shutil.ignore_patterns(".lock", ".tmp-*"))
    settings = Settings.from_env(corpus_dir=corpus, index_dir=tmp_path / "index", span_model=True)
    return Engine(settings, encoder=engine.encoder)
