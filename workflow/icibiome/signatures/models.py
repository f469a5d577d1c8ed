"""The response classifiers of :mod:`icibiome.signatures.predict` and the lasso's inner CV.

* ``"lasso"`` = L1 logistic regression (liblinear, balanced class weights) with ``C`` chosen by
  inner stratified 5-fold CV on the training samples (AUC), after z-scoring fitted on the
  training samples (grouped by cohort with >= 3 training cohorts: :func:`inner_cv`);
* ``"rf"`` = random forest (500 trees, ``max_features="sqrt"``, balanced class weights).
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

MODELS = ("lasso", "rf")
LASSO_CS = np.logspace(-2.5, 1, 10)
"""The lasso's C grid (inverse L1 strength), widened upwards when its upper edge is chosen."""


def make_model(name: str = "lasso", seed: int = 1, n_jobs: int = 1, inner_folds: int = 5,
               cv=None, Cs=None):  # fmt: skip
    """The scikit-learn pipeline for ``name`` (see the module docstring).

    ``cv`` (the lasso's inner CV splits; default stratified ``inner_folds``-fold) and ``Cs``
    (its C grid; default :data:`LASSO_CS`) are set by :func:`fit_model`.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "lasso" and cv is None and inner_folds < 2:  # a class of one sample: C = 1
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=1.0, l1_ratio=1.0, solver="liblinear", class_weight="balanced",
                                 max_iter=1000, random_state=seed)  # fmt: skip
        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), clf)
    if name == "lasso":
        from sklearn.linear_model import LogisticRegressionCV
        from sklearn.model_selection import StratifiedKFold

        clf = LogisticRegressionCV(
            Cs=LASSO_CS if Cs is None else Cs, l1_ratios=[1.0], solver="liblinear",
            cv=cv if cv is not None else StratifiedKFold(inner_folds, shuffle=True,
                                                         random_state=seed),
            scoring="roc_auc", class_weight="balanced", max_iter=1000, random_state=seed,
            use_legacy_attributes=False,
        )  # fmt: skip
        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), clf)
    if name == "rf":
        from sklearn.ensemble import RandomForestClassifier

        clf = RandomForestClassifier(
            n_estimators=500, max_features="sqrt", class_weight="balanced",
            random_state=seed, n_jobs=n_jobs,
        )  # fmt: skip
        return make_pipeline(SimpleImputer(strategy="median"), clf)
    raise ValueError(f"model must be one of {MODELS}, not {name!r}")


def inner_cv(y01: np.ndarray, groups: np.ndarray | None, seed: int = 1):
    """The lasso's inner CV splits: grouped by cohort with >= 3 training cohorts, else stratified.

    With at least three cohorts, :class:`~sklearn.model_selection.GroupKFold` over cohorts
    (``min(5, n_cohorts)`` folds), so that C is chosen for predicting *other cohorts*, as LOCO
    then scores it; when a fold's test part would lack a class, or with fewer cohorts, stratified
    5-fold (fewer folds when the minority class is smaller). Returns ``(splits, kind)``: a list
    of splits or None (a class of one sample: no inner CV), and ``grouped`` / ``stratified`` /
    ``none``.
    """
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    k = _inner_folds(y01)
    if groups is not None and len(np.unique(groups)) >= 3:
        gk = GroupKFold(min(5, len(np.unique(groups))))
        splits = list(gk.split(np.zeros(len(y01)), y01, groups))
        if all(len(np.unique(y01[te])) == 2 and len(np.unique(y01[tr])) == 2
               for tr, te in splits):  # fmt: skip
            return splits, "grouped"
    if k < 2:
        return None, "none"
    skf = StratifiedKFold(k, shuffle=True, random_state=seed)
    return list(skf.split(np.zeros(len(y01)), y01)), "stratified"


def _auc01(y01: np.ndarray, score: np.ndarray) -> float:
    """AUROC of ``score`` for ``y01 == 1``: :func:`sklearn.metrics.roc_auc_score` bit for bit.

    The same ROC points (ties merged, collinear points dropped, (0, 0) prepended) and the same
    trapezoid sum, so that the lasso's inner CV breaks ties between C values exactly as
    :class:`~sklearn.linear_model.LogisticRegressionCV` does; without roc_auc_score's input
    checks, which cost more than a small liblinear fit. NaN when one class is missing.
    """
    y = np.asarray(y01, dtype=float)
    s = np.asarray(score, dtype=float)
    if len(y) == 0 or y.min() == y.max():
        return np.nan
    order = np.argsort(s, kind="stable")[::-1]
    s, y = s[order], y[order]
    thr = np.r_[np.flatnonzero(np.diff(s)), len(y) - 1]
    tps = np.cumsum(y)[thr]
    fps = 1 + thr.astype(float) - tps
    if len(fps) > 2:
        keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps = fps[keep], tps[keep]
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))


def _lasso_clf(C: float, seed: int, class_weight="balanced"):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=float(C), l1_ratio=1.0, solver="liblinear",
                              class_weight=class_weight, max_iter=1000, random_state=seed)  # fmt: skip


def lasso_inner_scores(Xs: np.ndarray, y01: np.ndarray, splits, Cs, seed: int = 1,
                       states: list | None = None) -> np.ndarray:  # fmt: skip
    """Inner-CV AUC of the L1 logistic for every split x C: array ``(n_splits, n_Cs)``.

    Exactly what :class:`~sklearn.linear_model.LogisticRegressionCV` (liblinear, ``roc_auc``,
    ``class_weight="balanced"``) computes: one liblinear fit per split and C on the split's
    training rows, the class weights of *all* rows given (LogisticRegressionCV computes
    "balanced" once on the whole ``y``), the AUC of the decision function on the split's test
    rows, and liblinear's coordinate order seeded as there: one
    ``RandomState(seed)`` per split, drawn once per C in grid order (``states``, one per split,
    continues those streams: a widened grid's new Cs get the draws LogisticRegressionCV would
    give them). liblinear has no warm start, so every C is an independent fit; without the scorer's
    input checks this takes about 70% of LogisticRegressionCV's time on 400 samples and a third
    on 30 (measured in issue 13).
    """
    from sklearn.utils.class_weight import compute_class_weight

    classes = np.array([0, 1])
    cw = dict(zip(classes.tolist(), compute_class_weight("balanced", classes=classes, y=y01),
                  strict=True))  # fmt: skip
    if states is None:
        states = [np.random.RandomState(seed) for _ in splits]
    out = np.empty((len(splits), len(Cs)))
    for i, (tr, te) in enumerate(splits):
        Xtr, Xte, ytr = Xs[tr], Xs[te], y01[tr]
        for j, c in enumerate(Cs):
            clf = _lasso_clf(c, states[i], cw).fit(Xtr, ytr)
            out[i, j] = _auc01(y01[te], clf.decision_function(Xte))
    return out


def fit_model(X: np.ndarray, y01: np.ndarray, name: str = "lasso", seed: int = 1,
              n_jobs: int = 1, groups: np.ndarray | None = None) -> tuple[object, dict]:  # fmt: skip
    """Fit the model ``name``; returns ``(pipeline, info)``.

    ``info``: ``n_features`` (features with a non-zero lasso coefficient; all input features for
    the forest), ``C`` (the lasso's chosen C), ``Cs`` (its grid) and ``inner_cv`` (``grouped`` /
    ``stratified`` / ``none``). When the lasso's inner CV picks the upper edge of the C grid, the
    grid is widened upwards (4 more values over 2 decades, once; the fits of the first grid are
    kept) and the model refitted; logged.

    The lasso is the pipeline median imputer -> z-score -> L1 logistic (liblinear, balanced class
    weights) whose C maximises the summed inner-CV AUC (:func:`lasso_inner_scores`, the first C
    on ties), refitted on all rows: the same model as :class:`~sklearn.linear_model.
    LogisticRegressionCV` with these settings (``make_model``), computed faster.
    """
    if name != "lasso":
        mdl = make_model(name, seed, n_jobs)
        mdl.fit(X, y01)
        return mdl, {"n_features": int(X.shape[1]), "C": np.nan, "inner_cv": "none"}
    from sklearn.pipeline import make_pipeline

    cv, kind = inner_cv(y01, groups, seed)
    pre = make_model("lasso", seed, inner_folds=1)[:-1]  # imputer + scaler
    Xs = pre.fit_transform(X)
    cs = np.asarray(LASSO_CS, dtype=float)
    c = 1.0
    if cv is not None:
        states = [np.random.RandomState(seed) for _ in cv]
        scores = lasso_inner_scores(Xs, y01, cv, cs, seed, states)
        for attempt in range(2):
            c = float(cs[int(np.argmax(scores.sum(axis=0)))])
            if c >= cs[-1] and attempt < 1:
                more = cs[-1] * np.logspace(0.5, 2, 4)
                logger.info("lasso: inner CV chose the upper edge of the C grid (C = %.3g); "
                            "refitting with the grid widened to C <= %.3g", c, more[-1])  # fmt: skip
                scores = np.hstack([scores, lasso_inner_scores(Xs, y01, cv, more, seed, states)])
                cs = np.concatenate([cs, more])
                continue
            if c >= cs[-1]:
                logger.info("lasso: inner CV chose the upper edge of the widened C grid too (C = "
                            "%.3g)", c)  # fmt: skip
            elif c <= cs[0]:
                logger.info("lasso: inner CV chose the lower edge of the C grid (C = %.3g, the "
                            "strongest penalty)", c)  # fmt: skip
            break
    clf = _lasso_clf(c, seed).fit(Xs, y01)
    mdl = make_pipeline(*[step for _, step in pre.steps], clf)
    n_feat = int(np.count_nonzero(np.ravel(clf.coef_)))
    return mdl, {"n_features": n_feat, "C": c, "Cs": cs, "inner_cv": kind}


def _inner_folds(y01: np.ndarray) -> int:
    # inner CV folds: 5, fewer when the minority class of the training samples is smaller
    return int(min(5, np.bincount(y01, minlength=2).min()))
