"""Profiler vs truth: Bray-Curtis, precision, recall, time per sample."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from icibiome.compare import (
    bray_curtis_matrix,
    compare_profilers,
    compare_to_truth,
    seconds_per_sample,
)
from icibiome.io import write_standard_table


def _std(path, data):
    df = pd.DataFrame(data).fillna(0.0)
    df.insert(0, "lineage", [f"k__B|s__{c}" for c in df.index])
    df.insert(0, "clade_name", [f"s__{c}" for c in df.index])
    write_standard_table(df.reset_index(drop=True), path)
    return path


def test_compare_to_truth_by_hand(tmp_path):
    truth = _std(tmp_path / "t.tsv", {"S1": {"a": 50, "b": 50}, "S2": {"a": 100}})
    prof = _std(tmp_path / "p.tsv", {"S1": {"a": 50, "c": 50}, "S2": {"a": 99, "b": 1}})
    acc = compare_to_truth(truth, prof).set_index("sample_id")
    np.testing.assert_allclose(acc["bray_curtis"], [0.5, 0.01])
    np.testing.assert_allclose(acc["precision"], [0.5, 0.5])
    np.testing.assert_allclose(acc["recall"], [0.5, 1.0])
    acc2 = compare_to_truth(truth, prof, detection_limit=2.0).set_index("sample_id")
    assert acc2.loc["S2", "precision"] == 1.0  # the 1 % false positive is below the limit
    with pytest.raises(ValueError, match="not in the truth"):
        compare_to_truth(truth, _std(tmp_path / "q.tsv", {"S9": {"a": 1}}))


def test_compare_profilers_writes_summary(tmp_path):
    truth = _std(tmp_path / "t.tsv", {"S1": {"a": 50, "b": 50}})
    good = _std(tmp_path / "g.tsv", {"S1": {"a": 50, "b": 50}})
    bad = _std(tmp_path / "b.tsv", {"S1": {"a": 100}})
    bench = tmp_path / "bench.tsv"
    bench.write_text("s\th:m:s\tmax_rss\n2.5\t0:00:02\t10\n")
    out = tmp_path / "results" / "profiler_comparison.tsv"
    res = compare_profilers(
        truth,
        {"good": good, "bad": bad},
        out,
        benchmarks={"good": [bench, bench]},
        per_sample_out=tmp_path / "per_sample.tsv",
    )
    assert out.exists() and (tmp_path / "per_sample.tsv").exists()
    r = res.set_index("profiler")
    assert r.loc["good", "bray_curtis_mean"] == 0 and r.loc["bad", "bray_curtis_mean"] == 0.5
    assert r.loc["good", "seconds_per_sample"] == 2.5 and np.isnan(
        r.loc["bad", "seconds_per_sample"]
    )
    assert seconds_per_sample([]) != seconds_per_sample([])  # nan


@settings(max_examples=50, deadline=None)
@given(
    arrays(float, (3, 5), elements=st.floats(0, 100)),
    arrays(float, (3, 5), elements=st.floats(0, 100)),
)
def test_bray_curtis_is_a_bounded_symmetric_dissimilarity(x, y):
    d = bray_curtis_matrix(x, y)
    assert np.all((d >= 0) & (d <= 1 + 1e-12))
    np.testing.assert_allclose(d, bray_curtis_matrix(y, x))
    np.testing.assert_allclose(bray_curtis_matrix(x, x), 0)
