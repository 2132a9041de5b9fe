"""qa.ingest.normalize: ingested text is NFKC (but for Chinese punctuation and number forms)
without PDF spacing, before it is written, so offsets index the stored corpus file exactly.
No model: the pipeline tests run on hashed-bigram vectors."""
import pytest

from qa import chunking, corpus
from qa.evaluation import evidence_of, first_hit, squash
from qa.ingest import add_files, convert
from qa.ingest.normalize import KEEP, fold, normalize_text
from qa.ranker import load_model
from qa.reader import read, sentences_of
from qa.retrieve import clean_question
from qa.settings import Settings

# what pypdf hands back from a typeset Chinese report: a Kangxi radical for 金, a CJK
# compatibility ideograph (U+F9B2 for 零), full-width digits and letters, a ligature, and
# spaces from glyph positions
PDF_TEXT = ("⾦华市知识产权发展报告\n\n"
            "（一）截至 ２０２３ 年底，⾦ 华 市 有效发明专利 １２３４５ 件；同比增长 ８.５％。\n"
            "⾦华市 ＰＣＴ 国际专利申请 ６７８ 件，\uf9b2星企业的 ﬁling 服务也已开通！\n")


@pytest.mark.parametrize("raw, want", [
    ("⾦华", "金华"),  # Kangxi radical U+2FA6
    ("\uf9b2", "零"),  # CJK compatibility ideograph
    ("２０２３年", "2023年"),  # full-width digits
    ("ＰＣＴ申请", "PCT申请"),  # full-width letters
    ("ﬁling", "filing"),  # ligature
    ("100\u00a0件", "100件"),  # no-break space -> space -> dropped inside CJK text
])
def test_compatibility_forms_become_what_a_question_types(raw, want):
    assert normalize_text(raw) == want


@pytest.mark.parametrize("ch", sorted(KEEP))
def test_chinese_punctuation_is_kept(ch):
    assert normalize_text(f"专利{ch}商标") == f"专利{ch}商标"


def test_number_forms_are_kept():
    # NFKC would write other numbers: 10⁴ -> 104, ①2023 -> 12023
    text = "10⁴件，m²，CO₂，①2023年，½"
    assert normalize_text(text) == text


@pytest.mark.parametrize("raw, want", [
    ("截至 2023 年", "截至2023年"),  # digit and CJK, both sides
    ("知 识\t产 权", "知识产权"),  # between CJK characters
    ("共 394.11 亿元。 其中", "共394.11亿元。其中"),  # beside CJK punctuation too
    ("PCT 国际申请 and WIPO", "PCT 国际申请 and WIPO"),  # Latin words keep their spaces
    ("2023 2024", "2023 2024"),  # between two numbers: the space separates them
    ("专利\n2023 年\n\n商标", "专利\n2023年\n\n商标"),  # line breaks are structure, never removed
    ("  缩进", "  缩进"),  # indentation has nothing before it
])
def test_only_spacing_inside_cjk_text_is_removed(raw, want):
    assert normalize_text(raw) == want


def test_normalising_twice_changes_nothing():
    once = normalize_text(PDF_TEXT)
    assert once != PDF_TEXT and normalize_text(once) == once


def test_combining_accents_still_compose_beside_a_kept_character():
    assert normalize_text("cafe\u0301，①e\u0301") == "café，①é"


def test_kept_semicolon_still_ends_a_sentence():
    # the reason ； is kept: NFKC's ASCII ; is not a sentence end for the chunker
    text = normalize_text("专利授权量为100件；商标注册量为200件")
    assert len(chunking.split_sentences(text)) == 2


def test_a_normalised_question_is_found_verbatim_in_the_normalised_text():
    question = clean_question("⾦华市有效发明专利12345件是哪年的数？", 1000)
    assert question.startswith("金华市有效发明专利12345件")
    assert question[:14] in normalize_text(PDF_TEXT) and question[:14] not in PDF_TEXT


def test_evaluation_folds_both_sides_of_an_evidence_match():
    # a third-party span quotes the raw file; the corpus holds the normalised text
    row = {"evidence": "截至 ２０２３ 年底，⾦ 华 市"}
    passages = ["无关的段落。", normalize_text(PDF_TEXT)]
    assert first_hit(passages, evidence_of(row)) == 2
    assert squash("⾦ 华") == squash("金华") == "金华" and fold("１，０") == "1，0"


@pytest.fixture
def pdf_like(monkeypatch, tmp_path):
    """A .pdf whose extraction yields PDF_TEXT (and a metadata title with a Kangxi radical)."""
    monkeypatch.setitem(convert.CONVERTERS, ".pdf",
                        ("pdf", lambda data, display, progress: (PDF_TEXT, "⾦华 ２０２３ 报告", {})))
    path = tmp_path / "jinhua.pdf"
    path.write_bytes(b"%PDF-1.4 stand-in")
    return path


def test_converted_body_and_title_are_normalised(pdf_like, tmp_path):
    doc = convert.convert_file(pdf_like, Settings.from_env(index_dir=tmp_path / "index"))
    assert doc.title == "金华2023报告"
    assert "⾦" not in doc.body and "２" not in doc.body and "\uf9b2" not in doc.body
    assert "截至2023年底，金华市有效发明专利12345件；同比增长8.5%。" in doc.body
    assert "PCT 国际专利申请678件，零星企业的 filing 服务也已开通！" in doc.body


def test_offsets_index_the_stored_file_exactly(fake_engine, pdf_like):
    corpus_dir = fake_engine.settings.corpus_dir
    seeds = {p.name: p.read_bytes() for p in corpus_dir.glob("*.md")}
    [res] = add_files(fake_engine, [pdf_like], progress=False)
    assert res.ok, res.message
    [stored_path] = [p for p in corpus_dir.glob("*.md") if p.name not in seeds]
    stored = stored_path.read_text(encoding="utf-8")
    assert "⾦" not in stored and "金华市有效发明专利12345件" in stored
    # the seed documents are read as they are, never rewritten
    assert {p.name: p.read_bytes() for p in corpus_dir.glob("*.md") if p.name in seeds} == seeds

    chunks = chunking.chunk_document(corpus.load_document(stored_path))
    assert chunks and all(stored[c.start:c.end] == c.text for c in chunks)
    passages = [p for p in fake_engine.retrieve("⾦华市有效发明专利有多少件？", k=5) if p.source == stored_path.name]
    assert passages and all(stored[p.start:p.end] == p.text for p in passages)
    # the answer stage as Engine.ask runs it (ask itself abstains on hashed-bigram scores)
    out = fake_engine.inspect("⾦华市 ２０２３ 年有效发明专利有多少件？")
    sents = sentences_of(out.passages, [p.score for p in out.passages], fake_engine.searcher().texts,
                         out.sentence_sim)
    r = read(load_model(), out.question, sents)
    assert r.sentence.doc == stored_path.name and "12345" in r.text
    assert stored[r.start:r.end] == r.text and stored[r.sentence.start:r.sentence.end] == r.sentence.text
