"""Unit tests of icibiome.ecology.diversity, icibiome.ecology.permanova and icibiome.report.sections:
hand-worked cases, invariants, restricted permutations, power and null calibration of the stratified
PERMANOVA."""

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose
from scipy import stats

from icibiome.ecology.diversity import (
    aitchison,
    alpha_diversity,
    bray_curtis,
    clr_table,
    pcoa,
    run_diversity,
)
from icibiome.ecology.permanova import (
    all_restricted_assignments,
    n_orderings,
    permanova,
    restricted_permutations,
)
from icibiome.report.sections import composition_by_response_mqc, group_mean_composition


def _df(rows, samples=None, taxa=None):
    rows = np.asarray(rows, dtype=float)
    samples = samples or [f"S{i}" for i in range(rows.shape[0])]
    taxa = taxa or [f"s__T{j}" for j in range(rows.shape[1])]
    return pd.DataFrame(rows, index=samples, columns=taxa)


def _euclid(points):
    p = np.asarray(points, dtype=float)
    p = p.reshape(len(p), -1)
    return np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))


# ------------------------------------------------------------------ hand-worked cases
def test_alpha_hand_worked():
    counts = _df([[1, 1, 2, 0], [0, 0, 0, 0], [5, 5, 5, 5]])
    a = alpha_diversity(counts / counts.sum(axis=1).replace(0, 1).to_numpy()[:, None], counts)
    # p = (1/4, 1/4, 1/2): H = -(2 * 1/4 ln 1/4 + 1/2 ln 1/2) = 1.5 ln 2; Simpson 1 - 3/8
    assert_allclose(a.loc["S0", "shannon"], 1.5 * math.log(2))
    assert_allclose(a.loc["S0", "simpson"], 0.625)
    assert a.loc["S0", "observed"] == 3 and a.loc["S0", "classified_reads"] == 4
    # nothing classified: no composition
    assert a.loc["S1", "observed"] == 0 and np.isnan(a.loc["S1", "shannon"])
    # four even taxa: H = ln 4, Simpson 3/4
    assert_allclose(a.loc["S2", ["shannon", "simpson"]].to_numpy(float), [math.log(4), 0.75])


def test_bray_curtis_hand_worked():
    # percent input is closed first: (1, 0, 0) vs (1/3, 2/3, 0) -> (2/3 + 2/3) / 2
    d = bray_curtis(_df([[100, 0, 0], [1, 2, 0], [0, 0, 7]]))
    assert_allclose(d.iloc[0, 1], 2 / 3)
    assert_allclose(d.iloc[0, 2], 1.0)  # nothing shared
    assert_allclose(np.diag(d), 0)


def test_aitchison_hand_worked():
    # clr(1, 2, 4) = ln2 * (-1, 0, 1); clr(1, 1, 1) = 0  ->  distance ln2 * sqrt(2)
    d = aitchison(_df([[1, 2, 4], [3, 3, 3]]))
    assert_allclose(d.iloc[0, 1], math.log(2) * math.sqrt(2))
    assert_allclose(clr_table(_df([[1, 2, 4]])).to_numpy().sum(), 0, atol=1e-12)


def test_aitchison_zero_replacement_is_multiplicative():
    # delta = 0.01 imputed for the zero; the non-zero parts shrink by (1 - 0.01) keeping ratios
    z = clr_table(_df([[1, 1, 0]]), delta=0.01).to_numpy()[0]
    x = np.array([0.495, 0.495, 0.01])
    assert_allclose(z, np.log(x) - np.log(x).mean())


def test_permanova_hand_worked():
    # points 0, 1 | 10, 11 on a line: SS_T = 404 / 4 = 101, SS_W = 1/2 + 1/2 = 1,
    # F = (100 / 1) / (1 / 2) = 200, R2 = 100 / 101. 4! = 24 orderings < 5040 -> complete
    # enumeration of the 6 assignments; F = 200 for the observed one and its mirror: p = 2/6.
    d = _euclid([0, 1, 10, 11])
    r = permanova(d, ["A", "A", "B", "B"])
    assert_allclose(r["pseudo_F"], 200.0)
    assert_allclose(r["R2"], 100 / 101)
    assert r["complete"] and r["permutations"] == 6
    assert_allclose(r["p_value"], 1 / 3)


