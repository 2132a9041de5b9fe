"""The question pool and cross-validation: folds by document, fitting only on training folds."""
import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from conftest import DEV, ROOT
from qa import cv
from qa.evaluation import load_gold, squash
from qa.pool import POOL_DIR, THIRD_PARTY, is_pool_file, load_pool, pool_questions, resolve
from qa.ranker import FEATURES, INDEX
from qa.reader import SIGNALS


def test_the_pool_covers_every_document_and_kind():
    rows = load_pool()
    assert len(rows) >= 300
    by_doc = Counter(r["doc"] for r in rows)
    assert len(by_doc) == 11 and min(by_doc.values()) >= 15
    assert sum(r["lang"] == "en" for r in rows) / len(rows) >= 0.4
    assert sum(r["type"] == "unanswerable" for r in rows) >= 30
    kinds = {r["kind"] for r in rows}
    assert kinds >= {"count", "money", "duration", "date", "percent", "growth", "rank", "name", "list",
                     "org", "phrase"}
    assert {r.get("style") for r in rows} >= {"reworded", "colloquial"}


def test_no_pool_question_is_a_dev_question():
    # dev.jsonl is for reporting only: a question the models are fitted on must not be one it reports
    dev = {squash(r["question"]) for r in load_gold(DEV)}
    assert dev and not [q for q in pool_questions() if squash(q) in dev]


def test_unseen_batches_are_valid_and_in_no_fit():
    # eval/unseen/ judges the shipped models: its rows must load, and be neither pool nor dev questions
    batches = sorted((ROOT / "eval" / "unseen").glob("*.jsonl"))
    assert batches
    rows = load_pool(batches)
    fitted = {squash(q) for q in pool_questions()} | {squash(r["question"]) for r in load_gold(DEV)}
    assert not [r["id"] for r in rows if squash(r["question"]) in fitted]
    assert not {r["id"] for r in rows} & {r["id"] for r in load_pool()}


def test_third_party_rows_store_offsets_not_text():
    for path in POOL_DIR.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["doc"].startswith("third-party/"):
                assert not {"answer", "evidence", "alt_answers", "alt_evidence"} & set(row), row["id"]
    rows = [r for r in load_pool() if r["doc"].startswith("third-party/") and r["answer"]]
    text = (THIRD_PARTY / rows[0]["doc"].split("/", 1)[1]).read_text(encoding="utf-8")
    a, b = rows[0]["answer_span"]
    assert text[a:b] == rows[0]["answer"]


def test_pool_style_files_are_told_from_dev_style_ones(tmp_path):
    assert not is_pool_file(DEV)  # seeds only, evidence quoted: the served index answers it
    assert all(is_pool_file(p) for p in sorted((ROOT / "eval" / "unseen").glob("*.jsonl")))
    one = tmp_path / "one.jsonl"
    one.write_text('not json\n{"question": "q", "doc": "ningbo-ip-complex.md", "answer_span": [0, 2]}\n',
                   encoding="utf-8")
    assert is_pool_file(one)


def test_eval_says_what_is_wrong_with_a_pool_style_file(tmp_path, capsys):
    from qa.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "question": "q", "lang": "zh", "type": "number", "kind": "count",
                               "doc": "third-party/sanya_ppc_acceptance_news.txt", "answer": "quoted"}) + "\n",
                   encoding="utf-8")
    assert main(["eval", str(bad)]) == 2
    assert "offsets" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing.jsonl")]) == 2


def test_bad_rows_are_refused():
    good = {"id": "x", "question": "q", "lang": "zh", "type": "number", "kind": "count",
            "doc": "ningbo-ip-complex.md", "answer": "不存在的答案", "evidence": "不存在的答案证据"}
    with pytest.raises(ValueError, match="not in"):
        resolve(good, {})
    with pytest.raises(ValueError, match="offsets"):
        resolve({**good, "doc": "third-party/sanya_ppc_acceptance_news.txt"}, {})


def test_unanswerable_rows_may_leave_the_answer_out():
    row = {"id": "u", "question": "宁波有多少家银牌企业？", "lang": "zh", "type": "unanswerable", "kind": "none",
           "doc": "ningbo-ip-complex.md"}
    out = resolve(row, {})
    assert out["answer"] == "" and out["evidence"] == ""
    with pytest.raises(ValueError, match="unanswerable rows"):
        resolve({**row, "type": "number", "kind": "count"}, {})  # an answerable row without one


def test_folds_keep_documents_whole_and_balanced():
    rows = load_pool()
    fold_of = cv.folds(rows)
    assert set(fold_of) == {r["doc"] for r in rows}
    sizes = Counter(fold_of[r["doc"]] for r in rows)
    assert len(sizes) == cv.N_FOLDS and max(sizes.values()) <= 2.2 * min(sizes.values())


