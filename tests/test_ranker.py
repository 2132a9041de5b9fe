"""Features, the listwise fit, calibration and the shipped answer model (no embedding model)."""
import numpy as np
import pytest

from qa.evaluation import char_f1
from qa.fitting import fit, fit_calibration, precision_threshold
from qa.ranker import CALIBRATION, EXPANDED, INDEX, Question, Sentence, best_of, candidates, load_model, pick
from qa.reader import lead_with, read


def _sentence(text, rank=0):
    return Sentence(text, "doc.md", 0, len(text), rank, 0.0, 0.0, text)


def _features(question, text, terms):
    q = Question(question, "zh", terms)
    pairs, X = candidates(q, [_sentence(text)])
    return {s.text[sp.a:sp.b]: x for (s, sp), x in zip(pairs, X)}


def test_units_agree_with_the_question():
    f = _features("共有多少家企业获得贷款？", "共有720家企业获得贷款，累计咨询7476次。", {"企业": 1.0, "贷款": 1.0})
    assert f["720家"][INDEX["unit_ok"]] == 1 and f["720家"][INDEX["unit_bad"]] == 0
    assert f["7476次"][INDEX["unit_bad"]] == 1


def test_change_verbs_give_the_direction():
    f = _features("审查周期现在要多久？", "审查周期从22个月缩短到4个月。", {"审查": 1.0, "周期": 1.0})
    assert f["4个月"][INDEX["new_value"]] == 1
    assert f["22个月"][INDEX["old_value"]] == 1
    f = _features("审查周期原来要多久？", "审查周期从22个月缩短到4个月。", {"审查": 1.0, "周期": 1.0})
    assert f["22个月"][INDEX["old_and_before"]] == 1


def test_question_terms_close_to_a_candidate_score_higher():
    f = _features("出口额增长了多少？", "进口额增长5%，出口额增长27.1%。", {"出口额": 1.0})
    assert f["27.1%"][INDEX["proximity"]] > f["5%"][INDEX["proximity"]]


def test_listwise_fit_learns_what_marks_the_right_candidate():
    rng = np.random.default_rng(0)
    groups = []
    for _ in range(160):
        X = rng.normal(size=(20, len(EXPANDED))).astype(np.float32)
        y = np.zeros(20, bool)
        y[rng.integers(20)] = True
        X[y, 3] += 4.0  # the right one stands out on one feature
        groups.append((X, y))
    model = fit(groups[:120], l2=1.0)
    hits = [y[best_of(model, X)[0]] for X, y in groups[120:]]
    assert np.mean(hits) > 0.8


def _evidence(best: np.ndarray, nested: np.ndarray) -> np.ndarray:
    E = np.zeros((len(best), len(CALIBRATION)), np.float32)
    E[:, CALIBRATION.index("score")] = best
    E[:, CALIBRATION.index("runner_up_nested")] = nested
    return E


def test_calibration_and_threshold():
    rng = np.random.default_rng(1)
    best, nested = rng.normal(size=400), rng.random(400) < 0.5
    # right more often at higher scores, less often when the runner-up is the same answer with other bounds
    right_p = lambda b, n: 1 / (1 + np.exp(-(2 * b - 1.5 * n)))  # noqa: E731
    correct = (rng.random(400) < right_p(best, nested)).astype(float)
    calib = fit_calibration(_evidence(best, nested), correct)
    assert calib.coef[CALIBRATION.index("score")] > 0 > calib.coef[CALIBRATION.index("runner_up_nested")]
    conf = np.array([calib.p(e) for e in _evidence(best, nested)])
    t = precision_threshold(conf, correct, 0.9)
    # judged on fresh questions from the same process: about the target, not far above or below
    fresh, fn = rng.normal(size=5000), rng.random(5000) < 0.5
    right = rng.random(5000) < right_p(fresh, fn)
    shown = np.array([calib.p(e) for e in _evidence(fresh, fn)]) >= t
    assert 0.87 <= right[shown].mean() <= 0.97 and shown.mean() > 0.1
    # a missing reading (no span model: NaN) reads as the training mean, not as zero
    e = _evidence(np.array([1.0]), np.array([0.0]))[0]
    e[CALIBRATION.index("span_best")] = np.nan
    assert 0 < calib.p(e) < 1
    assert precision_threshold(conf, np.zeros(400), 0.9) > conf.max() - 0.2  # nothing right: show little


