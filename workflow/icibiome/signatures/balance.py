"""Nested log-ratio balances: response signatures that transfer to cohorts never seen.

A *balance* is one number per sample, the log-ratio of the summed abundances of responder
(R) markers to non-responder (NR) markers::

    score = log((sum of R-marker fractions + eps) / (sum of NR-marker fractions + eps))

followed by a one-feature logistic regression (scikit-learn) on the score. Markers are chosen
on the **training cohorts only** (Lee et al. 2022 and the omicsEye meta-analysis find that
cohort-consistent taxa, not sparse classifiers, carry across cohorts):

1. per training cohort and per rank, a LinDA-style differential abundance R vs NR on the CLR
   values (the same step as :func:`icibiome.signatures.differential.differential_cohort`: prevalence
   filter within the cohort, zeros -> half the smallest non-zero value, log2 CLR, 3 %
   winsorising, OLS ``clr ~ R``, kernel-density mode of the effects subtracted). It is
   vectorised across features *and* across label permutations (:func:`cohort_effects`; the
   CLR does not depend on the labels, so every permutation is one matrix product);
2. pooled effect = inverse-variance weighted mean of the per-cohort effects (fixed effect);
3. a feature is an R-marker when its pooled effect is > ``min_effect`` and its effect is > 0
   in at least ``min_agree`` training cohorts (NR-marker: < -``min_effect``, < 0 in at least
   ``min_agree`` cohorts), within the rank(s) ``rank`` (``species``/``genus``/``family``
   tables together, names prefixed ``s__``/``g__``/``f__``; ``all`` = every rank);
4. ``(min_agree, min_effect, rank)`` is chosen by an inner leave-one-cohort-out on the
   training cohorts (mean inner AUC over the inner held-out cohorts; ties -> the first grid
   point in the a-priori order of :data:`DEFAULT_GRID`).

The final model (:class:`BalanceModel` fitted on every cohort) is a frozen, named list of
markers with ``eps`` and the logistic coefficients (:meth:`BalanceModel.to_dict`): a new
patient is scored alone, without any other sample. Profiles named in another taxonomy (GTDB)
are scored through :mod:`icibiome.taxonomy.harmonise` (:meth:`BalanceModel.score_samples` with a name
map); the share of markers found is reported and a warning given when it is low.

The marker selection and the nested core are in :mod:`icibiome.signatures.balance_select`.

:func:`balance_loco` runs the whole nested procedure per held-out cohort (the AUC table of
:func:`icibiome.signatures.predict.loco` with DeLong CIs), optionally a :class:`StackModel` (logistic on
the balance score + a few label-free scores such as TOPOSCORE or a guild balance, the balance
score of the training samples taken out-of-fold from the inner LOCO), and an honest
label-permutation null: labels shuffled within each cohort, the whole nested procedure re-run,
empirical ``p = (1 + #{null >= observed}) / (1 + n)``.

Leakage: the per-cohort DA of a cohort depends only on that cohort's samples and labels, and
a held-out cohort's DA, labels and samples are never used to fit its fold (tested: permuting
the held-out labels leaves its predictions bit-identical).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from icibiome.signatures import differential as da
from icibiome.signatures.balance_select import (
    EPS,
    BalanceError,
    Fit,
    Grid,
    all_effects,
    balance_score,
    cohort_effects,
    fit_core,
    make_grid,
    prep,
    proba,
    rank_of,
    to_fractions_by_rank,
)
from icibiome.signatures.predict import AUC_COLUMNS, delong_auc

logger = logging.getLogger(__name__)


LOW_MARKER_SHARE = 0.5
EXTRA_COLUMNS = ["perm_p", "null_mean", "n_permutations"]
TABLE_COLUMNS = list(dict.fromkeys(AUC_COLUMNS + EXTRA_COLUMNS))
"""The LOCO table's columns: :data:`icibiome.signatures.predict.AUC_COLUMNS`, then any of ours it lacks."""
PRED_COLUMNS = ["sample_id", "cohort", "response", "probability", "score", "model", "features"]
MARKER_COLUMNS = ["held_out", "feature", "rank", "direction", "pooled_effect", "n_agree",
                  "n_cohorts", "min_agree", "min_effect", "grid_rank", "inner_auc"]  # fmt: skip


