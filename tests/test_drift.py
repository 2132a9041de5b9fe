"""Corpus growth: many added documents that share a question's generic terms must not
outrank the passage that answers it (bench/distractors.py measures the same at 1,000
documents on the real model). Hashed-bigram vectors, so it runs in seconds."""
import random

from qa.retrieve import FUSION

QUESTION = "2023年宁波全市知识产权质押融资金额是多少？"
ANSWER = "394.11亿元"  # in ningbo-2023-ip-report.md
CITIES = ["临江", "北岭", "南湖", "西山", "东港", "青石", "白沙", "云川"]


def _add_distractors(corpus_dir, n_docs: int = 40, lines: int = 12) -> None:
    """Same-domain, number-dense reports of other cities: the question's own wording, other
    figures, so dense and lexical similarity alone can hardly tell them from the answer."""
    rng = random.Random(0)
    for i in range(n_docs):
        city = CITIES[i % len(CITIES)]
        body = [f"---\ntitle: {city}市第{i}号知识产权简报\ncity: {city}\n---\n# {city}市第{i}号知识产权简报\n"]
        for j in range(lines):
            body.append(f"{city}市第{i}批第{j}号文件：2023年，全市知识产权质押融资金额{rng.randint(10, 999)}."
                        f"{rng.randint(10, 99)}亿元，同比增长{rng.randint(1, 200)}%。")
        (corpus_dir / f"zz-distractor-{i:03d}.md").write_text("\n".join(body) + "\n", encoding="utf-8")


def _answer_rank(engine) -> int | None:
    passages = engine.retrieve(QUESTION, k=10)
    return next((p.rank for p in passages if ANSWER in p.text), None)


def test_keyword_sharing_distractors_do_not_outrank_the_answer(fake_engine):
    fake_engine.build(progress=False)
    assert _answer_rank(fake_engine) == 1
    _add_distractors(fake_engine.settings.corpus_dir)
    fake_engine.build(progress=False)
    top = fake_engine.retrieve(QUESTION, k=3)
    assert any(p.source.startswith("zz-distractor") for p in top), "the distractors should compete"
    assert _answer_rank(fake_engine) == 1, [(p.source, p.text[:40]) for p in top]


def test_the_documents_city_is_an_entity_of_agreement(fake_engine):
    _add_distractors(fake_engine.settings.corpus_dir)
    fake_engine.build(progress=False)
    searcher = fake_engine.searcher()
    # 宁波 is in no CC-CEDICT place entry the place list reads; the front matter's city is
    assert searcher.question_cities(QUESTION, "zh") == {"宁波"}
    assert searcher.question_cities("What was Ningbo's IP pledge financing amount in 2023?", "en") == {"宁波"}
    assert searcher.question_cities("专利授权周期是多久？", "zh") == set()
    pool = searcher.pool(QUESTION, 10)
    conflict = pool.features[:, FUSION.index("city_conflict")]
    agree = pool.features[:, FUSION.index("city_agree")]
    docs = [searcher.index.chunks[int(i)].doc for i in pool.cand]
    assert any(d.startswith("zz-distractor") for d in docs)
    # passages about the other cities conflict with the question, the asked-for city's agree
    assert all(c == 1 and a == 0 for c, a, d in zip(conflict, agree, docs) if d.startswith("zz-distractor"))
    assert all(a == 1 and c == 0 for c, a, d in zip(conflict, agree, docs) if d == "ningbo-2023-ip-report.md")
    # as fitted on the question pool, agreement is worth more than conflict
    w = searcher.weights
    assert w[FUSION.index("city_agree")] > w[FUSION.index("city_conflict")]