def test_model_round_trip(tmp_path):
    model = load_model()
    model.save(tmp_path / "m.json")
    again = load_model(tmp_path / "m.json")
    X = np.random.default_rng(2).normal(size=(5, len(EXPANDED))).astype(np.float32)
    assert np.allclose(model.scores(X), again.scores(X), atol=1e-4)
    assert 0 < model.threshold <= 1 and model.abstain is not None
    texts = ["12.3%", "同比增长12.3%", "3.5万件", "2022年", "215家"]
    p, q = pick(model, X, texts, 2.0, False), pick(again, X, texts, 2.0, False)
    assert p.i == q.i and abs(model.confidence(p) - again.confidence(q)) < 1e-5
    assert again.temperature == model.temperature


def test_pick_reads_the_runner_up():
    model = load_model()
    X = np.random.default_rng(3).normal(size=(3, len(EXPANDED))).astype(np.float32)
    order = np.argsort(-model.scores(X))
    texts = ["", "", ""]
    texts[order[0]], texts[order[1]], texts[order[2]] = "12.3%", "增长12.3%", "3.5万件"
    p = pick(model, X, texts, 1.0, False)
    assert p.i == order[0] and p.evidence[CALIBRATION.index("runner_up_nested")] == 1.0
    texts[order[1]] = "9%"
    assert pick(model, X, texts, 1.0, False).evidence[CALIBRATION.index("runner_up_nested")] == 0.0
    assert pick(model, X[:0], [], 1.0, False).i == -1 and model.confidence(pick(model, X[:0], [], 1.0, False)) == 0.0


def test_pick_reads_how_the_softmax_backs_it():
    model = load_model()
    X = np.random.default_rng(4).normal(size=(4, len(EXPANDED))).astype(np.float32)
    sc = model.scores(X)
    share = np.exp(sc - sc.max()) / np.exp(sc - sc.max()).sum()
    order = np.argsort(-sc)
    texts = ["a", "b", "c", "d"]
    p = pick(model, X, texts, 1.0, True)
    at = {name: float(p.evidence[CALIBRATION.index(name)]) for name in CALIBRATION}
    assert at["top_share"] == pytest.approx(share[order[0]], abs=1e-5)
    assert at["same_text_share"] == pytest.approx(share[order[0]], abs=1e-5)
    assert at["english"] == 1.0 and at["candidates"] == 4
    texts[order[2]] = texts[order[0]]  # the same answer read in another sentence backs the pick
    p = pick(model, X, texts, 1.0, False)
    assert p.evidence[CALIBRATION.index("same_text_share")] == pytest.approx(share[order[0]] + share[order[2]], abs=1e-5)
    assert p.evidence[CALIBRATION.index("english")] == 0.0
    X[:, [INDEX["prank0"], INDEX["prank1"], INDEX["prank2"]]] = [0, 1, 0]  # all read from the second passage
    assert pick(model, X, texts, 1.0, True).evidence[CALIBRATION.index("passage_rank")] == 1