class BalanceModel:
    """Nested log-ratio balance (see the module docstring), scikit-learn style.

    Parameters
    ----------
    grid : mapping, optional
        ``min_agree``, ``min_effect``, ``rank`` values searched by the inner LOCO
        (default :data:`DEFAULT_GRID`, fixed a priori).
    eps : float
        Pseudo-count (in fractions) of the log-ratio.
    min_prevalence : float
        Within-cohort prevalence for a feature to be tested in a cohort.
    min_per_class : int
        A cohort takes part in marker selection (and is an inner held-out cohort) only with
        at least this many R and NR.

    Attributes (after ``fit``)
    --------------------------
    markers_ : DataFrame
        ``feature, rank, direction (R/NR), pooled_effect, n_agree, n_cohorts``.
    coef_, intercept_ : float
        Logistic regression on the score.
    params_ : dict
        The chosen ``min_agree, min_effect, rank`` and the inner mean AUC.
    oof_scores_ : Series
        Inner out-of-fold scores of the training samples at the chosen grid point.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> frac = pd.DataFrame(rng.dirichlet(np.ones(6), 60), columns=[f"s__t{i}" for i in range(6)])
    >>> y = rng.integers(0, 2, 60); frac.loc[y == 1, "s__t0"] += 0.3
    >>> m = BalanceModel().fit(frac, y, np.repeat(["a", "b", "c"], 20))
    >>> "s__t0" in set(m.markers_["feature"])
    True
    """

    def __init__(self, grid: Mapping | None = None, eps: float = EPS,
                 min_prevalence: float = 0.1, min_per_class: int = 5):  # fmt: skip
        self.grid = grid
        self.eps = eps
        self.min_prevalence = min_prevalence
        self.min_per_class = min_per_class

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, frac: pd.DataFrame, y01, cohorts) -> BalanceModel:
        with _one_thread():
            return self._fit(frac, y01, cohorts)

    def _fit(self, frac: pd.DataFrame, y01, cohorts) -> BalanceModel:
        X = np.ascontiguousarray(frac.to_numpy(dtype=float))
        y, cidx, names, eligible = prep(frac, y01, cohorts, self.min_per_class)
        ranks = np.array([rank_of(c) for c in frac.columns])
        E, S = all_effects(X, y, cidx, eligible, ranks, self.min_prevalence)
        grid = make_grid(self.grid, ranks)
        fit = fit_core(X, y, cidx, E, S, np.ones(len(names), bool), eligible, grid, self.eps)
        self._set(fit, grid, list(frac.columns), frac.index, names)
        return self

    def _set(self, fit: Fit, grid: Grid, features: list[str], index, cohorts) -> None:
        self.features_ = features
        self.cohorts_ = list(cohorts)
        self.coef_, self.intercept_ = fit.coef, fit.intercept
        k, t, r = grid.labels[fit.g] if fit.g >= 0 else (np.nan, np.nan, "")
        self.params_ = {"min_agree": k, "min_effect": t, "rank": r, "inner_auc": fit.inner_auc}
        rows = []
        for direction, idx, n in (("R", fit.r_idx, fit.npos), ("NR", fit.nr_idx, fit.nneg)):
            for j in idx:
                rows.append({"feature": features[j], "rank": rank_of(features[j]),
                             "direction": direction, "pooled_effect": float(fit.pooled[j]),
                             "n_agree": int(n[j]), "n_cohorts": int(fit.ntest[j])})  # fmt: skip
        self.markers_ = pd.DataFrame(rows, columns=["feature", "rank", "direction",
                                                    "pooled_effect", "n_agree", "n_cohorts"])  # fmt: skip
        self.oof_scores_ = pd.Series(fit.oof, index=index, name="oof_score")

    @property
    def is_empty(self) -> bool:
        """True when no marker was selected (the score is constant)."""
        return len(self.markers_) == 0

    # -- scoring ------------------------------------------------------------------------------
    def _columns(self, frac: pd.DataFrame, name_map=None) -> tuple[list, list, float]:
        """Profile columns of the R and NR markers, and the share of markers found."""
        cols = set(frac.columns)
        trans = {}
        if name_map is not None:
            from icibiome.taxonomy.harmonise import normalise_name

            target, _ = name_map.detect_naming(list(frac.columns))
            sp = [f for f in self.markers_["feature"] if rank_of(f) == "species"]
            if sp:
                by_norm = {normalise_name(c): c for c in frac.columns}
                for f, tg in name_map.translate(sp, target).items():
                    trans[f] = [by_norm[normalise_name(t)] for t in tg
                                if normalise_name(t) in by_norm]  # fmt: skip
        out = {"R": [], "NR": []}
        found = 0
        for f, d in zip(self.markers_["feature"], self.markers_["direction"], strict=True):
            hit = [f] if f in cols else [c for c in trans.get(f, []) if c in cols]
            found += bool(hit)
            for c in hit:
                if c not in out[d]:
                    out[d].append(c)
        share = found / len(self.markers_) if len(self.markers_) else np.nan
        return out["R"], out["NR"], share

    def score_samples(self, frac: pd.DataFrame, name_map=None) -> pd.Series:
        """The balance score of every sample (each sample alone; absent markers count as 0).

        ``name_map`` (:class:`icibiome.taxonomy.harmonise.NameMap`) scores profiles named in another
        taxonomy; :attr:`marker_share_` is the share of markers found (warning below
        :data:`LOW_MARKER_SHARE`).
        """
        r, nr, share = self._columns(frac, name_map)
        self.marker_share_ = share
        if np.isfinite(share) and share < LOW_MARKER_SHARE:
            logger.warning("balance: only %.0f%% of the %d markers are in the profile; "
                           "the score is unreliable (another profiler or naming? pass a name "
                           "map)", 100 * share, len(self.markers_))  # fmt: skip
        cols = r + nr
        sub = frac.reindex(columns=cols, fill_value=0.0).to_numpy(dtype=float)
        s = balance_score(sub, np.arange(len(r)), np.arange(len(r), len(cols)), self.eps)
        return pd.Series(s, index=frac.index, name="balance_score")

    def predict_proba(self, frac: pd.DataFrame, name_map=None) -> np.ndarray:
        """``n x 2`` probabilities (columns NR, R), as scikit-learn."""
        p = proba(self.coef_, self.intercept_, self.score_samples(frac, name_map).to_numpy())
        return np.column_stack([1 - p, p])

    # -- frozen form ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Everything needed to score a new patient (YAML/JSON-safe)."""
        from icibiome import __version__

        return {
            "model": "balance", "format": 1, "eps": float(self.eps),
            "coef": float(self.coef_), "intercept": float(self.intercept_),
            "params": {k: (v.item() if hasattr(v, "item") else v) for k, v in self.params_.items()},
            "training_cohorts": list(self.cohorts_),
            "markers": [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                        for r in self.markers_.to_dict("records")],
            "icibiome": __version__,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping) -> BalanceModel:
        """A frozen model from :meth:`to_dict` output."""
        if d.get("model") != "balance":
            raise BalanceError(f"not a balance model (model = {d.get('model')!r})")
        m = cls(eps=float(d["eps"]))
        m.coef_, m.intercept_ = float(d["coef"]), float(d["intercept"])
        m.params_ = dict(d.get("params", {}))
        m.cohorts_ = list(d.get("training_cohorts", []))
        m.markers_ = pd.DataFrame(list(d["markers"]), columns=["feature", "rank", "direction",
                                                              "pooled_effect", "n_agree",
                                                              "n_cohorts"])  # fmt: skip
        m.features_ = list(m.markers_["feature"])
        return m


