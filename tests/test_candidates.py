"""Candidate generation and question forms, on made-up sentences (no model)."""
import json
import re

import pytest

from conftest import DEV, ROOT
from qa.candidates import DATA, blank_spans, question_heads, question_kind, sentence_spans, wanted_units, \
    written_form
from qa.pool import load_pool


@pytest.mark.parametrize("question,lang,kind", [
    ("全市去年新增了多少家专利示范企业？", "zh", "count"),
    ("这个项目的贷款金额是多少？", "zh", "money"),
    ("该中心是什么时候投入运行的？", "zh", "date"),
    ("审查周期平均要多久？", "zh", "duration"),
    ("出口额同比增长了多少？", "zh", "growth"),
    ("重点支持哪些产业？", "zh", "list"),
    ("这份文件叫什么名字？", "zh", "name"),
    ("在全省排第几？", "zh", "rank"),
    ("By how much did trademark registrations grow last year?", "en", "growth"),
    ("When did the centre open?", "en", "date"),
    ("Which agency approved the plan?", "en", "org"),
    ("How long does a review take?", "en", "duration"),
    ("How many companies took part?", "en", "count"),
    ("What share of cases were settled?", "en", "percent"),
    ("那笔融资的金额大概有多大？", "zh", "money"),
    ("基金带动了多少社会资金？", "zh", "money"),
    ("那个产品叫啥？", "zh", "name"),
    ("How much municipal fiscal money went to the programme?", "en", "money"),
    ("What were the city's royalty earnings in 2021?", "en", "money"),
    # a topic word is not an interrogative form: finance work asked for by name is no amount
    ("The city's IP finance work was selected into which set of typical cases?", "en", "phrase"),
])
def test_question_forms_name_the_answer_kind(question, lang, kind):
    assert question_kind(question, lang) == kind


def test_units_the_question_counts_in():
    assert wanted_units("一共查处了多少起案件？", "zh") == "起"
    assert wanted_units("共有多少家企业参加？", "zh") == "家"
    assert "家" in wanted_units("How many companies benefited?", "en")
    assert "人" in wanted_units("How many people were trained?", "en")
    assert wanted_units("What was the total?", "en") == ""


def test_question_heads():
    assert "审判庭" in question_heads("新设了哪个巡回审判庭？", "zh")
    assert question_heads("Which mechanism was built?", "en", lambda w: {"mechanism": ["机制"]}.get(w, [])) == {"机制"}


def _spans(sentence):
    return {(sentence[s.a:s.b], s.kind) for s in sentence_spans(sentence)}


def test_typed_candidates_from_a_sentence():
    s = "2022年全市专利授权量达到3.5万件，同比增长12.3%，平均审查周期从18个月缩短到6个月。"
    got = _spans(s)
    for want in [("2022年", "date"), ("3.5万件", "count"), ("12.3%", "percent"), ("18个月", "duration"),
                 ("6个月", "duration")]:
        assert want in got


def test_ranges_names_lists_and_heads():
    got = _spans("审查时间压缩到3个月至6个月。")
    assert ("3个月至6个月", "duration") in got
    got = _spans("市政府印发《专利转化运用管理办法》，重点支持新材料、生物医药和高端装备等产业。")
    assert ("专利转化运用管理办法", "name") in got
    assert ("新材料、生物医药和高端装备", "list") in got
    got = _spans("两地建立了快速协同保护机制，由市市场监管局牵头。")
    assert any(t == "快速协同保护机制" for t, _ in got)
    assert any(t.endswith("市场监管局") and k == "org" for t, k in got)


def test_qualified_figures_verb_lists_pairs_and_quote_runs():
    got = _spans("发布了2.5万余项标准和3万多项规范，规模超过300万元，办案周期三周左右。")
    for want in [("2.5万余项", "count"), ("3万多项", "count"), ("超过300万元", "money"), ("300万元", "money"),
                 ("三周左右", "duration"), ("三周", "duration")]:
        assert want in got
    got = _spans("建立快速受理、快速审查的工作机制。")
    assert ("快速受理、快速审查", "list") in got
    assert ("快速受理、快速审查的工作机制", "list") not in got  # a list stops at 的
    got = _spans("以新材料、智能装备等产业为重点。")
    assert ("新材料、智能装备", "list") in got and ("新材料、智能装备等产业", "list") not in got
    got = _spans("中心对实用新型和外观设计专利开展预审。")
    assert ("实用新型和外观设计", "list") in got
    got = _spans("侦破“甲牌”“乙牌”等侵权案件。")
    assert ("“甲牌”“乙牌”", "list") in got


def test_blank_spans_stand_where_the_interrogative_stands():
    def blanks(sentence, question):
        i = question.index("什么")
        return {sentence[s.a:s.b] for s in blank_spans(sentence, question[:i], question[i + 2:])}

    s = "该中心将提供全链条服务，促进科研成果转移转化，服务地方经济。"
    assert "科研成果转移转化" in blanks(s, "该中心还要促进什么？")  # after the words before the blank
    s = "推动本市从商标使用大城向品牌培育强市转变。"
    assert "品牌培育强市" in blanks(s, "要推动本市从商标使用大城向什么转变？")  # between the words either side
    s = "以新材料、智能装备等产业为重点。"
    assert "新材料、智能装备" in blanks(s, "试点以什么产业为重点？")  # up to the words after it
    assert not blanks("全年受理案件120件。", "该中心还要促进什么？")  # neither side in the sentence


def test_spoken_interrogatives_read_as_written():
    assert written_form("那个产品叫啥？") == "那个产品叫什么？"
    assert written_form("为啥要设立基金？") == "为什么要设立基金？"
    assert written_form("这个产品有啥用？") == "这个产品有什么用？"


def test_candidates_are_offsets_into_the_sentence():
    s = "截至2023年底，全国共建成保护中心67家、快速维权中心35家。"
    for sp in sentence_spans(s):
        assert 0 <= sp.a < sp.b <= len(s)


INTERROGATIVE = re.compile(r"什么|多少|几|哪|谁|何|怎|多长|多久|多大")


def _documents_text() -> str:
    from qa.pool import THIRD_PARTY
    texts = [p.read_text(encoding="utf-8") for p in (ROOT / "corpus").glob("*.md")]
    texts += [p.read_text(encoding="utf-8") for p in THIRD_PARTY.glob("*.txt")]
    return "".join(texts)


def test_no_rule_names_a_phrase_from_one_question():
    """Chinese runs in the answer code and tables that occur in a pool or dev question
    but in no document are question wording, unless they are interrogative forms
    (什么时候, 多长时间): those are what the forms table is for."""
    questions = [r["question"] for r in load_pool()]
    questions += [json.loads(line)["question"] for line in DEV.read_text(encoding="utf-8").splitlines() if line]
    docs = _documents_text()
    sources = [DATA] + sorted((ROOT / "qa").glob("*.py"))
    hits = set()
    for path in sources:
        for run in re.findall(r"[\u4e00-\u9fff]{4,}", path.read_text(encoding="utf-8")):
            if run not in docs and not INTERROGATIVE.search(run) and any(run in q for q in questions):
                hits.add((path.name, run))
    assert not hits, hits
