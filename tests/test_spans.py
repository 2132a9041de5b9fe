"""The span model (qa/spans.py): token offsets, the fitted deltas, and what it scores."""
import numpy as np
import pytest

from qa.ranker import INDEX, SPAN_FLOOR, with_spans
from qa.settings import Settings
from qa.spans import MODEL_PATH, SpanModel, encode, pack, tokenizer, unpack

PASSAGE = ("宁波知识产权保护中心运行以来，发明专利平均授权周期从22个月缩短到75.5天，"
           "累计为企业提供快速预审服务3100余件。")


@pytest.fixture(scope="module")
def spans(model_dir):
    return SpanModel(model_dir).use("all")


@pytest.fixture(scope="module")
def model_dir():
    return Settings.from_env().model_dir


def test_offsets_point_into_the_passage(model_dir):
    ids, offsets, first = encode(tokenizer(model_dir), "平均授权周期是多少？", PASSAGE)
    assert 0 < first < len(ids)
    assert all(o == (0, 0) for o in offsets[:first])  # question tokens carry no passage offsets
    spans = offsets[first:-1]  # the last token closes the pair
    assert all(0 <= a < b <= len(PASSAGE) for a, b in spans)
    assert {i for a, b in spans for i in range(a, b)} == set(range(len(PASSAGE)))  # every character


def test_truncation_keeps_the_question(model_dir):
    ids, offsets, first = encode(tokenizer(model_dir), "授权周期？", PASSAGE * 40)
    assert len(ids) <= 320 and first > 1
    assert offsets[-2][1] < len(PASSAGE * 40)  # the passage, not the question, was cut


def test_pack_round_trip(tmp_path):
    arrs = {"all": {"x.A": np.ones((2, 3), np.float16), "head.bias": np.zeros(2, np.float32)}}
    path = tmp_path / "m.npz"
    pack(arrs, path, {"fitted_on": "test"})
    back = unpack(path)
    assert set(back) == {"all"} and np.array_equal(back["all"]["x.A"], arrs["all"]["x.A"])
    assert not list(tmp_path.glob("*.tmp*"))


def test_shipped_model_is_small_and_complete():
    r = unpack(MODEL_PATH)["all"]
    assert MODEL_PATH.stat().st_size < 3_000_000  # deltas and a head, never the encoder
    a = [k for k in r if k.endswith(".A")]
    assert len(a) == 12 * 6 and all(k[:-2] + ".B" in r for k in a)  # 6 linear layers in each of 12 blocks
    assert r["head.weight"].shape == (2, 384)


def test_the_answer_outscores_other_spans(spans, engine):
    """The figure the question asks for beats the other figures and the whole clause. Read in
    English, the model alone knows a duration is asked but not which end of 从22个月缩短到75.5天
    "now" means (the 1,421-question fit prefers 22个月; the 978 one did not): the ranker's
    change-direction features settle it, so there the whole reader is what is held to 75.5天."""
    s = PASSAGE.index("75.5天")
    cands = [("d", s, s + 5), ("d", PASSAGE.index("22个月"), PASSAGE.index("22个月") + 4),
             ("d", PASSAGE.index("3100余件"), PASSAGE.index("3100余件") + 6), ("d", 0, len(PASSAGE))]
    zh = spans.score("发明专利平均授权周期缩短到了多少天？", [("d", 0, PASSAGE)], cands)
    assert int(np.argmax(zh)) == 0, zh
    q = "How long is the average patent grant cycle now?"
    en = spans.score(q, [("d", 0, PASSAGE)], cands)
    assert set(np.argsort(-en)[:2].tolist()) == {0, 1}, en  # the two durations lead
    assert engine.ask(q).span == "75.5天"


def test_spans_outside_the_passages_are_unknown(spans):
    sc = spans.score("多少天？", [("d", 100, PASSAGE)], [("d", 0, 5), ("other", 100, 105), ("d", 100, 105)])
    assert np.isnan(sc[0]) and np.isnan(sc[1]) and not np.isnan(sc[2])


def test_switching_deltas_restores_the_weights(model_dir, tmp_path):
    """``use`` applies one fitted set on the base weights, never on top of another."""
    r = unpack(MODEL_PATH)["all"]
    zero = {k: (np.zeros_like(v) if k.endswith(".B") else v) for k, v in r.items()}
    path = tmp_path / "both.npz"
    pack({"all": r, "zero": zero}, path)
    m = SpanModel(model_dir, (path,))
    q, ps, sp = "平均授权周期？", [("d", 0, PASSAGE)], [("d", 0, 5), ("d", 10, 20)]
    first = m.use("all").score(q, ps, sp)
    other = m.use("zero").score(q, ps, sp)
    again = m.use("all").score(q, ps, sp)
    assert not np.allclose(first, other)
    assert np.allclose(first, again, atol=1e-4)