class StackModel:
    """Logistic regression on the balance score and a few per-sample scores (e.g. TOPOSCORE).

    The balance is fitted as :class:`BalanceModel`; the stack's training input is the balance
    score *out of fold* (inner LOCO at the chosen grid point) next to the ``extra`` scores, so
    the stack weights are not fitted on in-sample balance scores. The extra scores must be
    label-free or fitted on the training cohorts (published TOPOSCORE lists are).
    """

    def __init__(self, balance: BalanceModel | None = None, C: float = 1.0):
        self.balance = balance if balance is not None else BalanceModel()
        self.C = C

    def fit(self, frac: pd.DataFrame, y01, cohorts, extra: pd.DataFrame) -> StackModel:
        self.balance.fit(frac, y01, cohorts)
        self._fit_stack(self.balance.oof_scores_.to_numpy(), np.asarray(y01).astype(int),
                        extra.loc[frac.index])  # fmt: skip
        return self

    def _fit_stack(self, oof: np.ndarray, y: np.ndarray, extra: pd.DataFrame) -> None:
        from sklearn.linear_model import LogisticRegression

        Z = np.column_stack([oof, extra.to_numpy(dtype=float)])
        ok = np.isfinite(Z).all(axis=1)
        self.extra_ = list(extra.columns)
        self.mean_ = Z[ok].mean(axis=0)
        self.sd_ = np.where(Z[ok].std(axis=0) > 0, Z[ok].std(axis=0), 1.0)
        m = LogisticRegression(C=self.C).fit((Z[ok] - self.mean_) / self.sd_, y[ok])
        self.coef_, self.intercept_ = m.coef_[0].copy(), float(m.intercept_[0])

    def predict_proba(self, frac: pd.DataFrame, extra: pd.DataFrame, name_map=None) -> np.ndarray:
        s = self.balance.score_samples(frac, name_map).to_numpy()
        Z = np.column_stack([s, extra.loc[frac.index, self.extra_].to_numpy(dtype=float)])
        Z = np.where(np.isfinite(Z), Z, self.mean_)  # a missing extra score -> the mean
        p = expit(self.intercept_ + ((Z - self.mean_) / self.sd_) @ self.coef_)
        return np.column_stack([1 - p, p])


