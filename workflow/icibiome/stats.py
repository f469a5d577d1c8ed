"""Statistics shared by the stages, written once: Benjamini-Hochberg q-values and AUROC.

Both rest on scipy (``scipy.stats.false_discovery_control``, ``scipy.stats.rankdata``) and are
tested against statsmodels' ``multipletests`` and scikit-learn's ``roc_auc_score``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def bh(p: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (``scipy.stats.false_discovery_control``); NaN stays NaN.

    The one BH of the library (:mod:`icibiome.signatures.meta`, :mod:`icibiome.ecology.network`,
    :mod:`icibiome.signatures.survival`, :mod:`icibiome.ecology.permanova` use it). NaNs are left out of
    the number of tests.

    Examples
    --------
    >>> bh([0.01, 0.04, 0.03, np.nan]).round(3).tolist()
    [0.03, 0.04, 0.04, nan]
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


def auroc(x: np.ndarray, is_pos: np.ndarray) -> np.ndarray:
    """Single-feature AUROC (Mann-Whitney U / n1 n0) per column of ``x``; ties count one half."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    is_pos = np.asarray(is_pos, dtype=bool)
    n1, n0 = is_pos.sum(), (~is_pos).sum()
    if n1 == 0 or n0 == 0:
        return np.full(x.shape[1], np.nan)
    ranks = stats.rankdata(x, axis=0)
    u = ranks[is_pos].sum(axis=0) - n1 * (n1 + 1) / 2
    return u / (n1 * n0)
