"""Profiler vs truth: Bray-Curtis, precision, recall, time per sample."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from icibiome.io import write_standard_table
from icibiome.taxonomy.compare import (
    bray_curtis_matrix,
    compare_profilers,
    compare_to_truth,
    profiler_comparison,
    seconds_per_sample,
    step_benchmarks,
)


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
    # two per-sample steps of 2.5 s for the profile's one sample: 5 s per sample
    assert r.loc["good", "seconds_per_sample"] == 5.0 and np.isnan(
        r.loc["bad", "seconds_per_sample"]
    )
    assert seconds_per_sample([bench, bench]) == 2.5  # no sample count: per file
    assert seconds_per_sample([]) != seconds_per_sample([])  # nan


def test_recall_major_counts_only_abundant_true_taxa(tmp_path):
    truth = _std(tmp_path / "t.tsv", {"S1": {"a": 89.7, "b": 10, "c": 0.3}})
    prof = _std(tmp_path / "p.tsv", {"S1": {"a": 90, "b": 10}})
    acc = compare_to_truth(truth, prof).iloc[0]
    assert acc["recall"] == pytest.approx(2 / 3) and acc["recall_major"] == 1.0
    assert acc["precision"] == 1.0 and acc["bray_curtis"] == pytest.approx(0.003)
    assert compare_to_truth(truth, prof, recall_floor=0.1).iloc[0]["recall_major"] == 2 / 3


def _bench(path, seconds):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:01\t10\n")


def test_profiler_comparison_from_rule_benchmarks(tmp_path):
    """Hand-made truth, two profilers and Snakemake benchmark folders as the rule leaves them."""
    truth = _std(tmp_path / "t.tsv", {"S1": {"a": 60, "b": 40}, "S2": {"a": 20, "b": 80}})
    p1 = _std(tmp_path / "p1.tsv", {"S1": {"a": 60, "b": 40}, "S2": {"a": 20, "b": 80}})
    p2 = _std(tmp_path / "p2.tsv", {"S1": {"a": 30, "b": 40, "x": 30}, "S2": {"a": 100}})
    bdir = tmp_path / "benchmarks"
    for s, (t1, t2, t3) in {"S1": (1.0, 3.0, 0.5), "S2": (2.0, 5.0, 1.5)}.items():
        _bench(bdir / "one_profile" / f"{s}.tsv", t1)
        _bench(bdir / "two_classify" / f"{s}.tsv", t2)
        _bench(bdir / "two_reestimate" / f"{s}.tsv", t3)
    _bench(bdir / "one_profile" / "S9.tsv", 100.0)  # a sample not in the profile: not counted
    steps = {"one": ["one_profile"], "two": ["two_classify", "two_reestimate"]}
    files, n = step_benchmarks(["S1", "S2", "S3"], steps["two"], bdir)
    assert n == 2 and len(files) == 4  # S3 has no benchmark files: left out
    res = profiler_comparison(
        truth, ["one", "two"], [p1, p2], tmp_path / "cmp.tsv", tmp_path / "per.tsv",
        tmp_path / "cmp_mqc.tsv", steps=steps, benchmark_dir=bdir,
    ).set_index("profiler")  # fmt: skip
    assert res.loc["one", "seconds_per_sample"] == 1.5
    assert res.loc["two", "seconds_per_sample"] == 5.0  # (3 + 0.5 + 5 + 1.5) / 2 samples
    assert res.loc["one", "bray_curtis_mean"] == 0 and res.loc["one", "recall_mean"] == 1
    # S1: |60-30| + |0-30| = 60 of 200 -> 0.3; S2: |20-100| + |80-0| = 160 of 200 -> 0.8
    assert res.loc["two", "bray_curtis_mean"] == pytest.approx(0.55)
    assert res.loc["two", "bray_curtis_max"] == pytest.approx(0.8)
    assert res.loc["two", "precision_mean"] == pytest.approx((2 / 3 + 1) / 2)
    assert res.loc["two", "recall_mean"] == pytest.approx(0.75)
    per = pd.read_csv(tmp_path / "per.tsv", sep="\t")
    assert len(per) == 4 and set(per["profiler"]) == {"one", "two"}
    mqc = (tmp_path / "cmp_mqc.tsv").read_text()
    assert "section_name: Profiler comparison vs demo truth" in mqc
    table = pd.read_csv(tmp_path / "cmp_mqc.tsv", sep="\t", comment="#", index_col=0)
    assert list(table.index) == ["one", "two"]
    assert table.loc["two", "seconds_per_sample"] == 5.0
    with pytest.raises(ValueError, match="profiler names"):
        profiler_comparison(truth, ["one"], [p1, p2], tmp_path / "x", tmp_path / "y",
                            tmp_path / "z", steps=steps)  # fmt: skip


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