# --------------------------------------------------------------------------------------------
# LOCO with the nested procedure, and the permutation null
# --------------------------------------------------------------------------------------------
@dataclass
class BalanceLoco:
    """Result of :func:`balance_loco`: AUC table, predictions, markers per fold, null AUCs."""

    table: pd.DataFrame
    predictions: pd.DataFrame
    markers: pd.DataFrame
    null: pd.DataFrame

    def __iter__(self):  # tab, preds = balance_loco(...)
        return iter((self.table, self.predictions))


def _loco_once(X, y, cidx, E, S, eligible, grid, eps, Zx=None):
    """Held-out probabilities per eligible cohort: {c: (rows, p_balance, p_stack, fit)}."""
    out = {}
    C = len(eligible)
    for c in range(C):
        if not eligible[c]:
            continue
        train_c = np.ones(C, bool)
        train_c[c] = False
        tr = np.flatnonzero(cidx != c)
        if len(np.unique(y[tr])) < 2:
            continue
        fit = fit_core(X, y, cidx, E, S, train_c, eligible & train_c, grid, eps)
        rows = np.flatnonzero(cidx == c)
        s = balance_score(X[rows], fit.r_idx, fit.nr_idx, eps)
        p = proba(fit.coef, fit.intercept, s)
        ps = None
        if Zx is not None and fit.g >= 0:
            st = StackModel()
            st._fit_stack(fit.oof[tr], y[tr].astype(int), Zx.iloc[tr])
            Z = np.column_stack([s, Zx.iloc[rows].to_numpy(dtype=float)])
            Z = np.where(np.isfinite(Z), Z, st.mean_)
            ps = expit(st.intercept_ + ((Z - st.mean_) / st.sd_) @ st.coef_)
        out[c] = (rows, p, ps, fit, s)
    return out


