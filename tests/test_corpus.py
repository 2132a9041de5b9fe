from qa.corpus import load_document, normalise, render, split_articles, split_front_matter


def test_broken_line_join_is_repaired_without_rewording():
    raw = ("2022年，杭州市通过深化知识产权放管服改革，扎实推进5项营商环境\n\n"
           "境创新牵头试点任务和27项重点改革举措。\n\n## 四、标题\n\n短行\n\n下一段。\n")
    out = normalise(raw)
    assert "扎实推进5项营商环境创新牵头试点任务" in out
    assert "## 四、标题\n\n短行\n\n下一段。" in out  # headings and short lines stay apart


def test_new_paragraph_starting_with_a_year_is_not_joined():
    raw = "在实现全覆盖的基础上，为了积极对接特色产业发展需要而设立的工作\n\n2023年，全市知识产权系统坚持。\n"
    assert "工作\n\n2023年" in normalise(raw)


def test_front_matter_round_trip(tmp_path):
    path = tmp_path / "a.md"
    path.write_text(render({"title": "宁波报告", "city": "宁波"}, "# 宁波报告\n\n正文。\n"), encoding="utf-8")
    doc = load_document(path)
    assert doc.title == "宁波报告" and doc.city == "宁波"
    assert doc.text[doc.body_start:].startswith("# 宁波报告")
    assert split_front_matter("no front matter") == ({}, 0)


def test_kicker_line_goes_with_the_next_article():
    text = "# 第一篇\n\n正文一。\n\n短引题一行\n\n# 第二篇\n\n正文二。\n"
    parts = split_articles(text)
    assert len(parts) == 2
    assert parts[1].startswith("短引题一行")


def test_the_city_of_a_title_is_below_the_country():
    from qa.corpus import place_in

    assert place_in("中国（三亚）知识产权保护中心通过验收") == "三亚"
    assert place_in("中国(三亚)知识产权保护中心") == "三亚"
    assert place_in("宁波市2023年知识产权发展与保护状况") == "宁波"
    assert place_in("中国知识产权报") == ""