def test_folds_keep_pinned_documents_where_they_are():
    rows = [{"doc": d} for d, n in (("a", 50), ("b", 40), ("c", 30), ("d", 5)) for _ in range(n)]
    free = cv.folds(rows, n=2, pinned={})
    assert free == {"a": 0, "b": 1, "c": 1, "d": 0}
    # a pinned document stays put however the counts move; the rest fill the lighter fold
    assert cv.folds(rows, n=2, pinned={"c": 0, "x": 1}) == {"c": 0, "a": 1, "b": 0, "d": 1}
    assert cv.folds(load_pool()) == cv.pinned_folds()  # every pool document is pinned


def _item(doc, rng, flip=False):
    """A made-up question: 12 candidates, the right one marked by its proximity (or, in flipped
    documents, by its clause cover), so a model fitted on other documents fails on flipped ones."""
    X = rng.normal(size=(12, len(FEATURES))).astype(np.float32)
    X[:, :11] = 0
    X[:, 0] = 1  # all one candidate kind
    right = rng.integers(12)
    X[right, INDEX["clause_cover" if flip else "proximity"]] += 6.0
    f1 = np.zeros(12)
    f1[right] = 1.0
    row = {"doc": doc, "question": "多少件？", "kind": "count", "lang": "zh", "id": f"{doc}-{right}"}
    return cv.Item(row, "zh", 1, ["1件"], "", X, f1, [str(i) for i in range(12)],
                   np.zeros(len(SIGNALS), np.float32))


@pytest.mark.parametrize("extra", [["--cv"], ["--save"], ["gold.jsonl"]])
def test_recalibrate_refuses_other_eval_arguments(extra, capsys):
    from qa.cli import main
    with pytest.raises(SystemExit, match="--recalibrate refits on the question pool"):
        main(["eval", "--recalibrate", *extra])


