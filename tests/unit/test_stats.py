"""icibiome.stats against the reference implementations (statsmodels, scikit-learn)."""

import numpy as np
from numpy.testing import assert_allclose
from sklearn.metrics import roc_auc_score
from statsmodels.stats.multitest import multipletests

from icibiome.signatures.toposcore import auc as toposcore_auc
from icibiome.stats import auroc, bh


def test_bh_is_statsmodels_fdr_bh_on_random_inputs():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 50, 400):
        p = rng.uniform(size=n) ** rng.uniform(0.5, 4)
        assert_allclose(bh(p), multipletests(p, method="fdr_bh")[1], rtol=1e-12)


def test_auroc_is_sklearn_roc_auc_with_ties_per_column():
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(4, 60))
        y = rng.integers(0, 2, n).astype(bool)
        if y.all() or not y.any():
            continue
        x = rng.integers(0, 5, size=(n, 3)).astype(float)  # many ties
        got = auroc(x, y)
        want = [roc_auc_score(y, x[:, j]) for j in range(3)]
        assert_allclose(got, want, rtol=1e-12)
        labels = np.where(y, "R", "NR")
        assert toposcore_auc(x[:, 0], labels) == got[0]
    assert np.isnan(auroc([1.0, 2.0], [True, True])).all()