def test_with_spans_columns():
    X = np.zeros((3, len(INDEX)), np.float32)
    with_spans(X, np.array([2.0, np.nan, -1.0]))
    assert X[:, INDEX["span_gap"]].tolist() == [0.0, SPAN_FLOOR, -3.0]
    assert X[:, INDEX["span_top"]].tolist() == [1.0, 0.0, 0.0]
    assert X[:, INDEX["span_known"]].tolist() == [1.0, 0.0, 1.0]
    with_spans(X, None)  # no span model: no opinion, which the fitted models read as their mean
    assert np.isnan(X[:, INDEX["span_gap"]]).all() and not np.isnan(X[:, INDEX["proximity"]]).any()


def test_engine_without_span_model_still_answers(engine):
    """Turned off, the span model is no opinion rather than "no answer here"."""
    from qa.pipeline import Engine
    off = Engine(engine.settings.replace(span_model=False), encoder=engine.encoder)
    assert off.spans() is None
    a = off.ask("宁波2023年知识产权质押融资金额是多少？")
    assert a.status in ("answer", "sentence") and a.span == "394.11亿元"


def test_missing_readings_are_read_as_the_training_mean():
    from qa.ranker import load_model
    m = load_model()
    X = np.tile(m.mean, (2, 1))
    X[1, INDEX["span_gap"]] = np.nan
    assert np.allclose(m.scores(X)[0], m.scores(X)[1])
    sig = m.abstain.mean.copy()
    sig2 = sig.copy()
    sig2[0] = np.nan
    assert m.abstain.p(sig) == pytest.approx(m.abstain.p(sig2))


def _reading(text: str, start_at: int, end_at: int, base: int = 100):
    """A Reading over one passage whose tokens are its characters, with logits that favour
    the span [start_at, end_at] (token indices into the passage)."""
    from qa.spans import Reading
    first = 3  # <s>, one question token, </s>
    n = first + len(text) + 1
    s, e = np.zeros(n, np.float32), np.zeros(n, np.float32)
    s[first + start_at], e[first + end_at] = 5.0, 5.0
    s[0], e[0] = 1.0, 1.0  # the null score
    off = [(0, 0)] * first + [(i, i + 1) for i in range(len(text))] + [(0, 0)]
    return Reading([("d", base, text)], [(s, e, off, first)])


def test_best_spans_and_their_scores():
    r = _reading("甲乙丙丁，戊己", 1, 2)
    best = r.best(2)
    assert best[0][:3] == ("d", 101, 103) and best[0][3] == pytest.approx(8.0)  # 5 + 5 - null 2
    assert best[1][3] < best[0][3]
    assert r.score([("d", 101, 103), ("d", 101, 102), ("d", 90, 95)]).tolist()[:2] == pytest.approx([8.0, 3.0])
    assert np.isnan(r.score([("d", 90, 95)])[0])  # before the passage


def test_proposals_become_trimmed_candidates_inside_one_sentence():
    from qa.ranker import Sentence
    from qa.reader import proposals
    text = "甲乙丙丁，戊己。庚辛"
    sents = [Sentence(text[:8], "d", 100, 108, 0, 0.0, 0.0, ""), Sentence(text[8:], "d", 108, 110, 0, 0.0, 0.0, "")]
    out = proposals(_reading(text, 3, 4), sents, 1)  # 丁， : the comma is trimmed
    assert [(s.start, sp.a, sp.b, sp.source) for s, sp in out] == [(100, 3, 4, "model")]
    assert proposals(_reading(text, 6, 8), sents, 1) == []  # 己。庚 crosses a sentence end
    assert proposals(None, sents) == []


def test_onnx_export_serves_what_torch_computes(model_dir):
    """The served ONNX export and the torch model it came from agree on every logit."""
    from qa.spans import ensure_onnx, onnx_path
    path = ensure_onnx(model_dir)
    assert path == onnx_path(model_dir, MODEL_PATH) and path.exists()
    q, texts = "How long is the average patent grant cycle now?", [PASSAGE, PASSAGE[:30]]
    served = SpanModel(model_dir, runtime="onnx").use("all").logits(q, texts)
    ref = SpanModel(model_dir, runtime="torch").use("all").logits(q, texts)
    for (s1, e1, o1, f1), (s2, e2, o2, f2) in zip(served, ref):
        assert o1 == o2 and f1 == f2
        assert np.abs(s1 - s2).max() < 1e-3 and np.abs(e1 - e2).max() < 1e-3


def test_onnx_runtime_refuses_what_it_cannot_serve(model_dir, tmp_path):
    with pytest.raises(ValueError, match="one fitted file"):
        SpanModel(model_dir, (MODEL_PATH, MODEL_PATH), runtime="onnx")
    with pytest.raises(ValueError, match="unknown span model runtime"):
        SpanModel(model_dir, runtime="tf")
