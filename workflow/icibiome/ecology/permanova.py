"""One-factor PERMANOVA with permutations restricted within strata (vegan's ``adonis2``).

scikit-bio's ``permanova`` cannot restrict permutations to strata, so :func:`permanova` is
implemented here: it reproduces scikit-bio's statistic and matches vegan's
``adonis2(d ~ response, permutations = how(blocks = cohort))``, enumerating every distinct label
assignment when fewer than :data:`MIN_PERM_COMPLETE` orderings exist
(:func:`all_restricted_assignments`) and drawing :func:`restricted_permutations` otherwise.
:func:`permanova_tests` is the diversity stage's table (response within cohorts, response,
cohort; per distance, with Benjamini-Hochberg q over the table).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from icibiome.stats import bh

logger = logging.getLogger(__name__)

#: vegan/permute's ``minperm``: below this many possible orderings, permutations are enumerated.
MIN_PERM_COMPLETE = 5040


# --------------------------------------------------------------------------------------------
# PERMANOVA with restricted permutations
# --------------------------------------------------------------------------------------------
def _codes(values: Sequence) -> tuple[np.ndarray, list]:
    levels = sorted(set(values), key=str)
    lookup = {v: i for i, v in enumerate(levels)}
    return np.array([lookup[v] for v in values], dtype=np.int64), levels


def n_orderings(strata: Sequence | None, n: int) -> int:
    """Number of orderings permutations restricted to ``strata`` can produce (``prod n_s!``)."""
    if strata is None:
        return math.factorial(n)
    _, counts = np.unique(np.asarray(strata, dtype=str), return_counts=True)
    return math.prod(math.factorial(int(c)) for c in counts)


def restricted_permutations(
    labels: Sequence, strata: Sequence | None, permutations: int, seed: int | None = 1
) -> np.ndarray:
    """Random permutations of ``labels``, each one shuffling labels only within its stratum.

    Parameters
    ----------
    labels : sequence
        Group label per sample (length n).
    strata : sequence or None
        Block per sample; ``None`` permutes freely.
    permutations : int
        Number of permuted label vectors.
    seed : int or None
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    ndarray
        ``(permutations, n)`` array of labels. Every row keeps, within every stratum, exactly the
        stratum's multiset of labels.

    Notes
    -----
    Vectorised: one uniform key per sample and permutation, shifted by the stratum's code, is
    argsorted, which shuffles samples uniformly within contiguous stratum blocks; the k-th slot of
    the stratum-sorted order then takes the label of the k-th shuffled sample. This is permute's
    ``how(blocks = strata)`` (free permutation within each block, blocks never mixed).
    """
    labels = np.asarray(labels)
    n = labels.shape[0]
    s_codes = np.zeros(n, dtype=np.int64) if strata is None else _codes(list(strata))[0]
    rng = np.random.default_rng(seed)
    keys = rng.random((permutations, n)) + s_codes[None, :]
    order = np.argsort(keys, axis=1, kind="stable")
    base = np.argsort(s_codes, kind="stable")
    out = np.empty((permutations, n), dtype=labels.dtype)
    out[:, base] = labels[order]
    return out


def all_restricted_assignments(labels: Sequence, strata: Sequence | None) -> np.ndarray:
    """Every distinct label vector reachable by permutations within strata (observed included).

    Each distinct assignment is produced by the same number of orderings
    (:math:`\\prod_s \\prod_g n_{sg}!`), so a p-value over the distinct assignments equals one over
    all orderings: this is vegan/permute's complete enumeration, used when
    :func:`n_orderings` < :data:`MIN_PERM_COMPLETE`.
    """
    labels = np.asarray(labels)
    n = labels.shape[0]
    s_codes = np.zeros(n, dtype=np.int64) if strata is None else _codes(list(strata))[0]
    blocks = [np.flatnonzero(s_codes == s) for s in np.unique(s_codes)]
    per_block = [sorted(set(itertools.permutations(labels[b].tolist()))) for b in blocks]
    rows = []
    for combo in itertools.product(*per_block):
        row = np.empty(n, dtype=labels.dtype)
        for b, vals in zip(blocks, combo, strict=True):
            row[b] = vals
        rows.append(row)
    return np.array(rows)


def _pseudo_f(d2: np.ndarray, label_codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Pseudo-F for each row of ``label_codes`` (shape (P, n)); group sizes are those of row 0."""
    n = d2.shape[0]
    sizes = np.bincount(label_codes[0], minlength=n_groups).astype(float)
    s_t = d2.sum() / (2.0 * n)
    out = np.empty(label_codes.shape[0])
    chunk = max(1, int(2e7 // max(1, n_groups * n * n)))
    groups = np.arange(n_groups)[None, :, None]
    for start in range(0, label_codes.shape[0], chunk):
        g = (label_codes[start : start + chunk, None, :] == groups).astype(float)  # (p, a, n)
        within = np.einsum("pan,pan->pa", g @ d2, g)  # sum over ordered pairs in each group
        # clipped: rounding can make a zero within-group sum of squares slightly negative
        s_w = np.clip((within / (2.0 * sizes[None, :])).sum(axis=1), 0.0, s_t)
        s_a = s_t - s_w
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + chunk] = (s_a / (n_groups - 1)) / (s_w / (n - n_groups))
    return out


def permanova(
    distances: pd.DataFrame | np.ndarray,
    grouping: Sequence,
    strata: Sequence | None = None,
    permutations: int = 999,
    seed: int | None = 1,
) -> dict:
    """One-factor PERMANOVA, optionally with permutations restricted within strata.

    Parameters
    ----------
    distances : DataFrame or ndarray
        Square symmetric distance matrix (n x n).
    grouping : sequence
        Group label per sample (at least 2 groups, fewer groups than samples).
    strata : sequence, optional
        Block per sample: labels are only permuted among samples of the same block.
    permutations : int
        Random permutations; when the design allows fewer than 5,040 orderings
        (:data:`MIN_PERM_COMPLETE`), all distinct assignments are enumerated instead.
    seed : int or None
        Seed for the random permutations.

    Returns
    -------
    dict
        ``n``, ``groups``, ``pseudo_F``, ``R2``, ``p_value``, ``permutations`` (the number
        actually used), ``complete`` (True for complete enumeration).

    Notes
    -----
    Anderson's (2001) statistic: with :math:`SS_T = \\frac1n\\sum_{i<j} d_{ij}^2` and
    :math:`SS_W = \\sum_g \\frac1{n_g}\\sum_{i<j \\in g} d_{ij}^2`,
    :math:`F = \\frac{(SS_T - SS_W)/(a-1)}{SS_W/(n-a)}` and :math:`R^2 = 1 - SS_W/SS_T`. The
    statistic equals ``skbio.stats.distance.permanova`` and ``vegan::adonis2(d ~ group)``.

    With ``strata`` the permutations are restricted to exchange labels only within strata,
    ``vegan::adonis2(d ~ group, data, permutations = how(blocks = strata, nperm = 999))`` (the
    older ``adonis2(..., strata = strata)``). Under the null hypothesis that the grouping has no
    effect within any stratum the test is exact; differences between strata (e.g. cohorts or
    batches) therefore cannot create a significant grouping effect, because permuted data keep
    the strata composition of each group.

    p-value: :math:`(1 + \\#\\{F^* \\ge F - \\epsilon\\}) / (1 + P)` over P random permutations
    (vegan's rule, :math:`\\epsilon = \\sqrt{\\text{machine eps}}`). When fewer than 5,040
    orderings exist (permute's ``minperm``), vegan enumerates them all; this is done here over
    the distinct label assignments (each is produced by the same number of orderings), which
    gives exactly vegan's complete-enumeration p-value.

    All permutations are evaluated at once: with one-hot group matrices G (P x a x n), the
    within-group sums are :math:`\\mathrm{diag}(G D^{\\circ 2} G^T)`.

    References
    ----------
    Anderson MJ (2001) A new method for non-parametric multivariate analysis of variance.
    Austral Ecol 26:32-46.
    Oksanen J et al. vegan: Community Ecology Package, ``adonis2``; Simpson GL, permute:
    Functions for Generating Restricted Permutations of Data, ``how(blocks=)``.
    """
    d = np.asarray(distances, dtype=float)
    n = d.shape[0]
    if d.shape != (n, n):
        raise ValueError("distances must be a square matrix")
    grouping = list(grouping)
    if len(grouping) != n:
        raise ValueError(f"grouping has {len(grouping)} labels for {n} samples")
    if strata is not None:
        strata = list(strata)
        if len(strata) != n:
            raise ValueError(f"strata has {len(strata)} labels for {n} samples")
    codes, levels = _codes(grouping)
    a = len(levels)
    if a < 2 or a >= n:
        raise ValueError(f"PERMANOVA needs 2 <= groups < samples (got {a} groups, {n} samples)")
    d2 = d * d
    f_obs = float(_pseudo_f(d2, codes[None, :], a)[0])
    s_t = d2.sum() / (2.0 * n)
    if s_t <= 0:
        r2 = float("nan")
    elif np.isinf(f_obs):  # no within-group spread: the grouping explains everything
        r2 = 1.0
    else:
        r2 = float(np.clip((f_obs * (a - 1)) / (f_obs * (a - 1) + (n - a)), 0.0, 1.0))
    complete = n_orderings(strata, n) < MIN_PERM_COMPLETE
    if complete:
        perm = all_restricted_assignments(codes, strata)
        f_perm = _pseudo_f(d2, perm, a)
        hits = int(np.sum(f_perm >= f_obs - np.sqrt(np.finfo(float).eps)))
        p = hits / len(perm)
        used = len(perm)
    else:
        perm = restricted_permutations(codes, strata, permutations, seed)
        f_perm = _pseudo_f(d2, perm, a)
        hits = int(np.sum(f_perm >= f_obs - np.sqrt(np.finfo(float).eps)))
        p = (hits + 1) / (permutations + 1)
        used = permutations
    if not np.isfinite(f_obs):
        p = float("nan")
    return {
        "n": n,
        "groups": a,
        "pseudo_F": f_obs,
        "R2": r2,
        "p_value": float(p),
        "permutations": int(used),
        "complete": bool(complete),
    }


def permanova_tests(
    distances: dict[str, pd.DataFrame],
    info: pd.DataFrame,
    permutations: int = 999,
    seed: int = 1,
) -> pd.DataFrame:
    """The stage's PERMANOVA table: response within cohorts, response, cohort; per distance.

    A test that cannot be run (fewer than two groups, as many groups as samples) is reported with
    NaN statistics and the reason in ``note``. ``p_value`` is each test's own (unadjusted)
    permutation p; ``q_value`` is Benjamini-Hochberg adjusted over all the tests of the table
    (3 tests x distances).
    """
    rows = []
    for metric, dm in distances.items():
        inf = info.loc[dm.index]
        known = inf.index[inf["response"] != "unknown"]
        tests = [
            ("response", "cohort", known),
            ("response", "", known),
            ("cohort", "", inf.index),
        ]
        for term, strata, ids in tests:
            sub = dm.loc[ids, ids]
            groups = inf.loc[ids, term].tolist()
            row = {"metric": metric, "term": term, "strata": strata or "none"}
            try:
                res = permanova(
                    sub,
                    groups,
                    strata=inf.loc[ids, strata].tolist() if strata else None,
                    permutations=permutations,
                    seed=seed,
                )
                note = "complete enumeration" if res.pop("complete") else ""
            except ValueError as err:
                res = {"n": len(ids), "groups": len(set(groups))}
                note = str(err)
            row.update(res)
            row["note"] = note
            rows.append(row)
    cols = ["metric", "term", "strata", "n", "groups", "pseudo_F", "R2", "p_value"]
    out = pd.DataFrame(rows).reindex(columns=[*cols, "permutations", "note"])
    # p_value is per test (unadjusted); q_value: Benjamini-Hochberg over the table's tests
    out["q_value"] = bh(pd.to_numeric(out["p_value"], errors="coerce"))
    return out
