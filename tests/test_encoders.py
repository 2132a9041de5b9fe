"""The torch-free ONNX encoder agrees with the sentence-transformers reference,
and the query path runs without torch."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.embedding import ENCODERS, make_encoder
from qa.embedding import base, export
from qa.embedding.st import SentenceTransformerEncoder
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return Settings.from_env().model_dir


@pytest.mark.slow
def test_onnx_agrees_with_sentence_transformers(model_dir):
    texts = export.agreement_texts()
    assert len(texts) >= 200
    onnx_enc, st_enc = make_encoder("onnx", model_dir), SentenceTransformerEncoder(model_dir)
    queries = [t.removeprefix(base.QUERY_PREFIX) for t in texts if t.startswith(base.QUERY_PREFIX)]
    passages = [t.removeprefix(base.PASSAGE_PREFIX) for t in texts if t.startswith(base.PASSAGE_PREFIX)]
    for encode in ("encode_queries", "encode_passages"):
        items = queries if encode == "encode_queries" else passages
        a, b = getattr(onnx_enc, encode)(items), getattr(st_enc, encode)(items)
        assert a.shape == b.shape == (len(items), 384) and a.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
        assert float((a * b).sum(1).min()) >= export.MIN_COSINE
    # query-passage similarities, which retrieval ranks by, move by less than e5's score gaps
    diff = np.abs(onnx_enc.encode_queries(queries) @ onnx_enc.encode_passages(passages).T
                  - st_enc.encode_queries(queries) @ st_enc.encode_passages(passages).T)
    assert diff.max() <= 0.01 and diff.mean() <= 0.002, (diff.max(), diff.mean())


def test_batching_does_not_change_vectors(model_dir):
    enc = make_encoder("onnx", model_dir)
    texts = ["专利", "平均授权周期从22个月缩短到75.5天，发明专利授权率从40%提升至86%。" * 3, "how long?"]
    together = enc.encode_passages(texts)
    alone = np.vstack([enc.encode_passages([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=2e-3)
    assert enc.encode_passages([]).shape == (0, 384)


def test_both_encoders_share_the_fingerprint_read_from_the_marker(model_dir, monkeypatch):
    from qa.embedding import convert

    monkeypatch.setattr(convert, "source_fingerprint", lambda *a: pytest.fail("re-hashed the model"))
    fp = make_encoder("onnx", model_dir).fingerprint()
    assert fp == SentenceTransformerEncoder(model_dir).fingerprint()
    marker = json.loads((model_dir / convert.MARKER).read_text())
    assert fp == f"e5-small-q4:{marker['source_sha256']}"


def test_export_marker_records_agreement_and_staleness(model_dir):
    info = json.loads((model_dir / export.ONNX_DIR / export.ONNX_MARKER).read_text())
    assert info["agreement"]["min_cosine"] >= export.MIN_COSINE and info["agreement"]["texts"] >= 200
    sha = info["source_sha256"]
    assert export.is_exported(model_dir, sha)
    assert not export.is_exported(model_dir, "0" * 16)  # other weights: export again


def test_unknown_encoder_is_a_clear_error(model_dir):
    assert ENCODERS == ("onnx", "st")
    with pytest.raises(ValueError, match="unknown encoder 'bert'"):
        make_encoder("bert", model_dir)


@pytest.mark.slow
def test_query_path_imports_no_torch(engine):
    """A cold `qa ask` loads onnxruntime, never torch or sentence-transformers (the span model
    included: it serves from its ONNX export)."""
    code = ("import sys, qa; from qa.pipeline import Engine; from qa.settings import Settings; "
            "e = Engine(Settings.from_env(index_dir=sys.argv[1])); a = e.ask('how long is the average patent grant cycle?'); "
            "print(a.status, a.span); "
            "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers', 'sklearn', 'gradio') if m in sys.modules))")
    from qa.spans import ensure_onnx
    ensure_onnx(engine.settings.model_dir)  # made at setup; the question must not need torch to make it
    env = {**os.environ, "QA_ENCODER": "onnx", "HF_HUB_OFFLINE": "1", "QA_SPAN_MODEL": "1"}
    out = subprocess.run([sys.executable, "-c", code, str(engine.settings.index_dir)], capture_output=True,
                         text=True, env=env, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    status_line, modules = out.stdout.strip().splitlines()[-2:]
    assert "75.5天" in status_line
    assert modules == "[]"
