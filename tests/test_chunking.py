from qa.chunking import chunk_corpus, chunk_document, sections, split_sentences
from qa.corpus import Document, load_corpus
from qa.settings import Settings


def doc(body: str, name="t.md") -> Document:
    return Document(name=name, path=None, text=body, body_start=0, meta={"title": "T"})


def test_decimals_and_units_are_never_split():
    text = "平均授权周期从22个月缩短到75.5天。有效发明专利拥有量12.28万件，居第一位。Version 2.0 ships. Next one."
    sents = [text[s.start:s.end] for s in split_sentences(text)]
    assert sents[0] == "平均授权周期从22个月缩短到75.5天。"
    assert sents[1] == "有效发明专利拥有量12.28万件，居第一位。"
    assert sents[2] == "Version 2.0 ships."
    assert sents[3] == "Next one."


def test_sentence_ends_keep_closing_quotes_and_semicolons():
    text = "他说：“好。”然后走了；再见！"
    sents = [text[s.start:s.end] for s in split_sentences(text)]
    assert sents == ["他说：“好。”", "然后走了；", "再见！"]


def test_offsets_map_back_to_exact_text_on_real_corpus():
    docs = load_corpus(Settings().corpus_dir)
    assert len(docs) == 3
    chunks = chunk_corpus(docs, 200, 60)
    by_name = {d.name: d for d in docs}
    for c in chunks:
        source = by_name[c.doc].path.read_text(encoding="utf-8")
        assert source[c.start:c.end] == c.text
        assert c.text.strip() == c.text and c.text
    assert any("75.5天" in c.text for c in chunks)
    assert not any(c.text.endswith("75.") for c in chunks)


def test_size_and_overlap_are_respected():
    body = "".join(f"第{i}句话讲了一些关于知识产权的事情。" for i in range(40))
    small = chunk_document(doc(body), size=60, overlap=20)
    big = chunk_document(doc(body), size=200, overlap=0)
    assert all(len(c.text) <= 60 for c in small)
    assert len(small) > len(big)
    # with overlap, consecutive windows share their boundary sentence
    assert small[1].start < small[0].end
    assert all(b.start >= a.end for a, b in zip(big, big[1:]))


def test_long_sentence_is_cut_without_breaking_numbers():
    body = "数字" + "，".join(["12.28万件"] * 60) + "。"
    chunks = chunk_document(doc(body), size=50, overlap=0)
    assert all(len(c.text) <= 50 for c in chunks)
    for c in chunks:
        assert not c.text.endswith(("12.", "12.2")), c.text


def test_sections_carry_heading_path():
    body = "# Title\n\nintro。\n\n## 一 总体\n\n### （一）专利\n\n专利很多。\n\n## 二 保护\n\n保护加强。\n"
    labels = [label for label, _, _ in sections(doc(body))]
    assert labels == ["", "一 总体 › （一）专利", "二 保护"]
    chunks = chunk_document(doc(body), 200, 0)
    assert [c.section for c in chunks] == ["", "一 总体 › （一）专利", "二 保护"]


def test_clause_spans_are_the_clauses_the_answer_stage_cuts():
    from qa.candidates import forms
    from qa.chunking import clause_spans, sentence_spans
    from qa.ranker import clause_ranges

    d = doc("宁波授权发明专利9372件，同比增长14.4%：新授权专利64110件。一句话没有逗号。")
    marks = forms()["clause_marks"]
    got = [(s.start, s.end) for s in clause_spans(d, marks)]
    # the first sentence has three clauses; the second has one and adds no rows
    assert [d.text[a:b] for a, b in got] == ["宁波授权发明专利9372件", "同比增长14.4%", "新授权专利64110件"]
    for s in sentence_spans(d):
        want = [(s.start + lo, s.start + hi) for lo, hi in clause_ranges(d.text[s.start:s.end]) if hi - lo >= 2]
        assert [g for g in got if s.start <= g[0] < s.end] == (want if len(want) >= 2 else [])
