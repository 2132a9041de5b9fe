"""The answer extractor on hand-made passages: each answer kind, in Chinese
and English questions. No model needed: the terms are given directly."""
import pytest

from qa.answer import abstain_reason, answer_type, extract, fill_blank, wanted_units
from qa.retrieve import Passage

DOC = "doc.md"


def run(question, lang, text, terms, kind_check=None):
    passage = Passage(text=text, score=1.0, rank=1, source=DOC, title="T", section="", start=0, end=len(text))
    if kind_check:
        assert answer_type(question, lang) == kind_check
    found = extract(question, lang, [passage], {DOC: text}, terms)
    if found is None:
        found = fill_blank(question, lang, [passage], {DOC: text}, terms)
    assert found is not None
    assert text[found.start:found.end] == found.text  # an exact substring of the source
    s0, s1 = found.sentence
    assert s0 <= found.start and found.end <= s1
    return found.text


@pytest.mark.parametrize("question,lang,kind,terms,expected", [
    ("2023年宁波新增专利授权多少件？", "zh", "count", {"新增": 2, "专利": 1, "授权": 2}, "64110件"),
    ("How many invention patents were granted?", "en", "count", {"发明专利": 2}, "9372件"),
    ("宁波知识产权综合体是什么时候启动建设的？", "zh", "date", {"启动": 2, "建设": 1}, "2020年11月"),
    ("When did construction of the complex start?", "en", "date", {"启动": 2, "建设": 1}, "2020年11月"),
    ("平均授权周期多长时间？", "zh", "duration", {"平均": 1, "授权": 1, "周期": 2}, "75.5天"),
    ("how long is the average patent grant cycle?", "en", "duration", {"平均": 1, "周期": 2}, "75.5天"),
    ("Before the fast track, how long was the grant cycle?", "en", "duration", {"周期": 2}, "22个月"),
    ("发明专利授权率提升到多少比例？", "zh", "percent", {"授权率": 2, "提升": 1}, "86%"),
    ("What share of costs can be subsidised at most?", "en", "percent", {"最高": 2, "补助": 2}, "20%"),
    ("2022年质押登记金额是多少？", "zh", "money", {"质押": 2, "登记": 1, "金额": 2}, "164.88亿元"),
    ("What was the pledge amount?", "en", "money", {"质押": 2, "金额": 2}, "164.88亿元"),
    ("排名第几？", "zh", "rank", {"考核": 2}, "第2名"),
    ("宁波出台的地方标准叫什么？", "zh", "name", {"地方标准": 2, "出台": 1}, "《专利预审申请规范》"),
    ("What is the name of the loan product?", "en", "name", {"推出": 2, "产品": 2}, "甬知E贷"),
    ("公安机关开展了哪几项专项行动？", "zh", "list", {"公安机关": 2, "专项行动": 2}, "深蓝、昆仑、剑锋"),
    ("Which two countries host the stations?", "en", "list", {"观察站": 2}, "美国、德国"),
    ("Which Ningbo company said so?", "en", "org", {"宁波": 1, "介绍": 1}, "宁波松科磁材有限公司"),
])
def test_each_answer_kind(question, lang, kind, terms, expected):
    text = {
        "count": "2023年，新增专利授权64110件，其中，发明专利9372件。",
        "date": "2020年11月，宁波启动综合体建设。",
        "duration": "借助快速通道，平均授权周期从22个月缩短到75.5天。",
        "percent": "发明专利授权率从40%提升至86%。企业可获得最高不超过20%的经费补助。",
        "money": "2022年办理质押登记1589件、金额164.88亿元，惠及企业632家。",
        "rank": "宁波获2022年度全国绩效考核第2名的佳绩。",
        "name": "宁波出台全省首个《专利预审申请规范》地方标准。创新推出“甬知E贷”产品。",
        "list": "全市公安机关深入开展深蓝、昆仑、剑锋专项行动。持续推进美国、德国2个海外知识产权观察站建设。",
        "org": "“我们很满意。”宁波松科磁材有限公司负责人向服务小组介绍。",
    }[kind]
    assert run(question, lang, text, terms, kind_check=kind) == expected


def test_counted_noun_named_by_the_question_is_kept():
    text = "汇集行政、司法、仲裁等12个部门，9类服务机构。"
    assert run("How many departments are brought together?", "en", text, {"部门": 2, "仲裁": 1}) == "12个部门"


def test_unit_asked_for_beats_a_closer_number():
    assert wanted_units("一共拦下了多少件货品？", "zh") == "件"
    assert "家" in wanted_units("How many companies benefited?", "en")
    text = "共查扣侵权货物865批次、2130.8万件，案值6464.9万元。"
    assert run("一共拦下了多少件货品？", "zh", text, {"查扣": 1, "货物": 2}) == "2130.8万件"


def test_fill_in_the_blank_for_open_chinese_questions():
    text = "知识产权交易系统提升交易服务效率、专利开放许可试点推动高校知识产权成果走出“象牙塔”。"
    terms = {"试点": 1, "推动": 1, "高校": 2, "成果": 1, "走出": 1}
    assert run("杭州用什么试点推动高校知识产权成果走出“象牙塔”？", "zh", text, terms) == "专利开放许可试点"


def test_abstention_reasons():
    corpus = "2019年以来的数据；2022年和2023年的数据"
    found = object()
    assert "2024" in abstain_reason("What was the amount in 2024?", corpus, "money", found, [], 1.0)
    assert abstain_reason("2023年的金额？", corpus, "money", found, [], 1.0, context="2023年金额") == ""
    # 2019 is in the corpus, but not where the answer was found
    assert "2019" in abstain_reason("2019年的金额？", corpus, "money", found, [], 1.0, context="2023年金额")
    assert "上海" in abstain_reason("上海市的数量？", corpus, "count", found, ["上海"], 1.0)
    assert "key words" in abstain_reason("how do I bake bread?", corpus, "span", found, [], 0.0)
    assert abstain_reason("宁波的地址？", corpus, "address", None, [], 1.0)


def test_no_typed_candidate_means_no_answer():
    text = "宁波知识产权综合体建成10个中心。"
    passage = Passage(text=text, score=1.0, rank=1, source=DOC, title="T", section="", start=0, end=len(text))
    assert extract("综合体的办公地址在哪条路上？", "zh", [passage], {DOC: text}, {"综合体": 1}) is None