def test_the_pick_weighs_how_the_top_candidates_agree():
    from qa.ranker import AnswerModel

    n = len(EXPANDED)
    model = AnswerModel(np.zeros(n, np.float32), np.ones(n, np.float32), np.eye(n, dtype=np.float32)[0], 0.0)
    X = np.zeros((4, n), np.float32)
    X[:, 0] = [1.0, 0.8, 0.7, 0.6]  # the scores: one reading on top, three that share 75.5天 below it
    texts = ["22个月", "75.5天", "缩短到75.5天", "75.5天以内"]
    top = pick(model, X, texts, 1.0, False)
    assert top.i == 0 and top.margin == pytest.approx(0.2, abs=1e-5)
    model.temperature = 1.0
    agreed = pick(model, X, texts, 1.0, False)
    assert agreed.i == 1 and agreed.margin == pytest.approx(-0.2, abs=1e-5)  # below the top score
    share = np.exp(X[:, 0] - 1.0) / np.exp(X[:, 0] - 1.0).sum()
    f1 = [0.0, 1.0, char_f1("75.5天", "缩短到75.5天"), char_f1("75.5天", "75.5天以内")]
    assert agreed.evidence[CALIBRATION.index("expected_f1")] == pytest.approx(float(share @ f1), abs=1e-5)
    assert top.evidence[CALIBRATION.index("expected_f1")] == pytest.approx(share[0], abs=1e-5)
    model.temperature = 0.05  # nearly the top score alone
    assert pick(model, X, texts, 1.0, False).i == 0
    assert pick(model, X[:1], texts[:1], 1.0, False).i == 0  # one candidate: nothing to weigh


@pytest.mark.parametrize("question,text,want", [
    ("2022年全市专利授权量同比增长了多少？", "2022年全市专利授权量达到3.5万件，同比增长12.3%。", "12.3%"),
    ("全市有多少家企业获得了专利质押贷款？", "全年专利质押登记金额18.6亿元，惠及企业215家，同比增长9%。", "215家"),
    ("该中心是什么时候通过验收的？", "该中心于2021年9月8日通过验收，正式投入运行。", "2021年9月8日"),
])
def test_shipped_model_reads_made_up_sentences(question, text, want):
    from qa.lexical import zh_tokens
    q = Question(question, "zh", {t: 1.0 for t in zh_tokens(question) if len(t) > 1})
    r = read(load_model(), q, [_sentence(text)])
    assert r.text == want
    assert 0 <= r.confidence <= 1


def test_a_candidate_s_own_clause_is_compared_with_the_question():
    from qa.ranker import clause_ranges

    text = "发明专利9372件，实用新型专利5万件。"
    first, second = clause_ranges(text)[:2]
    s = Sentence(text, "doc.md", 0, len(text), 0, 0.0, 0.0, text, sim=0.5,
                 clause_sims={first: 0.9, second: 0.6})
    q = Question("发明专利有多少件？", "zh", {"发明专利": 1.0})
    pairs, X = candidates(q, [s])
    f = {s.text[sp.a:sp.b]: x for (s, sp), x in zip(pairs, X)}
    assert f["9372件"][INDEX["clause_dense_gap"]] == 0.0
    assert f["5万件"][INDEX["clause_dense_gap"]] == pytest.approx(-0.3)
    # a clause nobody indexed (here: without the sims) falls back to the sentence's own similarity
    s.clause_sims = {first: 0.9}
    pairs, X = candidates(q, [s])
    f = {s.text[sp.a:sp.b]: x for (s, sp), x in zip(pairs, X)}
    assert f["5万件"][INDEX["clause_dense_gap"]] == pytest.approx(-0.4)


def test_list_end_items_that_swallow_a_verb_or_head_read_as_unbalanced():
    f = _features("海外观察站设在哪些国家？", "宁波持续推进美国、德国海外知识产权观察站建设。", {"观察站": 1.0})
    lists = {t: x for t, x in f.items() if x[INDEX["src_list"]]}
    assert lists["美国、德国"][INDEX["list_first_off"]] == 0.0
    assert lists["推进美国、德国"][INDEX["list_first_off"]] > 0.5
    f = _features("哪几级政府实现了全覆盖？", "国家、省、市、县四级政府实现全覆盖。", {"政府": 1.0})
    lists = {t: x for t, x in f.items() if x[INDEX["src_list"]]}
    assert lists["国家、省、市、县"][INDEX["list_last_off"]] == 0.0
    assert lists["国家、省、市、县四级政府"][INDEX["list_last_off"]] > 1.0
    assert f.get("四级政府", np.zeros(len(INDEX)))[INDEX["list_first_off"]] == 0.0  # not a list: no reading


