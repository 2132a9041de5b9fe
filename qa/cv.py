"""Cross-validation over the question pool: fit on some documents, judge on others.

    qa eval --cv            # training-fold vs held-out-fold numbers, side by side
    qa eval --cv --save     # then fit on the whole pool and write qa/data/*.json

The pool's questions cover 11 documents: the 3 seed articles and the 8
third-party texts in ``../shared/corpora/third-party/``. One index holds all
of them (built once under ``index/eval/``, the third-party files added with
the same ``add_files`` a user runs). Folds are groups of whole documents, so
a held-out fold's questions are about documents whose questions were never
seen while fitting. Every fitted thing, the fusion weights and the answer
model with its calibration and display threshold, is fitted inside the loop
on training folds only.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .compose import compose
from .evaluation import char_f1, evidence_of, first_hit, squash
from .ingest import add_files
from .pipeline import Engine
from .pool import THIRD_PARTY, load_pool
from .qkind import fit_kinds
from .fitting import fit, fit_abstainer, fit_calibration, precision_threshold
from .ranker import TEMPERATURES, AnswerModel, Pick, Question, candidates, expand, pick, with_spans
from .reader import PROPOSALS, SIGNALS, TOP_PASSAGES, answer_strength, best_span, lead_with, proposals, \
    sentences_of, signals, span_reading, span_scores, with_choice
from .retrieve import FUSION, FUSION_PATH, clean_question
from .settings import ROOT, Settings

logger = logging.getLogger(__name__)

N_FOLDS = 5
# which fold holds each document out, fixed when the span models were fitted for it
FOLDS_PATH = ROOT / "eval" / "folds.json"
CORRECT_F1 = 0.8  # a shown span counts as right at char F1 >= .8 against a gold answer
PRECISION_TARGET = 0.9
# Ranker regularisation: held-out F1 .625/.629/.631 at 1/3/10 (and .62 at 30; 434 pool). On the 781
# pool a choice among 10/40/160 made inside each fit by inner out-of-fold F1 ranked no better than 10
# (top-1 F1 .657 either way).
L2 = 10.0


def eval_settings(base: Settings | None = None) -> Settings:
    """Settings of the evaluation index: seeds + third-party documents, under index/eval/."""
    base = base or Settings.from_env()
    root = base.index_dir / "eval"
    return base.replace(corpus_dir=root / "corpus", index_dir=root / "index", query_cache=0,
                        allowed_upload_dirs=tuple(base.allowed_upload_dirs) + (str(THIRD_PARTY),))


def _ingest_fingerprint() -> str:
    """Hash of the ingest code: the stored copies of the third-party texts are what it made of them."""
    h = hashlib.sha256()
    for p in sorted(Path(__file__).resolve().parent.joinpath("ingest").rglob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def eval_engine(base: Settings | None = None):
    """An Engine over the evaluation corpus, created on first use (and again when the ingest
    code has changed, so the copies match what a fresh clone makes)."""
    settings = eval_settings(base)
    corpus_dir = settings.corpus_dir
    want = sorted(p.name for p in (base or Settings.from_env()).corpus_dir.glob("*.md"))
    third = sorted(THIRD_PARTY.glob("*.txt"))
    have = {p.name for p in corpus_dir.glob("*.md")} if corpus_dir.exists() else set()
    marker = corpus_dir.parent / "ingest.sha"
    made_by = marker.read_text(encoding="utf-8").strip() if marker.exists() else ""
    if not set(want) <= have or len(have) < len(want) + len(third) or made_by != _ingest_fingerprint():
        shutil.rmtree(corpus_dir.parent, ignore_errors=True)
        corpus_dir.mkdir(parents=True)
        for name in want:
            shutil.copy2((base or Settings.from_env()).corpus_dir / name, corpus_dir / name)
        engine = Engine(settings)
        results = add_files(engine, [str(p) for p in third], progress=False)
        bad = [r for r in results if not r.ok]
        if bad:
            raise RuntimeError(f"could not add third-party documents: {bad}")
        marker.write_text(_ingest_fingerprint() + "\n", encoding="utf-8")
    return Engine(settings)


def pinned_folds() -> dict[str, int]:
    """The committed document → fold assignment (``eval/folds.json``)."""
    return json.loads(FOLDS_PATH.read_text(encoding="utf-8")) if FOLDS_PATH.exists() else {}


def folds(rows: list[dict], n: int = N_FOLDS, pinned: dict[str, int] | None = None) -> dict[str, int]:
    """Whole documents to folds. Documents in ``pinned`` (default: ``eval/folds.json``) keep their
    fold, so adding questions never moves a document under the span fits made for it; the others
    go, largest first, to the fold with the fewest questions."""
    pinned = pinned_folds() if pinned is None else pinned
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[r["doc"]] = sizes.get(r["doc"], 0) + 1
    out = {d: pinned[d] for d in sizes if d in pinned and pinned[d] < n}
    load = [0] * n
    for d, f in out.items():
        load[f] += sizes[d]
    for doc in sorted(set(sizes) - set(out), key=lambda d: (-sizes[d], d)):
        f = int(np.argmin(load))
        out[doc] = f
        load[f] += sizes[doc]
    return out


# ---- one pass over the questions: retrieval and candidates, computed once ---------

@dataclass
class Item:
    row: dict
    lang: str
    rank: int | None  # 1-based rank of the first passage with the evidence
    golds: list[str]
    abstain: str  # the engine's abstention reason ('' = it would answer)
    X: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    f1: np.ndarray = field(default_factory=lambda: np.zeros(0))  # each candidate's F1
    texts: list[str] = field(default_factory=list)
    signals: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hits: list[bool] = field(default_factory=list)  # which retrieved passages hold the evidence
    passage: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # each candidate's passage rank
    shown_f1: np.ndarray | None = None  # each candidate's F1 once composed (qa/compose.py); None: as ``f1``
    shown_texts: dict = field(default_factory=dict)  # candidate index -> its composed text, where composing changed it


def shown_f1(it: Item) -> np.ndarray:
    """F1 of what would be shown for each candidate: the composed span (scoring), where ``f1``
    is the candidate itself (the ranker's targets)."""
    return it.f1 if it.shown_f1 is None else it.shown_f1


def collect(engine, rows: list[dict], k: int = 10, progress: bool = True, span_key=None) -> list[Item]:
    """``span_key(row)``: which fitted span model reads the row (default: the served one)."""
    items = []
    searcher = engine.searcher()
    spans = engine.spans()
    for row in tqdm(rows, desc="questions", disable=not progress, unit="q"):
        out = engine.inspect(row["question"], k=k)
        evidence = evidence_of(row)
        rank = first_hit([p.text for p in out.passages], evidence) if evidence else None
        golds = [g for g in [row.get("answer")] + list(row.get("alt_answers") or []) if g]
        sents = sentences_of(out.passages, [p.score for p in out.passages], searcher.texts,
                             out.sentence_sim, TOP_PASSAGES)
        if spans is not None:
            spans.use(span_key(row) if span_key else "all")
        reading = span_reading(spans, out.question, sents, searcher.texts)
        pairs, X = candidates(out.question, sents, proposals(reading, sents, PROPOSALS))
        scores = span_scores(reading, pairs)
        with_spans(X, scores)
        texts = [s.text[sp.a:sp.b] for s, sp in pairs]
        f1 = np.array([max((char_f1(t, g) for g in golds), default=0.0) for t in texts])
        composed = {i: s.text[a:b] for i, ((s, sp), (a, b))
                    in enumerate(zip(pairs, (compose(out.question, s.text, sp.a, sp.b, sp.kind) for s, sp in pairs)))
                    if (a, b) != (sp.a, sp.b)}
        shown = f1.copy()
        for i, text in composed.items():
            shown[i] = max((char_f1(text, g) for g in golds), default=0.0)
        hits = [first_hit([p.text], evidence) == 1 for p in out.passages[:k]] if evidence else []
        items.append(Item(row, out.question.lang, rank, golds, out.reason, X, f1, texts,
                          signals(out.question, out.contexts, out.top_dense, out.coverage, sents,
                                  best_span(scores)),
                          hits, np.array([s.passage_rank for s, _ in pairs], dtype=int),
                          shown if composed else None, composed))
    return items


def retrieval_tables(engine, rows: list[dict], progress: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per answerable question: fusion features of every candidate chunk, and which hold the evidence."""
    searcher = engine.searcher()
    out = []
    for row in tqdm(rows, desc="retrieval features", disable=not progress, unit="q"):
        evidence = evidence_of(row)
        if not evidence:
            out.append((np.zeros((0, len(FUSION))), np.zeros(0, bool)))
            continue
        pool = searcher.pool(clean_question(row["question"], 10_000), 10)
        F = pool.features.copy()
        chunks = [searcher.index.chunks[int(i)].text for i in pool.cand]
        F[:, FUSION.index("answer_strength")] = [answer_strength(pool.question, t) for t in chunks]
        hits = np.array([any(e in squash(t) for e in evidence) for t in chunks])
        out.append((F, hits))
    return out


def fit_fusion(tables: list[tuple[np.ndarray, np.ndarray]], l2: float = 1.0) -> np.ndarray:
    """Listwise fusion weights, scaled so the dense cosine keeps weight 1 (scores stay in cosine units)."""
    m = fit([(F, y) for F, y in tables if len(F) and y.any()], l2)
    w = m.coef / m.scale
    return (w / w[0] if w[0] > 0 else w).astype(np.float32)


# ---- scoring ----------------------------------------------------------------------

def _q(it: Item):
    return Question(it.row["question"], it.lang, {})


def _pick(model: AnswerModel, it: Item, X: np.ndarray | None = None) -> Pick:
    X = model.features(_q(it), it.X) if X is None else X
    return pick(model, X, it.texts, float(it.signals[SIGNALS.index("span_best")]), it.lang == "en")


def _top(model: AnswerModel, it: Item) -> tuple[float, float, float]:
    """(F1 of the chosen span, calibrated confidence, EM) for one item."""
    p = _pick(model, it)
    if p.i < 0:
        return 0.0, 0.0, 0.0
    text = it.shown_texts.get(p.i, it.texts[p.i])
    em = float(any(squash(text) == squash(g) for g in it.golds))
    return float(shown_f1(it)[p.i]), model.confidence(p), em


def _kinds(items: list[Item]):
    ans = [it for it in items if it.golds]
    return fit_kinds([it.row["question"] for it in ans], [it.lang for it in ans], [it.row["kind"] for it in ans])


def _expanded(items: list[Item], inner_folds: list[int]) -> list[np.ndarray]:
    """Each item's full features, its question-kind readings cross-fitted on the other inner folds."""
    out: list = [None] * len(items)
    for f in sorted(set(inner_folds)):
        km = _kinds([it for it, g in zip(items, inner_folds) if g != f])
        for j, (it, g) in enumerate(zip(items, inner_folds)):
            if g == f:
                out[j] = expand(it.X, km.proba(it.row["question"], it.lang))
    return out


def _groups(items: list[Item], Xs: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ranker's targets: the candidates closest to the gold answer (best char F1, if >= .5).
    Taking only the best teaches exact boundaries; every span at F1 >= .8 gave held-out F1 .613
    against .636, and F1-weighted targets .582."""
    return [(X, it.f1 >= it.f1.max() - 1e-9) for it, X in zip(items, Xs)
            if it.golds and len(X) and it.f1.max() >= 0.5]


def fit_answer_model(items: list[Item], inner_folds: list[int], l2: float = L2) -> AnswerModel:
    """Fit on ``items``; calibrate and set the display threshold on inner out-of-fold scores."""
    Xs = _expanded(items, inner_folds)
    model = fit(_groups(items, Xs), l2)
    model.kinds = _kinds(items)
    return calibrate(model, items, inner_folds, l2, Xs)


def calibrate(model: AnswerModel, items: list[Item], inner_folds: list[int], l2: float = L2,
              Xs: list[np.ndarray] | None = None) -> AnswerModel:
    """Choose ``model``'s expected-F1 temperature and fit its calibration and display threshold on
    the picks of rankers fitted on the other inner folds, then its answerability model on
    ``items``; its ranker's weights stay as they are."""
    Xs = _expanded(items, inner_folds) if Xs is None else Xs
    # every inner out-of-fold pick at each temperature of the expected-F1 choice: the one of the
    # best mean F1 is the model's, and its picks fit the calibration
    evidence = {t: [] for t in TEMPERATURES}
    f1 = {t: [] for t in TEMPERATURES}
    for f in sorted(set(inner_folds)):
        sel = [g != f for g in inner_folds]
        train = [it for it, keep in zip(items, sel) if keep]
        inner = fit(_groups(train, [X for X, keep in zip(Xs, sel) if keep]), l2)
        inner.kinds = _kinds(train)
        for it, g in zip(items, inner_folds):
            if g != f or not it.golds or not len(it.X):
                continue
            X = inner.features(_q(it), it.X)
            for t in TEMPERATURES:
                inner.temperature = t
                p = _pick(inner, it, X)
                evidence[t].append(p.evidence)
                f1[t].append(shown_f1(it)[p.i])
    model.temperature = max(TEMPERATURES, key=lambda t: (np.mean(f1[t]), -t))
    evidence, correct = evidence[model.temperature], np.array(f1[model.temperature]) >= CORRECT_F1
    model.calib = fit_calibration(np.array(evidence), np.array(correct))
    conf = np.array([model.calib.p(e) for e in evidence])
    model.threshold = precision_threshold(conf, np.array(correct, dtype=float), PRECISION_TARGET)
    # answerability, on the items the rules let through, with this model's own confidence
    S, y = [], []
    for it in items:
        if it.abstain or not len(it.X):
            continue
        S.append(_signals(model, it))
        y.append(not it.golds)
    model.abstain = fit_abstainer(np.array(S), np.array(y)) if S else None
    return model


def _signals(model: AnswerModel, it: Item) -> np.ndarray:
    X = model.features(_q(it), it.X)
    p = _pick(model, it, X)
    return with_choice(it.signals, model.confidence(p), p.margin, X[p.i])


def abstains(model: AnswerModel, it: Item) -> bool:
    if it.abstain:
        return True
    if not len(it.X):
        return True
    return model.abstain is not None and model.abstain.p(_signals(model, it)) >= model.abstain.threshold


def shown_rank(model: AnswerModel, it: Item) -> int | None:
    """Rank of the first passage with the evidence once the pick's passage leads, as ``ask()`` orders
    them (items collected without ``hits`` keep their retrieval rank)."""
    if not it.hits or not len(it.passage):
        return it.rank
    order = lead_with(it.hits, int(it.passage[_pick(model, it).i]))
    return next((r for r, hit in enumerate(order, 1) if hit), None)


def score(items: list[Item], model: AnswerModel) -> dict:
    """The quality table's numbers for one set of items."""
    ans = [it for it in items if it.golds]
    una = [it for it in items if not it.golds]
    picked = [_top(model, it) for it in ans]
    gone = [abstains(model, it) for it in ans]
    ranks = [it.rank if g else shown_rank(model, it) for it, g in zip(ans, gone)]
    en = [r for r, it in zip(ranks, ans) if it.lang == "en"]
    r_at = lambda rs, k: float(np.mean([r is not None and r <= k for r in rs])) if rs else float("nan")  # noqa: E731
    f1 = [p[0] if not g else 0.0 for p, g in zip(picked, gone)]
    em = [p[2] if not g else 0.0 for p, g in zip(picked, gone)]
    shown = [(p[0] >= CORRECT_F1) for p, g in zip(picked, gone) if not g and p[1] >= model.threshold]
    conf = [(p[1], p[0] >= CORRECT_F1) for p, g in zip(picked, gone) if not g]
    una_gone = [abstains(model, it) for it in una]
    # a span shown as the answer to a question the documents do not answer is a wrong one too
    una_shown = sum(_top(model, it)[1] >= model.threshold for it, g in zip(una, una_gone) if not g)
    return {
        "n": len(ans), "unanswerable": len(una), "n en": len(en),
        "R@1": r_at(ranks, 1), "R@1 en": r_at(en, 1), "R@5": r_at(ranks, 5),
        "MRR": float(np.mean([1 / r if r else 0.0 for r in ranks])) if ranks else float("nan"),
        "F1": float(np.mean(f1)) if f1 else float("nan"), "EM": float(np.mean(em)) if em else float("nan"),
        "shown precision": float(np.mean(shown)) if shown else float("nan"),
        "shown coverage": len(shown) / len(ans) if ans else float("nan"),
        "shown precision (all)": sum(shown) / (len(shown) + una_shown) if shown or una_shown else float("nan"),
        "unanswerable shown": una_shown / len(una) if una else float("nan"),
        "abstained (unanswerable)": float(np.mean(una_gone)) if una else float("nan"),
        "false abstention": float(np.mean(gone)) if ans else float("nan"),
        "_conf": conf,
    }


def reliability(conf: list[tuple[float, bool]], bins: int = 5) -> tuple[list[tuple], float]:
    """(bin rows, expected calibration error) of confidence against correctness."""
    rows, ece, n = [], 0.0, len(conf)
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        sel = [(c, ok) for c, ok in conf if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if not sel:
            rows.append((lo, hi, 0, None, None))
            continue
        mc, acc = float(np.mean([c for c, _ in sel])), float(np.mean([ok for _, ok in sel]))
        rows.append((lo, hi, len(sel), mc, acc))
        ece += len(sel) / n * abs(mc - acc)
    return rows, ece


@dataclass
class CVReport:
    per_fold: list[dict]
    train: dict
    held: dict
    folds: dict
    reliability: list
    ece: float


def cross_validate(items: list[Item] | dict[int, list[Item]], n: int = N_FOLDS) -> CVReport:
    """``items`` per fold (retrieved with that fold's fusion weights), or one list for all folds."""
    by_fold = items if isinstance(items, dict) else {f: items for f in range(n)}
    items = by_fold[0]
    fold_of = folds([it.row for it in items], n)
    fidx = [fold_of[it.row["doc"]] for it in items]
    per_fold, train_all, held_all = [], [], []
    held_conf = []
    for f in range(n):
        items = by_fold[f]
        train = [it for it, g in zip(items, fidx) if g != f]
        inner = [g for g in fidx if g != f]
        held = [it for it, g in zip(items, fidx) if g == f]
        model = fit_answer_model(train, inner)
        tr, he = score(train, model), score(held, model)
        per_fold.append({"fold": f, "docs": sorted(d for d, g in fold_of.items() if g == f),
                         "train": tr, "held": he, "threshold": model.threshold,
                         "temperature": model.temperature})
        held_conf += he["_conf"]
        train_all.append(tr)
        held_all.append((he, len(held)))
    train_mean = {k: float(np.nanmean([t[k] for t in train_all])) for k in train_all[0] if not k.startswith("_")}
    # held-out figures pooled over all questions (each question is held out exactly once)
    pooled = {}
    for k in held_all[0][0]:
        if k.startswith("_") or k in ("n", "unanswerable", "n en"):
            continue
        weights = {"R@1 en": "n", "abstained (unanswerable)": "unanswerable",
                   "unanswerable shown": "unanswerable"}.get(k, "n")
        vals = [(h[k], h[weights] if weights != "n" else h["n"]) for h, _ in held_all]
        if k in ("shown precision",):
            vals = [(h[k], h["shown coverage"] * h["n"]) for h, _ in held_all]
        if k == "shown precision (all)":
            vals = [(h[k], h["shown coverage"] * h["n"] + (h["unanswerable shown"] * h["unanswerable"]
                                                           if h["unanswerable"] else 0)) for h, _ in held_all]
        if k == "R@1 en":
            vals = [(h[k], h["n en"]) for h, _ in held_all]
        tot = sum(w for v, w in vals if not np.isnan(v))
        pooled[k] = sum(v * w for v, w in vals if not np.isnan(v)) / tot if tot else float("nan")
    pooled["n"] = sum(h["n"] for h, _ in held_all)
    pooled["unanswerable"] = sum(h["unanswerable"] for h, _ in held_all)
    train_mean["n"] = float(np.mean([t["n"] for t in train_all]))
    rel, ece = reliability(held_conf)
    return CVReport(per_fold, train_mean, pooled, fold_of, rel, ece)


METRICS = ["R@1", "R@1 en", "R@5", "MRR", "F1", "EM", "shown precision", "shown coverage",
           "shown precision (all)", "unanswerable shown", "abstained (unanswerable)", "false abstention"]


def format_cv(rep: CVReport) -> str:
    lines = [f"{'':<26}{'training folds':>15}{'held-out folds':>16}{'gap':>8}"]
    for k in METRICS:
        tr, he = rep.train.get(k, float("nan")), rep.held.get(k, float("nan"))
        lines.append(f"{k:<26}{tr:>15.3f}{he:>16.3f}{tr - he:>+8.3f}")
    lines.append(f"{'questions':<26}{rep.train['n']:>15.0f}{rep.held['n']:>16.0f}"
                 f"   (+{rep.held['unanswerable']} unanswerable held out)")
    lines.append("")
    lines.append("per fold (held out):  R@1   F1    shown-P  cover  threshold  temperature  docs")
    for pf in rep.per_fold:
        h = pf["held"]
        docs = ", ".join(re.sub(r"^third-party/|\.(md|txt)$", "", d)[:22] for d in pf["docs"])
        lines.append(f"  fold {pf['fold']} train F1 {pf['train']['F1']:.3f}  held {h['R@1']:.3f} {h['F1']:.3f}"
                     f"  {h['shown precision']:.3f}  {h['shown coverage']:.3f}  {pf['threshold']:.3f}"
                     f"  {pf.get('temperature', 0.0):.1f}  {docs}")
    lines.append("")
    lines.append(f"reliability of held-out confidence (ECE {rep.ece:.3f}):")
    lines.append("  confidence   n    mean conf  share right")
    for lo, hi, n, mc, acc in rep.reliability:
        lines.append(f"  {lo:.1f}-{hi:.1f}   {n:>4}   " + (f"{mc:.3f}      {acc:.3f}" if n else "-"))
    return "\n".join(lines)


def check_span_folds(fold_of: dict[str, int], fitted: dict[str, int]) -> None:
    """The span models fitted with fold f held out must have held out the same documents the
    cross-validation holds out as f, or held-out questions would be read by a model that saw them."""
    moved = sorted(d for d, f in fold_of.items() if fitted.get(d) != f)
    if moved:
        raise RuntimeError(f"eval/span_cv.npz was fitted with other folds ({', '.join(moved)}); refit it "
                           "with bench/span_fit.py, or run with QA_SPAN_MODEL=0")


def use_cross_fitted_spans(engine, fold_of: dict[str, int]) -> None:
    """Load the served span model beside the ones fitted with a fold held out (no-op without one)."""
    if engine.spans() is None:
        return
    from .spans import CV_META, CV_PATH, MODEL_PATH, SpanModel
    check_span_folds(fold_of, json.loads(CV_META.read_text(encoding="utf-8"))["folds"])
    engine._spans = SpanModel(engine.settings.model_dir, (MODEL_PATH, CV_PATH))


def run(save: bool = False, progress: bool = True, base: Settings | None = None) -> CVReport:
    """Fit the fusion weights per fold, retrieve every question with them, fit and judge the
    answer model on the same folds; with ``save``, refit both on the whole pool and write them."""
    rows = load_pool()
    engine = eval_engine(base)
    engine.warm_up()
    searcher = engine.searcher()
    tables = retrieval_tables(engine, rows, progress)
    fold_of = folds(rows)
    fidx = [fold_of[r["doc"]] for r in rows]
    by_fold = {}
    use_cross_fitted_spans(engine, fold_of)
    for f in range(N_FOLDS):
        searcher.weights = fit_fusion([t for t, g in zip(tables, fidx) if g != f])
        # each question read by a span model that never saw it: held out ones by the one
        # without this fold, training ones by the one without their own fold
        by_fold[f] = collect(engine, rows, progress=progress, span_key=lambda r: f"x{fold_of[r['doc']]}")
    rep = cross_validate(by_fold)
    if save:
        w = fit_fusion(tables)
        FUSION_PATH.write_text(json.dumps({"features": FUSION, "weights": [round(float(x), 6) for x in w],
                                           "fitted_on": f"question pool, {len(rows)} questions"}, indent=1)
                               + "\n", encoding="utf-8")
        searcher.weights = w
        items = collect(engine, rows, progress=progress, span_key=lambda r: f"x{fold_of[r['doc']]}")
        model = fit_answer_model(items, fidx)
        model.meta = {"fitted_on": f"question pool, {len(rows)} questions", "target_precision": PRECISION_TARGET}
        model.save()
        logger.info("fusion weights and answer model written")
    return rep


def recalibrate(progress: bool = True, base: Settings | None = None) -> AnswerModel:
    """Refit the served answer model's calibration, display threshold and answerability model on
    the whole pool (one retrieval pass with the served fusion weights, each question read by the
    span model that held its fold out), keeping its ranker; for a change to what the confidence
    reads that should not move which span is picked."""
    from .ranker import MODEL_PATH
    rows = load_pool()
    engine = eval_engine(base)
    engine.warm_up()
    fold_of = folds(rows)
    use_cross_fitted_spans(engine, fold_of)
    items = collect(engine, rows, progress=progress, span_key=lambda r: f"x{fold_of[r['doc']]}")
    served = AnswerModel.from_json(json.loads(MODEL_PATH.read_text(encoding="utf-8")), ranker_only=True)
    model = calibrate(served, items, [fold_of[r["doc"]] for r in rows])
    model.meta = dict(model.meta, calibrated_on=f"question pool, {len(rows)} questions")
    model.save()
    logger.info("answer model recalibrated and written")
    return model