def _summaries(res, y, which: int) -> tuple[dict, float, float]:
    """Per-cohort AUCs (non-empty folds), their mean and the pooled AUC."""
    per, allp, ally = {}, [], []
    for c, v in res.items():
        p = v[which]
        if p is None or v[3].g < 0:
            continue
        per[c] = da.auroc(p, y[v[0]])[0]
        allp.append(p)
        ally.append(y[v[0]])
    mean = float(np.mean(list(per.values()))) if per else np.nan
    pooled = float(da.auroc(np.concatenate(allp), np.concatenate(ally))[0]) if allp else np.nan
    return per, mean, pooled


def _permuted_labels(y, cidx, n, seed):
    rng = np.random.default_rng(seed)
    out = np.empty((n, len(y)), dtype=bool)
    groups = [np.flatnonzero(cidx == c) for c in np.unique(cidx)]
    for p in range(n):
        yp = y.copy()
        for g in groups:
            yp[g] = y[g][rng.permutation(len(g))]
        out[p] = yp
    return out


def _one_thread():
    """BLAS on one thread: the products here are small, and threads only fight (measured: a
    50 x 4,147 by 4,147 x 36 product took 166 ms on a loaded 2-core machine, ~1 ms on one)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def balance_loco(
    abundance: pd.DataFrame,
    info: pd.DataFrame,
    *,
    grid: Mapping | None = None,
    eps: float = EPS,
    min_prevalence: float = 0.1,
    min_per_class: int = 5,
    n_permutations: int = 0,
    seed: int = 1,
    extra: pd.DataFrame | None = None,
    features_label: str | None = None,
    name: str = "balance",
) -> BalanceLoco:
    """Leave-one-cohort-out of the nested balance (and of the stack when ``extra`` is given).

    Parameters
    ----------
    abundance : DataFrame
        Samples x features (prefixed names ``s__``/``g__``/``f__``; percent or fractions per
        rank).
    info : DataFrame
        Indexed by sample; ``response`` (``R``/``NR``, others unlabelled) and ``cohort``.
    extra : DataFrame, optional
        Label-free per-sample scores (e.g. ``toposcore``, ``guild_balance``) for the stack.
    name : str
        Model name in the tables (the stack is ``stack``, or ``<name>_stack``).
    n_permutations : int
        Label-permutation null (labels shuffled within cohorts, everything re-run; seeded by
        ``seed``): ``perm_p`` per cohort and for the mean and pooled AUC.

    Returns
    -------
    BalanceLoco
        ``table`` (:data:`icibiome.signatures.predict.AUC_COLUMNS` + ``perm_p, null_mean,
        n_permutations``; models ``balance`` and ``stack``), ``predictions``, ``markers`` per
        fold and ``null`` (one row per permutation). ``tab, preds = balance_loco(...)`` works.
    """
    with _one_thread():
        return _balance_loco(abundance, info, grid, eps, min_prevalence, min_per_class,
                             n_permutations, seed, extra, features_label, name)  # fmt: skip


def _balance_loco(abundance, info, grid, eps, min_prevalence, min_per_class, n_permutations,
                  seed, extra, features_label, name) -> BalanceLoco:  # fmt: skip
    for col in ("response", "cohort"):
        if col not in info.columns:
            raise BalanceError(f"balance: the sample info has no {col!r} column")
    frac_all = to_fractions_by_rank(abundance)
    lab = info[info["response"].isin(["R", "NR"])]
    lab = lab.loc[[i for i in lab.index if i in frac_all.index]]
    frac = frac_all.loc[lab.index]
    X = np.ascontiguousarray(frac.to_numpy(dtype=float))
    y, cidx, names, eligible = prep(frac, (lab["response"] == "R").to_numpy(),
                                     lab["cohort"].astype(str).to_numpy(), min_per_class)  # fmt: skip
    ranks = np.array([rank_of(c) for c in frac.columns])
    g = make_grid(grid, ranks)
    Zx = None if extra is None else extra.reindex(lab.index)
    fl = features_label or "+".join(r for r in ("species", "genus", "family") if r in set(ranks))

    E, S = all_effects(X, y, cidx, eligible, ranks, min_prevalence)
    res = _loco_once(X, y, cidx, E, S, eligible, g, eps, Zx)
    stack = "stack" if name == "balance" else f"{name}_stack"
    models = [(name, 1)] + ([(stack, 2)] if Zx is not None else [])
    obs = {m: _summaries(res, y, w) for m, w in models}

    null_rows = []
    if n_permutations > 0:
        perms = _permuted_labels(y, cidx, n_permutations, seed)
        EP, SP = all_effects(X, perms, cidx, eligible, ranks, min_prevalence)
        for p in range(n_permutations):
            rp = _loco_once(X, perms[p], cidx, EP[p], SP[p], eligible, g, eps, Zx)
            for m, w in models:
                per, mean, pooled = _summaries(rp, perms[p], w)
                null_rows.append({"permutation": p, "model": m, "mean": mean, "pooled": pooled}
                                 | {names[c]: a for c, a in per.items()})  # fmt: skip
    null = pd.DataFrame(null_rows)

    def perm_stats(m, col, value):
        if null.empty or not np.isfinite(value):
            return {"perm_p": np.nan, "null_mean": np.nan, "n_permutations": 0}
        v = null.loc[null["model"] == m, col].to_numpy(dtype=float) if col in null else []
        v = np.asarray(v)[np.isfinite(v)]
        return {"perm_p": (1 + int((v >= value - 1e-12).sum())) / (1 + len(v)),
                "null_mean": float(v.mean()) if len(v) else np.nan, "n_permutations": len(v)}  # fmt: skip

    rows, preds, marks = [], [], []
    counts = pd.crosstab(lab["cohort"].astype(str), lab["response"]).reindex(
        index=names, columns=["R", "NR"], fill_value=0)  # fmt: skip
    for m, w in models:
        per, mean, pooled = obs[m]
        done = []
        for c, name in enumerate(names):
            n_r, n_nr = int(counts.loc[name, "R"]), int(counts.loc[name, "NR"])
            base = {"model": m, "features": fl, "held_out": name, "n_R": n_r, "n_NR": n_nr,
                    "n_train": int((cidx != c).sum()),
                    "train_cohorts": ",".join(n for n in names if n != name)}  # fmt: skip
            if not eligible[c]:
                rows.append(base | {"auc": np.nan, "note": f"skipped: {n_r} R / {n_nr} NR, "
                                    f"fewer than {min_per_class} per class"})  # fmt: skip
                continue
            v = res.get(c)
            if v is None or v[3].g < 0 or v[w] is None:
                n_train = int(sum(eligible[j] for j in range(len(names)) if j != c))
                need = int(min(g.k))
                why = (f"markers must agree in >= {need} training cohorts and only {n_train} "
                       "has enough R and NR (the balance needs at least "
                       f"{need + 1} cohorts)" if n_train < need else
                       "no markers pass on the training cohorts")  # fmt: skip
                rows.append(base | {"auc": np.nan, "note": f"empty model: {why} (not counted "
                                    "in the mean)"})  # fmt: skip
                continue
            rws, p, fit = v[0], v[w], v[3]
            a, _, lo, hi = delong_auc(y[rws], p)
            k, t, r = g.labels[fit.g]
            note = (f"{len(fit.r_idx)} R / {len(fit.nr_idx)} NR markers; min_agree={k}, "
                    f"min_effect={t}, rank={r}; inner AUC {fit.inner_auc:.3f}")  # fmt: skip
            rows.append(base | {"auc": a, "ci_low": lo, "ci_high": hi, "note": note}
                        | perm_stats(m, name, a))  # fmt: skip
            done.append((n_r, n_nr))
            preds.append(pd.DataFrame({"sample_id": frac.index[rws], "cohort": name,
                                       "response": np.where(y[rws], "R", "NR"), "probability": p,
                                       "score": v[4], "model": m, "features": fl}))  # fmt: skip
            if w == 1:
                for d, idx, nag in (("R", fit.r_idx, fit.npos), ("NR", fit.nr_idx, fit.nneg)):
                    for j in idx:
                        marks.append({"held_out": name, "feature": frac.columns[j],
                                      "rank": ranks[j], "direction": d,
                                      "pooled_effect": fit.pooled[j], "n_agree": int(nag[j]),
                                      "n_cohorts": int(fit.ntest[j]), "min_agree": k,
                                      "min_effect": t, "grid_rank": r,
                                      "inner_auc": fit.inner_auc})  # fmt: skip
        rows.append({"model": m, "features": fl, "held_out": "mean",
                     "n_R": sum(d[0] for d in done), "n_NR": sum(d[1] for d in done),
                     "auc": mean, "note": f"mean of {len(done)} held-out cohorts (empty models "
                     "not counted)"} | perm_stats(m, "mean", mean))  # fmt: skip
        pm = [pp for pp in preds if pp["model"].iloc[0] == m]
        if pm:
            allp = pd.concat(pm, ignore_index=True)
            a, _, lo, hi = delong_auc(allp["response"] == "R", allp["probability"])
            rows.append({"model": m, "features": fl, "held_out": "pooled",
                         "n_R": int((allp["response"] == "R").sum()),
                         "n_NR": int((allp["response"] == "NR").sum()), "auc": a, "ci_low": lo,
                         "ci_high": hi, "note": "all held-out predictions together"}
                        | perm_stats(m, "pooled", pooled))  # fmt: skip
    tab = pd.DataFrame(rows).reindex(columns=TABLE_COLUMNS)
    pr = pd.concat(preds, ignore_index=True) if preds else pd.DataFrame(columns=PRED_COLUMNS)
    return BalanceLoco(tab, pr, pd.DataFrame(marks, columns=MARKER_COLUMNS), null)


def fit_final(abundance: pd.DataFrame, info: pd.DataFrame, **kwargs) -> BalanceModel:
    """The frozen balance trained on every labelled sample of every cohort."""
    frac = to_fractions_by_rank(abundance)
    lab = info[info["response"].isin(["R", "NR"])]
    lab = lab.loc[[i for i in lab.index if i in frac.index]]
    return BalanceModel(**kwargs).fit(frac.loc[lab.index], (lab["response"] == "R").to_numpy(),
                                      lab["cohort"].astype(str).to_numpy())  # fmt: skip


def write_model(model: BalanceModel, markers_tsv, yaml_path) -> None:
    """The frozen balance as a markers TSV and a YAML (:meth:`BalanceModel.to_dict`)."""
    import yaml

    from icibiome.io import atomic_path, write_tsv

    write_tsv(model.markers_, markers_tsv, float_format="%.6g")
    with atomic_path(yaml_path) as tmp:
        tmp.write_text(yaml.safe_dump(model.to_dict(), sort_keys=False))


def read_model(yaml_path) -> BalanceModel:
    """A frozen balance written by :func:`write_model`."""
    import yaml

    with open(yaml_path) as fh:
        return BalanceModel.from_dict(yaml.safe_load(fh))


def markers_found(model: BalanceModel, columns: Iterable[str], name_map=None) -> float:
    """Share of the model's markers present in a profile with these columns."""
    _, _, share = model._columns(pd.DataFrame(columns=list(columns)), name_map)
    return share


__all__: Sequence[str] = ["BalanceModel", "StackModel", "balance_loco", "cohort_effects",
                          "balance_score", "fit_final", "write_model", "read_model"]  # fmt: skip