def test_respectively_pairs_a_value_with_its_own_item():
    # made-up figures; the 分别 lists run parallel, so each rate belongs to the field it pairs with
    text = "增长最快的两个领域是电池技术和医疗器械，分别同比增长40.2%和18.5%。"
    f = _features("医疗器械增长了多少？", text, {"医疗器械": 1.0})
    assert f["18.5%"][INDEX["resp_best"]] == 1 and f["18.5%"][INDEX["resp_gap"]] == 0.0
    assert f["40.2%"][INDEX["resp_best"]] == 0 and f["40.2%"][INDEX["resp_gap"]] < 0
    # and the other way round: which field grew 40.2%
    f = _features("哪个领域同比增长40.2%？", text, {"领域": 1.0, "40.2%": 2.0})
    assert f["电池技术"][INDEX["resp_best"]] == 1
    f = _features("医疗器械增长了多少？", "医疗器械同比增长18.5%。", {"医疗器械": 1.0})
    assert f["18.5%"][INDEX["resp_gap"]] == 0 and f["18.5%"][INDEX["resp_best"]] == 0  # no 分别: no reading


def test_a_year_the_passage_never_states_is_marked():
    q = Question("2021年专利授权量是多少件？", "zh", {"专利": 1.0, "授权量": 1.0})
    stated = Sentence("专利授权量3.5万件。", "doc.md", 0, 10, 0, 0.0, 0.0, "2021年工作报告 专利授权量3.5万件。")
    unstated = Sentence("专利授权量3.5万件。", "doc.md", 0, 10, 0, 0.0, 0.0, "2023年工作报告 专利授权量3.5万件。")
    for s, want in ((stated, 0), (unstated, 1)):
        pairs, X = candidates(q, [s])
        x = next(x for (s_, sp), x in zip(pairs, X) if s_.text[sp.a:sp.b] == "3.5万件")
        assert x[INDEX["year_absent"]] == want



def test_the_weight_of_question_terms_beside_a_figure():
    # made-up figures: both counts have 标准 beside them; only one has the whole 团体标准
    text = "发布地方标准3.4万项、团体标准2.1万项。"
    f = _features("团体标准有多少项？", text, {"团体": 1.0, "标准": 0.5, "团体标准": 2.0})
    assert f["2.1万项"][INDEX["left_weight"]] > f["3.4万项"][INDEX["left_weight"]] > 0
    assert f["2.1万项"][INDEX["rel_beside"]] == 0 and f["3.4万项"][INDEX["rel_beside"]] < 0


def test_a_person_s_name_is_what_who_asks_for():
    text = "市委书记张明出席会议并讲话。"
    f = _features("出席会议的市委书记是谁？", text, {"市委书记": 1.0, "出席": 1.0})
    assert f["张明"][INDEX["who_person"]] == 1 and f["张明"][INDEX["person"]] == 0
    f = _features("会议由哪个部门主办？", text, {"会议": 1.0})
    assert f["张明"][INDEX["person"]] == 1 and f["张明"][INDEX["who_person"]] == 0


def test_a_blank_span_is_a_candidate_and_a_feature():
    f = _features("该中心还要促进什么？", "该中心将提供全链条服务，促进科研成果转移转化。", {"中心": 1.0, "促进": 1.0})
    assert f["科研成果转移转化"][INDEX["blank"]] == 1
    inside = [t for t, x in f.items() if x[INDEX["in_blank"]] == 1]
    assert inside and all(t in "科研成果转移转化" for t in inside)


def test_lead_with_moves_one_item_to_the_front():
    assert lead_with(["a", "b", "c", "d"], 2) == ["c", "a", "b", "d"]
    assert lead_with(["a", "b"], 0) == ["a", "b"]
    assert lead_with(["a", "b"], 5) == ["a", "b"]  # out of range: unchanged