def test_recalibration_keeps_the_ranker_and_refits_what_the_confidence_reads():
    from qa.ranker import CALIBRATION, TEMPERATURES, AnswerModel
    rng = np.random.default_rng(5)
    items = [_item(f"d{i}", rng) for i in range(10) for _ in range(12)]
    folds = [i // 12 % 5 for i in range(len(items))]
    model = cv.fit_answer_model(items, folds)
    d = model.to_json()
    d["calibration"] = CALIBRATION[:7]  # written before the confidence read more
    with pytest.raises(ValueError, match="recalibrate"):
        AnswerModel.from_json(d)
    ranker = AnswerModel.from_json(d, ranker_only=True)
    assert ranker.calib is None and ranker.abstain is None
    again = cv.calibrate(ranker, items, folds)
    assert np.allclose(again.coef, model.coef) and len(again.calib.coef) == len(CALIBRATION)
    assert ranker.temperature == 0 and again.temperature in TEMPERATURES  # chosen again, on inner folds
    assert 0 < again.threshold <= 1
    right = np.mean([it.f1[cv._pick(again, it).i] >= cv.CORRECT_F1 for it in items])
    conf = np.mean([again.confidence(cv._pick(again, it)) for it in items])
    assert right > 0.8 and abs(conf - right) < 0.1


def test_recall_counts_the_passages_in_the_order_ask_shows_them():
    rng = np.random.default_rng(1)
    items = [_item(f"d{i}", rng) for i in range(10) for _ in range(12)]
    model = cv.fit_answer_model(items, [i // 12 % 5 for i in range(len(items))])
    it = items[0]
    i = cv._pick(model, it).i
    it.hits, it.passage = [True, False, True, False], np.zeros(len(it.X), int)
    it.passage[i] = 2  # the pick was read from the third passage, which holds the evidence
    assert cv.shown_rank(model, it) == 1
    it.hits = [False, True, False, False]  # it does not: the retrieval order shifts down by one
    assert cv.shown_rank(model, it) == 3
    it.passage[i] = 0
    assert cv.shown_rank(model, it) == 2
    it.hits = []  # collected without hits: the retrieval rank stands
    assert cv.shown_rank(model, it) == it.rank


def test_held_out_folds_are_judged_by_a_model_that_never_saw_them():
    rng = np.random.default_rng(0)
    docs = [f"d{i}" for i in range(10)]
    items = [_item(d, rng, flip=(d == "d0")) for d in docs for _ in range(12)]
    rep = cv.cross_validate(items)
    held_d0 = next(pf for pf in rep.per_fold if "d0" in pf["docs"])
    others = [pf for pf in rep.per_fold if "d0" not in pf["docs"]]
    assert all(pf["held"]["F1"] > 0.8 for pf in others)
    assert held_d0["held"]["F1"] < min(pf["held"]["F1"] for pf in others)
    assert "ECE" in cv.format_cv(rep)


@pytest.mark.slow
def test_cv_command_prints_training_and_held_out_numbers(tmp_path):
    env = {**os.environ, "QA_INDEX_DIR": str(tmp_path / "index"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "qa.cli", "eval", "--cv", "--json"], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=1500)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    held, train = report["held_out"], report["train"]
    assert held["n"] >= 250 and held["unanswerable"] >= 30
    assert held["R@5"] >= 0.9 and held["R@1"] >= 0.8
    assert abs(train["R@1"] - held["R@1"]) <= 0.05
    assert 0 <= report["ece"] <= 0.2
    assert len(report["per_fold"]) == 5
    # a pool-style file (third-party rows as offsets) is asked over the evaluation index just built
    batch = sorted((ROOT / "eval" / "unseen").glob("*.jsonl"))[0]
    rows = load_pool([batch])
    out = subprocess.run([sys.executable, "-m", "qa.cli", "eval", str(batch), "--json"], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    answerable = [r for r in rows if r["answer"]]
    assert report["overall"]["n"] == len(answerable) and report["overall"]["R@5"] >= 0.9
    assert report["abstention"]["unanswerable"] == len(rows) - len(answerable)
    kinds = report["answer"]["F1_by"]
    assert {f"kind={r['kind']}" for r in answerable} | {"lang=en", "lang=zh"} == set(kinds)
    assert sum(v["n"] for k, v in kinds.items() if k.startswith("lang=")) == len(answerable)


def test_the_evaluation_corpus_is_made_again_when_the_ingest_code_changes(fake_engine, monkeypatch):
    from fakes import HashEncoder

    from qa.pipeline import Engine

    added = []
    real_add = cv.add_files

    def counting_add(engine, paths, **kw):
        added.append(len(paths))
        return real_add(engine, paths, **kw)

    monkeypatch.setattr(cv, "Engine", lambda settings: Engine(settings, encoder=HashEncoder()))
    monkeypatch.setattr(cv, "add_files", counting_add)
    base = fake_engine.settings
    cv.eval_engine(base)
    cv.eval_engine(base)  # the copies are current: nothing is added again
    assert added == [len(list(THIRD_PARTY.glob("*.txt")))]
    monkeypatch.setattr(cv, "_ingest_fingerprint", lambda: "other ingest code")
    engine = cv.eval_engine(base)
    assert len(added) == 2
    assert len(list(engine.settings.corpus_dir.glob("*.md"))) == 3 + added[0]


def test_span_models_held_out_the_folds_the_cross_validation_holds_out():
    import json
    from qa.spans import CV_META
    fitted = json.loads(CV_META.read_text(encoding="utf-8"))["folds"]
    cv.check_span_folds(cv.folds(load_pool()), fitted)  # the shipped fits match today's pool
    moved = {**fitted, "ningbo-ip-complex.md": (fitted["ningbo-ip-complex.md"] + 1) % cv.N_FOLDS}
    with pytest.raises(RuntimeError, match="ningbo-ip-complex.md"):
        cv.check_span_folds(moved, fitted)


def test_a_span_shown_for_an_unanswerable_question_counts_as_a_wrong_one():
    rng = np.random.default_rng(3)
    items = [_item(f"d{i}", rng) for i in range(10) for _ in range(12)]
    folds = [i // 12 % 5 for i in range(len(items))]
    model = cv.fit_answer_model(items, folds)
    model.abstain = None  # nothing tells these unanswerable ones apart: they look answerable
    una = [cv.Item({**it.row, "id": it.row["id"] + "-u"}, "zh", None, [], "", it.X, np.zeros(12), it.texts,
                   it.signals) for it in items[:24]]
    alone, mixed = cv.score(items, model), cv.score(items + una, model)
    shown = round(alone["shown coverage"] * alone["n"])
    assert shown and mixed["shown precision"] == alone["shown precision"]  # answerable ones only
    una_shown = round(mixed["unanswerable shown"] * len(una))
    assert una_shown > 0
    assert mixed["shown precision (all)"] == pytest.approx(
        alone["shown precision"] * shown / (shown + una_shown))
    assert alone["shown precision (all)"] == alone["shown precision"]


def test_eval_counts_an_answer_shown_to_an_unanswerable_question_as_wrong():
    from qa.evaluation import evaluate, format_report
    from qa.schema import Answer, Passage

    class Shows:  # shows 12件 as the answer to everything
        def ask(self, question, k=10):
            p = Passage("去年受理12件。", 1.0, 1, "a.md", "", "", 0, 7)
            return Answer(question, "12件", "去年受理12件。", p, [p], 0.95, status="answer", span="12件")

    rows = [{"question": "受理多少件？", "answer": "12件", "evidence": "受理12件"},
            {"question": "驳回多少件？", "answer": "", "evidence": ""}]
    report = evaluate(Shows(), rows)
    assert report["answer"]["shown_precision"] == 1.0
    assert report["answer"]["unanswerable_shown"] == 1 and report["answer"]["shown_precision_all"] == 0.5
    assert "also shown for 1/1 unanswerable: 0.500 of all shown right" in format_report(report)
