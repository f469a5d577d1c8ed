"""differential's LinDA transform is named as such, not as a plain CLR (issue 13, item 5)."""

import numpy as np
import pandas as pd
from skbio.stats.composition import clr as skbio_clr

from icibiome.signatures import differential as da
from icibiome.signatures import predict


def test_linda_log2clr_is_log2_clr_with_half_min_pseudocount_and_winsorising():
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.gamma(1.0, 10.0, (30, 6)), columns=list("abcdef"))
    x.iloc[0, 0] = 0.0
    ours = da.linda_log2clr(x, winsor=0)
    filled = x.replace(0.0, x.to_numpy()[x.to_numpy() > 0].min() / 2)
    # a plain CLR (natural log) of the pseudo-counted table, in base 2
    np.testing.assert_allclose(ours.to_numpy(), skbio_clr(filled.to_numpy()) / np.log(2))
    wins = da.linda_log2clr(x)  # default: LinDA's 3 % upper winsorising
    assert (wins.to_numpy() <= ours.to_numpy() + 1e-12).all()
    assert (wins.max() < ours.max()).all()
    # the old name is gone: nothing may mistake the LinDA transform for plain CLR
    assert not hasattr(da, "clr") and not hasattr(predict, "clr")