def test_permanova_matches_scikit_bio():
    from skbio import DistanceMatrix
    from skbio.stats.distance import permanova as skbio_permanova

    rng = np.random.default_rng(3)
    pts = rng.normal(size=(14, 4))
    groups = ["a"] * 5 + ["b"] * 5 + ["c"] * 4
    pts[:5] += 0.6
    d = _euclid(pts)
    ours = permanova(d, groups, permutations=999, seed=1)
    # scikit-bio's loop takes ~20 s for 999 permutations on this machine (ours: 2 ms): use 199
    ref = skbio_permanova(DistanceMatrix(d), groups, permutations=199, seed=1)
    assert_allclose(ours["pseudo_F"], ref["test statistic"])
    assert_allclose(ours["R2"], 1 / (1 + (14 - 3) / (2 * ref["test statistic"])))
    # different random permutations estimate the same p (~0.73; 199 draws: sd ~0.03)
    assert abs(ours["p_value"] - ref["p-value"]) < 0.1


# ------------------------------------------------------------------ restricted permutations
def test_restricted_permutations_keep_labels_within_strata():
    labels = np.array(list("RRNRNNRRRN"))
    strata = np.array(list("aaaabbbccc"))
    perm = restricted_permutations(labels, strata, permutations=500, seed=5)
    assert perm.shape == (500, 10)
    for s in set(strata):
        m = strata == s
        want = Counter(labels[m])
        assert all(Counter(row[m]) == want for row in perm)
    # labels really move inside the blocks, and every slot sees the block's labels at the
    # block's frequencies (block a: 3 R of 4 -> P(R) = 0.75 in each slot of a)
    assert (perm != labels).any(axis=1).mean() > 0.8
    assert_allclose((perm[:, :4] == "R").mean(axis=0), 0.75, atol=0.07)


def test_unrestricted_permutations_mix_everything():
    labels = np.array([0] * 5 + [1] * 5)
    perm = restricted_permutations(labels, None, permutations=2000, seed=2)
    assert (perm.sum(axis=1) == 5).all()
    assert_allclose(perm.mean(axis=0), 0.5, atol=0.05)


def test_complete_enumeration_counts_distinct_assignments():
    labels = list("RRNRNN")
    strata = list("aaabbb")
    rows = all_restricted_assignments(labels, strata)
    # 3 ways per block (choose where the single N / R goes): 3 x 3
    assert len(rows) == 9 == len({tuple(r) for r in rows})
    assert n_orderings(strata, 6) == 36
    assert any((r == np.array(labels)).all() for r in rows)


