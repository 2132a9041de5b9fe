"""Fitting the answer stage: the listwise ranker, its calibration, the display
threshold and the answerability model. Used by ``qa eval --cv`` only; answering
reads the fitted numbers through :mod:`qa.ranker` and needs numpy alone.
"""
from __future__ import annotations

import warnings

import numpy as np

from .ranker import Abstainer, AnswerModel, Logistic


def fit(groups: list[tuple[np.ndarray, np.ndarray]], l2: float = 1.0) -> AnswerModel:
    """Listwise fit: per question, a softmax over its candidates that puts the
    probability mass on the right ones (conditional logit, L2-regularised).
    ``groups`` are (features, is_right) pairs, one per question with a right candidate."""
    from scipy.optimize import minimize

    groups = [(X, y.astype(bool)) for X, y in groups if len(X) and y.any()]
    groups = [(np.nan_to_num(X, nan=0.0), y) for X, y in groups]  # no span model: a constant column
    allX = np.concatenate([X for X, _ in groups])
    mean = allX.mean(axis=0)
    scale = allX.std(axis=0)
    scale[scale < 1e-6] = 1.0
    Z = [((X - mean) / scale, y) for X, y in groups]

    def loss(w):
        total, grad = 0.5 * l2 * w @ w, l2 * w
        for X, y in Z:
            s = X @ w
            lse_all = np.logaddexp.reduce(s)
            lse_pos = np.logaddexp.reduce(s[y])
            total -= lse_pos - lse_all  # -log P(a right candidate), in log space: no underflow
            p_all = np.exp(s - lse_all)
            p_pos = np.where(y, np.exp(s - lse_pos), 0.0)
            grad = grad + X.T @ (p_all - p_pos)
        return total, grad

    res = minimize(loss, np.zeros(allX.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return AnswerModel(mean.astype(np.float32), scale.astype(np.float32), res.x.astype(np.float32), 0.0)


def fit_calibration(evidence: np.ndarray, correct: np.ndarray) -> Logistic:
    """P(the pick is right) from its CALIBRATION rows (``ranker.pick``), fitted on picks the
    ranker made for questions it was not fitted on."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = _standardise(evidence)
    if len(set(correct.tolist())) < 2:
        return Logistic(mean, scale, np.zeros_like(mean), 4.0 if correct.all() else -4.0)
    Z = (np.where(np.isnan(evidence), mean, evidence) - mean) / scale
    lr = LogisticRegression(C=1.0, max_iter=2000).fit(Z, correct.astype(int))
    return Logistic(mean, scale, lr.coef_[0].astype(np.float32), float(lr.intercept_[0]))


def _standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and spreads, NaN ignored (a column all NaN: 0 and 1)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: no span model
        mean, scale = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
    mean, scale = np.nan_to_num(mean, nan=0.0), np.nan_to_num(scale, nan=1.0)
    scale[scale < 1e-6] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


def precision_threshold(conf: np.ndarray, correct: np.ndarray, target: float = 0.9,
                        min_support: int = 10, shrink: float = 0.5) -> float:
    """Lowest confidence whose shown-above set reaches ``target`` precision. The precision of the
    top n is estimated from their outcomes shrunk halfway towards their calibrated confidences, so
    a lucky or unlucky streak on a few inner out-of-fold questions moves it less.
    (Against the Wilson lower bound at half a standard error, on the 554-question pool's held-out
    folds: precision .885 -> .905 and coverage .129 -> .178; outcomes alone gave thresholds that
    swung by .1 between folds.)"""
    order = np.argsort(-conf)
    c, y = conf[order], correct[order]
    n = np.arange(1, len(c) + 1)
    prec = np.cumsum((1 - shrink) * y + shrink * c) / n
    ok = np.where((prec >= target) & (n >= min_support))[0]
    return float(c[ok[-1]]) if len(ok) else 1.0


# The answerability threshold spends the false-abstention target (.05) less what the rules
# abstain on (~1%) and a point of room for drift between folds. (Held-out, 1,080 pool: at 1% /
# 2% / 3% of answerable training questions, unanswerable abstained .30 / .38 / .41, false
# abstention .016 / .028 / .037, F1 .713 / .708 / .705.)
MAX_FALSE_ABSTENTION = 0.03


def fit_abstainer(S: np.ndarray, unanswerable: np.ndarray, max_false: float = MAX_FALSE_ABSTENTION) -> Abstainer | None:
    """Logistic fit; the threshold lets at most ``max_false`` of answerable questions abstain."""
    from sklearn.linear_model import LogisticRegression

    if len(set(unanswerable.tolist())) < 2:
        return None
    S = np.nan_to_num(S, nan=0.0)
    mean, scale = S.mean(axis=0), S.std(axis=0)
    scale[scale < 1e-6] = 1.0
    lr = LogisticRegression(C=0.5, max_iter=2000, class_weight="balanced").fit((S - mean) / scale, unanswerable)
    ab = Abstainer(mean.astype(np.float32), scale.astype(np.float32), lr.coef_[0].astype(np.float32),
                   float(lr.intercept_[0]), 1.0)
    p_ans = np.sort([ab.p(x) for x, u in zip(S, unanswerable) if not u])[::-1]
    k = int(max_false * len(p_ans))
    ab.threshold = float(p_ans[k]) + 1e-6 if len(p_ans) > k else 1.0
    return ab
