"""Composing the shown answer from the chosen span, on made-up sentences (no model)."""
import numpy as np
import pytest

from qa.compose import compose, figures_wanted
from qa.cv import Item, _top, shown_f1
from qa.qkind import fit_kinds
from qa.ranker import EXPANDED, FEATURES, AnswerModel, Question
from qa.reader import SIGNALS


def _compose(question: str, lang: str, sentence: str, chosen: str, kind: str, translate=None) -> str:
    q = Question(question, lang, {}, translate=translate)
    a = sentence.index(chosen)
    x, y = compose(q, sentence, a, a + len(chosen), kind)
    return sentence[x:y]


@pytest.mark.parametrize("question,lang,wanted", [
    ("全市检察机关一共办了几件案子、涉及多少人？", "zh", 2),
    ("质押金额是多少，同比又增长了多少？", "zh", 2),
    ("三个领域的增速分别是多少？", "zh", 2),
    ("How many cases were filed, and how many suspects were held?", "en", 2),
    ("这几年一共查处了多少起案件？", "zh", 1),  # 这几年 is no interrogative
    ("那几十单产品累计发行了多少钱？", "zh", 1),  # nor is 几十
    ("会议是几月几号开的？", "zh", 1),  # one date, however it is asked
    ("How many centres are there, counting both those built and those planned?", "en", 1),
])
def test_figures_wanted_counts_the_interrogatives(question, lang, wanted):
    assert figures_wanted(Question(question, lang, {})) == wanted


def test_a_question_asking_for_two_figures_gets_both():
    s = "去年，全市累计查办侵权案件173起，抓获犯罪嫌疑人361名。"
    assert _compose("去年查办了多少起侵权案件，抓获了多少名嫌疑人？", "zh", s, "173起", "count") == \
        "173起，抓获犯罪嫌疑人361名"
    # the chosen figure may be the second one: the span grows towards the nearer figure
    s = "全市质押融资金额394.11亿元，同比增长139%，累计惠及全市科技型企业632家。"
    assert _compose("质押融资金额是多少，同比增长了多少？", "zh", s, "139%", "percent") == "394.11亿元，同比增长139%"


def test_one_figure_asked_stays_one_figure():
    s = "全市质押融资金额394.11亿元，同比增长139%。"
    assert _compose("质押融资金额是多少？", "zh", s, "394.11亿元", "money") == "394.11亿元"


def test_composition_never_crosses_a_sentence_stop_nor_takes_the_question_s_own_figures():
    s = "全年受理案件1217件；办结1050件，调解成功率38.1%。"
    assert _compose("受理了多少件，办结了多少件？", "zh", s, "1217件", "count") == "1217件"
    s = "在受理的1217件案件中，办结1050件，调解成功率38.1%。"
    assert _compose("受理的1217件案件中办结了多少件，调解成功率是多少？", "zh", s, "1050件", "count") == \
        "1050件，调解成功率38.1%"


def test_a_span_that_already_holds_the_figures_is_kept():
    s = "规划期为2021—2035年。"
    assert _compose("规划期是哪一年到哪一年？", "zh", s, "2021—2035年", "date") == "2021—2035年"


def test_one_item_at_the_asked_position():
    s = "中心提供靠前服务、主动服务、优先服务、跟踪服务。"
    whole = "靠前服务、主动服务、优先服务、跟踪服务"
    assert _compose("四种服务方式里排在第一位的是哪一种？", "zh", s, whole, "list") == "靠前服务"
    assert _compose("四种服务方式里最后的一种是什么？", "zh", s, whole, "list") == "跟踪服务"
    assert _compose("Which service approach is listed third?", "en", s, whole, "list") == "优先服务"
    # a position past the end of the list leaves it whole
    assert _compose("排在第六位的是哪一种？", "zh", s, whole, "list") == whole


def test_one_item_the_question_does_not_name():
    s = "采取健全政策、数字监管、统一标识、立法保护等组合拳。"
    whole = "健全政策、数字监管、统一标识、立法保护"
    assert _compose("除了健全政策、数字监管和统一标识，还有哪一招？", "zh", s, whole, "list") == "立法保护"
    assert _compose("健全政策、数字监管、统一标识之外，还有哪一招？", "zh", s, whole, "list") == "立法保护"
    # two items left unnamed: no guess, the list stays
    assert _compose("除了健全政策和数字监管，还有哪些招？", "zh", s, whole, "list") == whole
    # no exclusion and no position: a list question keeps its list
    assert _compose("杭州采取了哪些组合拳？", "zh", s, whole, "list") == whole


def test_an_english_exclusion_is_read_through_the_bridge():
    s = "集快速授权、快速确权、快速维权、导航运用于一体。"
    whole = "快速授权、快速确权、快速维权、导航运用"
    bridge = {"fast": ["快速"], "granting": ["授权"], "confirmation": ["确权"], "enforcement": ["维权"]}
    translate = lambda w: bridge.get(w, [])  # noqa: E731
    assert _compose("Besides fast granting, fast confirmation and fast enforcement, what else is integrated?", "en",
                    s, whole, "list", translate) == "导航运用"
    # without the bridge nothing is known to be named, so nothing is dropped
    assert _compose("Besides fast granting, fast confirmation and fast enforcement, what else is integrated?", "en",
                    s, whole, "list") == whole


def test_cross_validation_scores_the_composed_span():
    gold = "173起，抓获犯罪嫌疑人361名"
    X = np.zeros((2, len(FEATURES)), np.float32)  # base features; the model adds the kind reading
    X[0, FEATURES.index("proximity")] = 1.0  # the first candidate is the pick
    it = Item({"question": "抓了多少人？"}, "zh", 1, [gold], "", X=X, f1=np.array([0.4, 0.0]), texts=["173起", "2023年"],
              signals=np.zeros(len(SIGNALS), np.float32))
    model = AnswerModel(np.zeros(len(EXPANDED), np.float32), np.ones(len(EXPANDED), np.float32),
                        np.eye(len(EXPANDED), dtype=np.float32)[EXPANDED.index("proximity")], 0.0,
                        kinds=fit_kinds(["抓了多少人？", "哪个部门？"], ["zh", "zh"], ["count", "org"]))
    assert shown_f1(it) is it.f1
    assert _top(model, it)[::2] == (0.4, 0.0)  # (F1, EM) of the raw pick
    it.shown_f1, it.shown_texts = np.array([1.0, 0.0]), {0: gold}
    assert _top(model, it)[::2] == (1.0, 1.0)  # of the composed one
    assert it.f1[0] == 0.4  # the ranker still learns the candidate itself


def test_one_item_holding_the_head_noun_a_singular_question_asks_for():
    s = "构建司法审判、多元调解、商事仲裁、行业自律“四位一体”的保护格局。"
    whole = "司法审判、多元调解、商事仲裁、行业自律"
    assert _compose("这个格局里的仲裁是哪种仲裁？", "zh", s, whole, "list") == "商事仲裁"
    # a plural question keeps the list, and so does a head no single item holds
    assert _compose("这个格局包括哪些仲裁和调解？", "zh", s, whole, "list") == whole
    assert _compose("这个格局里是哪种机制？", "zh", s, whole, "list") == whole


def test_respectively_after_a_list_asks_one_figure_per_item():
    q = Question("金额、项目数和企业数分别是多少？", "zh", {})
    assert figures_wanted(q) == 3
    s = "融资金额3098亿元，融资项目1.7万项，惠及企业1.5万家。"
    assert _compose(q.text, "zh", s, "1.5万家", "count") == "3098亿元，融资项目1.7万项，惠及企业1.5万家"