def _vegan_complete_p(d, labels, strata):
    """vegan/permute's complete enumeration, literally: every ordering of the samples within
    blocks except the observed one, p = (#{F* >= F} + 1) / (#orderings - 1 + 1)."""
    import itertools

    labels, strata = np.asarray(labels), np.asarray(strata)
    blocks = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    f0 = permanova(d, labels, permutations=1)["pseudo_F"]  # F does not depend on permutations
    hits, total = 0, 0
    for combo in itertools.product(*(itertools.permutations(b) for b in blocks)):
        order = np.empty(len(labels), dtype=int)
        for b, perm in zip(blocks, combo, strict=True):
            order[b] = perm
        if (order == np.arange(len(labels))).all():
            continue
        total += 1
        f = permanova(d, labels[order], permutations=1)["pseudo_F"]
        hits += f >= f0 - 1e-8
    return (hits + 1) / (total + 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stratified_p_value_matches_vegan_complete_enumeration(seed):
    # 2 strata of 3: 3! * 3! = 36 orderings < 5040 -> vegan enumerates them all
    rng = np.random.default_rng(seed)
    pts = rng.normal(size=(6, 2))
    pts[[2, 4, 5]] += 1.5
    labels, strata = list("RRNRNN"), list("aaabbb")
    r = permanova(_euclid(pts), labels, strata=strata)
    assert r["complete"] and r["permutations"] == 9
    assert_allclose(r["p_value"], _vegan_complete_p(_euclid(pts), labels, strata))


def test_planted_group_difference_is_detected():
    rng = np.random.default_rng(11)
    n = 40
    strata = np.repeat(["C1", "C2"], n // 2)
    labels = np.tile(["R", "NR"], n // 2)
    pts = rng.normal(size=(n, 6))
    pts[labels == "R", :3] += 1.0  # response effect within both cohorts
    pts[strata == "C2"] += 2.0  # and a cohort effect
    r = permanova(_euclid(pts), labels, strata=strata, permutations=999, seed=1)
    assert r["p_value"] <= 0.002 and not r["complete"]
    assert 0.05 < r["R2"] < 0.5


def test_null_p_values_are_roughly_uniform():
    rng = np.random.default_rng(21)
    strata = np.repeat(["C1", "C2"], 8)
    labels = np.tile(["R", "NR"], 8)
    ps = []
    for _ in range(150):
        pts = rng.normal(size=(16, 3))
        pts[strata == "C2"] += 1.5
        ps.append(
            permanova(_euclid(pts), labels, strata=strata, permutations=199, seed=None)["p_value"]
        )
    ps = np.array(ps)
    assert stats.kstest(ps, "uniform").pvalue > 0.001
    assert 0.0 <= (ps <= 0.05).mean() <= 0.12
    assert 0.4 < ps.mean() < 0.6


def test_stratification_protects_against_cohort_confounding():
    # responders are over-represented in cohort C2, which differs in composition; within each
    # cohort response has no effect. Free permutations reject; permutations within cohorts do not.
    rng = np.random.default_rng(4)
    strata = np.repeat(["C1", "C2"], 12)
    labels = np.array(["R"] * 3 + ["NR"] * 9 + ["R"] * 9 + ["NR"] * 3)
    free, within = [], []
    for i in range(40):
        pts = rng.normal(size=(24, 4))
        pts[strata == "C2"] += 4.0
        d = _euclid(pts)
        free.append(permanova(d, labels, permutations=199, seed=i)["p_value"] <= 0.05)
        within.append(
            permanova(d, labels, strata=strata, permutations=199, seed=i)["p_value"] <= 0.05
        )
    # measured: 0.9 of the free tests reject, 0.075 of the stratified ones (nominal 0.05)
    assert np.mean(free) > 0.75
    assert np.mean(within) < 0.2


def test_permanova_is_deterministic_with_a_seed():
    rng = np.random.default_rng(0)
    d = _euclid(rng.normal(size=(20, 3)))
    g = ["a", "b"] * 10
    s = ["x"] * 10 + ["y"] * 10
    assert permanova(d, g, s, seed=7) == permanova(d, g, s, seed=7)


def test_permanova_rejects_bad_designs():
    d = _euclid([0, 1, 2])
    with pytest.raises(ValueError, match="groups"):
        permanova(d, ["a", "a", "a"])
    with pytest.raises(ValueError, match="groups"):
        permanova(d, ["a", "b", "c"])
    with pytest.raises(ValueError, match="labels"):
        permanova(d, ["a", "b"])


# ------------------------------------------------------------------ invariants (hypothesis)
distance_points = arrays(
    np.float64,
    st.tuples(st.integers(6, 12), st.integers(1, 4)),
    elements=st.floats(-100, 100, allow_nan=False, width=32),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pts=distance_points, scale=st.floats(0.01, 100), seed=st.integers(0, 2**16))
# found on a fresh machine: zero within-group spread gave R2 = -1e12 (rounding below 0)
@example(pts=np.array([[1.0], [0.0], [0.0], [1.0], [0.0], [0.0]]), scale=1.0, seed=0)
def test_permanova_invariants(pts, scale, seed):
    n = pts.shape[0]
    d = _euclid(pts)
    if d.max() == 0:
        return
    g = ["x" if i % 3 else "y" for i in range(n)]
    r = permanova(d, g, permutations=49, seed=seed)
    # distance scale and group names do not matter
    r2 = permanova(d * scale, ["Q" if x == "x" else "P" for x in g], permutations=49, seed=seed)
    assert_allclose(r2["pseudo_F"], r["pseudo_F"], rtol=1e-7, atol=1e-9)
    assert_allclose(r2["R2"], r["R2"], rtol=1e-7, atol=1e-12)
    assert -1e-12 <= r["R2"] <= 1 + 1e-12
    assert 1 / 50 - 1e-12 <= r["p_value"] <= 1.0 or r["complete"]


abundance_rows = arrays(
    np.float64,
    st.tuples(st.integers(3, 8), st.integers(2, 9)),
    elements=st.one_of(st.just(0.0), st.floats(0.125, 1000, width=32)),
)


@settings(max_examples=40, deadline=None)
@given(m=abundance_rows, factor=st.floats(0.1, 1000))
def test_alpha_and_beta_invariants(m, factor):
    m = m.copy()
    m[:, 0] += 1.0  # no empty sample
    ab = _df(m)
    a = alpha_diversity(ab)
    obs = a["observed"].to_numpy()
    assert (a["shannon"] <= np.log(obs) + 1e-9).all()
    assert (a["simpson"] <= 1 - 1 / obs + 1e-9).all() and (a["simpson"] >= -1e-12).all()
    # scaling a sample or permuting taxa changes nothing
    scaled = ab.copy()
    scaled.iloc[0] *= factor
    assert_allclose(alpha_diversity(scaled)[["shannon", "simpson"]], a[["shannon", "simpson"]])
    shuffled = ab[ab.columns[::-1]]
    assert_allclose(alpha_diversity(shuffled)["shannon"], a["shannon"])
    bc = bray_curtis(ab).to_numpy()
    assert_allclose(bc, bc.T)
    assert (bc >= -1e-12).all() and (bc <= 1 + 1e-12).all()
    assert_allclose(bray_curtis(scaled).to_numpy(), bc, atol=1e-12)
    ai = aitchison(ab).to_numpy()
    assert_allclose(ai, ai.T)
    # compositional: a sample's total does not change its Aitchison distances
    assert_allclose(aitchison(scaled).to_numpy(), ai, atol=1e-7)


@settings(max_examples=25, deadline=None)
@given(m=abundance_rows)
def test_pcoa_of_aitchison_reproduces_the_distances(m):
    m = m.copy()
    m[:, 0] += 1.0
    ab = _df(m)
    d = aitchison(ab)
    if d.to_numpy().max() < 1e-6:
        return
    coords, explained = pcoa(d, n_axes=len(ab))
    assert_allclose(
        _euclid(coords.to_numpy()), d.to_numpy(), atol=1e-6 * max(1, d.to_numpy().max())
    )
    assert (np.diff(explained.to_numpy()) <= 1e-12).all()


def test_pcoa_signs_are_fixed():
    rng = np.random.default_rng(1)
    d = pd.DataFrame(_euclid(rng.normal(size=(8, 3))))
    c1, _ = pcoa(d)
    c2, _ = pcoa(d.iloc[::-1, ::-1])
    assert_allclose(c1.to_numpy(), c2.loc[c1.index].to_numpy(), atol=1e-9)
    idx = np.abs(c1.to_numpy()).argmax(axis=0)
    assert (c1.to_numpy()[idx, np.arange(c1.shape[1])] > 0).all()


# ------------------------------------------------------------------ the stage and the report content
def _write_inputs(tmp_path, n=12, seed=0):
    rng = np.random.default_rng(seed)
    samples = [f"C{1 + i % 2}_P{i:02d}" for i in range(n)]
    taxa = [f"s__Genus{j}_sp" for j in range(10)]
    counts = rng.poisson(rng.gamma(0.8, 200, size=(n, 10))).astype(float)
    counts[-1] = 0  # a sample with nothing classified
    ab = 100 * counts / np.where(counts.sum(1, keepdims=True) > 0, counts.sum(1, keepdims=True), 1)
    lineage = [f"k__Bacteria|p__P|c__C|o__O|f__F|g__Genus{j}|{t}" for j, t in enumerate(taxa)]

    def table(values, extra_unclassified=False):
        df = pd.DataFrame(values.T, columns=samples)
        df.insert(0, "lineage", lineage)
        df.insert(0, "clade_name", taxa)
        if extra_unclassified:
            df.loc[len(df)] = ["UNCLASSIFIED", "UNCLASSIFIED", *([50.0] * n)]
        return df

    table(ab).to_csv(tmp_path / "abundance_species.tsv", sep="\t", index=False)
    table(counts, True).to_csv(tmp_path / "counts_species.tsv", sep="\t", index=False)
    sheet = pd.DataFrame(
        {
            "sample_id": samples,
            "subject_id": [f"S{i}" for i in range(n)],
            "cohort": [s.split("_")[0] for s in samples],
            "timepoint": "baseline",
            "assay": "shotgun",
            "fq1": [f"reads/{s}.fq.gz" for s in samples],
            "response": (["R", "NR", "R", "NR", ""] * n)[:n],
        }
    )
    sheet.to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    return samples


def test_run_diversity_writes_every_output(tmp_path):
    samples = _write_inputs(tmp_path)
    out = tmp_path / "div"
    paths = run_diversity(
        tmp_path / "abundance_species.tsv",
        tmp_path / "counts_species.tsv",
        tmp_path / "samples.tsv",
        out,
        permutations=99,
        seed=3,
        label="test, species",
    )
    for name in (
        "alpha.tsv",
        "beta_braycurtis.tsv",
        "beta_aitchison.tsv",
        "pcoa.tsv",
        "permanova.tsv",
        "pcoa.png",
    ):
        assert (out / name).stat().st_size > 0, name
    alpha = pd.read_csv(out / "alpha.tsv", sep="\t", index_col="sample_id")
    assert list(alpha.index) == sorted(samples) or set(alpha.index) == set(samples)
    empty = samples[-1]
    assert alpha.loc[empty, "observed"] == 0 and np.isnan(alpha.loc[empty, "shannon"])
    assert alpha.loc[samples[0], "classified_reads"] > 0
    bc = pd.read_csv(out / "beta_braycurtis.tsv", sep="\t", index_col="sample_id")
    assert empty not in bc.index and bc.shape == (len(samples) - 1, len(samples) - 1)
    pc = pd.read_csv(out / "pcoa.tsv", sep="\t")
    assert set(pc["metric"]) == {"braycurtis", "aitchison"} and set(pc["axis"]) == {
        "PC1",
        "PC2",
        "PC3",
    }
    perm = pd.read_csv(out / "permanova.tsv", sep="\t", keep_default_na=False)
    assert len(perm) == 6
    strat = perm[(perm["term"] == "response") & (perm["strata"] == "cohort")]
    # samples without a response label are left out of the response tests
    n_known = sum(1 for i, s in enumerate(samples[:-1]) if ["R", "NR", "R", "NR", ""][i % 5])
    assert (strat["n"] == n_known).all()
    assert strat["p_value"].astype(float).between(0, 1).all()
    # p per test (unadjusted), q = Benjamini-Hochberg over the table's 6 tests, both labelled
    from scipy.stats import false_discovery_control

    pv = pd.to_numeric(perm["p_value"])
    assert np.isfinite(pv).all()
    np.testing.assert_allclose(pd.to_numeric(perm["q_value"]), false_discovery_control(pv))
    mqc = (out / "diversity_permanova_mqc.tsv").read_text()
    assert "p (unadjusted)" in mqc and "q (BH)" in mqc and "Benjamini-Hochberg" in mqc
    # MultiQC custom content: YAML headers parse, ids are the documented ones
    ids = set()
    for p in out.glob("*_mqc.*"):
        text = p.read_text()
        if p.suffix == ".yaml":
            ids.add(yaml.safe_load(text)["id"])
        elif p.suffix == ".tsv":
            head = "\n".join(ln[2:] for ln in text.splitlines() if ln.startswith("# "))
            ids.add(yaml.safe_load(head)["id"])
        else:
            ids.add(yaml.safe_load(text.split("-->")[0].removeprefix("<!--"))["id"])
            assert "data:image/png;base64," in text
    # ids carry the label, so several profilers' sections can share one report
    assert ids == {
        f"icibiome_diversity_{part}_test_species"
        for part in ("alpha", "alpha_box", "pcoa", "permanova", "figure")
    }
    scatter = yaml.safe_load((out / "diversity_pcoa_mqc.yaml").read_text())
    assert len(scatter["data"]) == 2 and len(scatter["data"][0]) == len(samples) - 1
    # deterministic: a second run writes identical tables
    out2 = tmp_path / "div2"
    run_diversity(
        tmp_path / "abundance_species.tsv",
        tmp_path / "counts_species.tsv",
        tmp_path / "samples.tsv",
        out2,
        permutations=99,
        seed=3,
        label="test, species",
    )
    for name in ("alpha.tsv", "beta_aitchison.tsv", "pcoa.tsv", "permanova.tsv"):
        assert (out / name).read_bytes() == (out2 / name).read_bytes(), name
    assert set(paths) >= {"alpha", "permanova", "figure"}


def test_group_mean_composition_hand_worked():
    ab = _df([[50, 50, 0], [100, 0, 0], [0, 20, 80], [0, 0, 0]], taxa=["a", "b", "c"])
    groups = pd.Series(["R", "R", "NR", "NR"], index=ab.index)
    m = group_mean_composition(ab, groups, top_n=2)
    # S3 has no profile and is left out; means over S0-S2: a 50, c 26.7, b 23.3 -> top 2 = a, c
    assert list(m.columns) == ["a", "c", "Other"]
    assert_allclose(m.loc["R"].to_numpy(), [75, 0, 25])
    assert_allclose(m.loc["NR"].to_numpy(), [0, 80, 20])


def test_composition_by_response_mqc(tmp_path):
    samples = _write_inputs(tmp_path)
    out = tmp_path / "composition_response_mqc.tsv"
    df = composition_by_response_mqc(
        tmp_path / "abundance_species.tsv", tmp_path / "samples.tsv", out, top_n=4
    )
    assert list(df.index[:3]) == ["R (n=5)", "NR (n=4)", "unknown (n=2)"]
    assert any(i.startswith("C1 · R") for i in df.index) and any(
        i.startswith("C2 · NR") for i in df.index
    )
    assert_allclose(df.sum(axis=1), 100, atol=1e-6)
    assert len(df.columns) == 5 and df.columns[-1] == "Other"
    head = yaml.safe_load(
        "\n".join(ln[2:] for ln in out.read_text().splitlines() if ln.startswith("# "))
    )
    assert (
        head["id"] == "icibiome_composition_response_sylph_species"
        and head["plot_type"] == "bargraph"
    )
    # the R bar is the mean of the R samples' profiles
    ab = (
        pd.read_csv(tmp_path / "abundance_species.tsv", sep="\t")
        .set_index("clade_name")
        .drop(columns="lineage")
    )
    r_samples = [s for i, s in enumerate(samples[:-1]) if i % 5 in (0, 2)]
    top = ab.T.mean().sort_values(ascending=False).index[0]
    assert_allclose(df.iloc[0, 0], ab.loc[top, r_samples].mean(), rtol=1e-3)
