"""Unit tests of the synthetic demo (icibiome.demo.make): determinism, truth tables, planted ecology, reads.

Tiny demos (4-6 genomes, a few hundred fragments) are made with the real art_illumina; the tests
are skipped with a reason where it is not installed.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icibiome.demo.databases import _zero_opts_padding, kraken2_taxonomy
from icibiome.demo.genomes import (
    PRIMER_SITES,
    TAXA,
    make_genomes,
    mutate,
    revcomp,
    select_taxa,
)
from icibiome.demo.make import (
    SHEET_COLUMNS,
    TRUTH_RANKS,
    cohorts_for,
    main,
    make_demo,
    plant_ecology,
    single_end_samples,
    standard_table,
)
from icibiome.demo.reads import ADAPTER_R1, ADAPTER_R2
from icibiome.io import read_abundance, read_standard_table

TOOLS = ("art_illumina", "bowtie2-build", "kraken2-build")
needs_tools = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS),
    reason=f"needs {', '.join(TOOLS)} (run `make setup`)",
)
SAMPLE_ID = re.compile(r"^[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*$")


def _checksums(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _clr(x: np.ndarray) -> np.ndarray:
    pc = x[x > 0].min() / 2
    lx = np.log(x + pc)
    return lx - lx.mean(axis=1, keepdims=True)


def _guild_correlations(ab: np.ndarray, guild: pd.Series) -> tuple[float, float]:
    """(mean within-guild, mean between-guild) Pearson correlation of CLR abundances."""
    c = np.corrcoef(_clr(ab).T)
    f = np.flatnonzero(guild.to_numpy() == "foundation")
    p = np.flatnonzero(guild.to_numpy() == "pathobiont")
    within = np.r_[
        c[np.ix_(f, f)][np.triu_indices(len(f), 1)], c[np.ix_(p, p)][np.triu_indices(len(p), 1)]
    ]
    return float(within.mean()), float(c[np.ix_(f, p)].mean())


def _fastq(path: Path) -> list[tuple[str, str, str]]:
    with gzip.open(path, "rt") as fh:
        lines = fh.read().splitlines()
    return list(zip(lines[0::4], lines[1::4], lines[3::4], strict=True))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Two tiny demos with the same seed (one through the CLI, 1 thread) and one with another seed."""
    if any(shutil.which(t) is None for t in TOOLS):
        pytest.skip(f"needs {', '.join(TOOLS)} (run `make setup`)")
    root = tmp_path_factory.mktemp("tiny")
    args = dict(seed=3, n_samples=4, pairs_per_sample=500, threads=2)
    a = make_demo(root / "a" / "demo", **args, n_genomes=6)
    # the same demo through the CLI, with another thread count
    argv = ["--out", str(root / "b" / "demo"), "--seed", "3", "--samples", "4", "--pairs", "500"]
    # (the CLI writes 16S amplicons by default; make_demo only when asked)
    assert main([*argv, "--genomes", "6", "--threads", "1", "--amplicon-pairs", "0"]) == 0
    c = make_demo(root / "c" / "demo", **{**args, "seed": 4}, n_genomes=6, databases=False)
    return a, root / "b" / "demo", c


@pytest.fixture(scope="module")
def cohort24(tmp_path_factory):
    """24 samples with the full community and few reads: the truth tables at n = 24."""
    if shutil.which("art_illumina") is None:
        pytest.skip("needs art_illumina (run `make setup`)")
    out = tmp_path_factory.mktemp("c24") / "demo"
    return make_demo(out, seed=1, n_samples=24, pairs_per_sample=60, databases=False)


# --- determinism and layout ---------------------------------------------------------------------


@needs_tools
def test_same_seed_gives_identical_files(tiny):
    a, b, _ = tiny
    ca, cb = _checksums(a), _checksums(b)
    assert len(ca) > 30
    assert ca == cb
    # every database file is covered
    assert {"db/kraken2/hash.k2d", "db/kraken2/opts.k2d", "db/sylph/demo.syldb",
            "db/host/host.1.bt2"} <= set(ca)  # fmt: skip


@needs_tools
def test_different_seed_gives_different_reads(tiny):
    a, _, c = tiny
    ca, cc = _checksums(a), _checksums(c)
    reads = [k for k in ca if k.startswith("reads/")]
    assert reads and all(ca[k] != cc[k] for k in reads)
    assert ca["reference/genomes.fa"] != cc["reference/genomes.fa"]


@needs_tools
def test_layout_and_no_leftovers(tiny):
    a, _, _ = tiny
    for rel in ("reference/genomes.fa", "reference/host.fa", "reference/taxonomy.tsv",
                "reference/16s.fa", "samples.tsv", "README.md", "truth/reads.tsv",
                "truth/guilds.tsv", "truth/samples.tsv", "truth/read_abundance_species.tsv",
                "db/host/host.rev.1.bt2", "db/sylph/params.json", "db/sylph/taxonomy.tsv",
                "db/kraken2/taxo.k2d", "db/kraken2/taxonomy/nodes.dmp",
                "db/kraken2/taxonomy/names.dmp"):  # fmt: skip
        assert (a / rel).is_file(), rel
    for rank in TRUTH_RANKS:
        assert (a / "truth" / f"abundance_{rank}.tsv").is_file()
    assert not (a / "db" / "kraken2" / "library").exists()
    # the staging folder and the ART scratch files are gone
    assert sorted(p.name for p in a.parent.iterdir()) == ["demo"]
    assert not list(a.rglob("*.fq"))


@needs_tools
def test_reference_taxonomy_and_16s(tiny):
    a, _, _ = tiny
    tax = pd.read_csv(a / "reference" / "taxonomy.tsv", sep="\t")
    assert list(tax.columns) == ["genome_id", "taxid", "kingdom", "phylum", "class", "order",
                                 "family", "genus", "species", "lineage", "length"]  # fmt: skip
    headers = [ln[1:] for ln in (a / "reference" / "genomes.fa").read_text().split("\n")
               if ln.startswith(">")]  # fmt: skip
    assert headers == list(tax["genome_id"])
    loci = (a / "reference" / "16s.fa").read_text().split(">")[1:]
    genomes = {r.split("\n", 1)[0]: r.split("\n", 1)[1].replace("\n", "")
               for r in (a / "reference" / "genomes.fa").read_text().split(">")[1:]}  # fmt: skip
    for rec in loci:
        gid, seq = rec.split("\n", 1)
        seq = seq.replace("\n", "")
        assert len(seq) == 1500 and seq in genomes[gid]
        for pos, primer in PRIMER_SITES:
            assert seq[pos : pos + len(primer)] == primer
    assert (
        tax["lineage"]
        .str.match(r"^k__Bacteria\|p__\w+\|c__\w+\|o__\w+\|f__\w+\|g__\w+\|s__\w+$")
        .all()
    )
    host = (a / "reference" / "host.fa").read_text()
    assert ">HOST_chr1\n" in host and ">HOST_chr2\n" in host


@needs_tools
def test_sample_sheet_columns_values_and_relative_paths(tiny):
    a, _, _ = tiny
    sheet = pd.read_csv(a / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert tuple(sheet.columns) == SHEET_COLUMNS
    assert sheet["sample_id"].map(lambda s: bool(SAMPLE_ID.match(s))).all()
    assert sheet["sample_id"].is_unique
    assert set(sheet["assay"]) == {"shotgun"} and set(sheet["timepoint"]) == {"baseline"}
    assert set(sheet["response"]) <= {"R", "NR"} and set(sheet["pfs_event"]) <= {"0", "1"}
    assert set(sheet["sex"]) <= {"F", "M"} and set(sheet["antibiotics"]) <= {"yes", "no"}
    assert set(sheet["cohort"]) == {"C1", "C2"}
    single = sheet["fq2"] == ""
    assert single.sum() == 1  # 4 samples: the last is single-end
    for fq in [*sheet["fq1"], *sheet.loc[~single, "fq2"]]:
        assert not Path(fq).is_absolute() and (a / fq).is_file(), fq
    truth = pd.read_csv(a / "truth" / "samples.tsv", sep="\t", dtype=str)
    assert list(truth["sample_id"]) == list(sheet["sample_id"])
    pd.testing.assert_series_equal(truth["response"], sheet["response"])


# --- truth tables -------------------------------------------------------------------------------


@needs_tools
def test_truth_abundances_sum_to_100(tiny):
    a, _, _ = tiny
    for name in [*(f"abundance_{r}" for r in TRUTH_RANKS), "read_abundance_species"]:
        ab = read_abundance(a / "truth" / f"{name}.tsv")
        assert ab.shape[0] == 4
        npt.assert_allclose(ab.sum(axis=1), 100.0, atol=1e-4)
        assert (ab.to_numpy() >= 0).all()
    sp = read_standard_table(a / "truth" / "abundance_species.tsv")
    ph = read_abundance(a / "truth" / "abundance_phylum.tsv")
    by_phylum = sp.groupby(sp["lineage"].str.split("|").str[1]).sum(numeric_only=True).T
    npt.assert_allclose(by_phylum[ph.columns].to_numpy(), ph.to_numpy(), atol=1e-5)


@needs_tools
def test_read_based_truth_matches_the_reads(tiny):
    a, _, _ = tiny
    sheet = pd.read_csv(a / "samples.tsv", sep="\t", keep_default_na=False)
    reads = pd.read_csv(a / "truth" / "reads.tsv", sep="\t", index_col="sample_id")
    ra = read_abundance(a / "truth" / "read_abundance_species.tsv")
    tax = pd.read_csv(a / "reference" / "taxonomy.tsv", sep="\t")
    species = dict(zip(tax["genome_id"], "s__" + tax["species"], strict=True))
    for row in sheet.itertuples():
        recs = _fastq(a / row.fq1)
        origin = pd.Series([r[0][1:].split("-")[0] for r in recs]).value_counts()
        n_host = origin.filter(like="HOST_").sum()
        assert reads.at[row.sample_id, "host_reads"] == n_host
        assert reads.at[row.sample_id, "microbial_reads"] == len(recs) - n_host
        assert len(recs) == 500
        micro = origin.drop([k for k in origin.index if k.startswith("HOST_")])
        assert set(micro.index) <= set(species)
        obs = (100 * micro / micro.sum()).rename(index=species)
        npt.assert_allclose(ra.loc[row.sample_id, obs.index], obs.to_numpy(), atol=1e-4)
        if row.fq2:
            names2 = [r[0] for r in _fastq(a / row.fq2)]
            assert [n[:-2] for n in names2] == [r[0][:-2] for r in recs]
            assert recs[0][0].endswith("/1") and names2[0].endswith("/2")


@needs_tools
def test_reads_carry_host_adapter_and_lowqual_faults(tiny):
    a, _, _ = tiny
    sheet = pd.read_csv(a / "samples.tsv", sep="\t", keep_default_na=False)
    truth = pd.read_csv(a / "truth" / "reads.tsv", sep="\t", index_col="sample_id")
    n_total = 0
    rt_total = lq_total = 0
    for row in sheet.itertuples():
        t = truth.loc[row.sample_id]
        assert t["layout"] == ("single" if row.fq2 == "" else "paired")
        recs = _fastq(a / row.fq1)
        n = len(recs)
        assert 0.05 <= t["host_reads"] / n <= 0.30
        # every read is 150 bp with a quality per base
        assert all(len(s) == 150 and len(q) == 150 for _, s, q in recs)
        # low-quality tails: the last 20 qualities all <= Q10
        lowq = sum(max(q[-20:]) <= chr(33 + 10) for _, _, q in recs)
        assert lowq == t["lowqual_tail_reads"]
        # read-through: the adapter's first 10 bases appear after a 60-140 bp insert
        ad = sum(ADAPTER_R1[:10].decode() in s[60:] for _, s, _ in recs)
        assert 0.8 * t["adapter_readthrough_reads"] <= ad <= t["adapter_readthrough_reads"] + 2
        if row.fq2:
            recs2 = _fastq(a / row.fq2)
            ad2 = sum(ADAPTER_R2[:10].decode() in s[60:] for _, s, _ in recs2)
            assert 0.8 * t["adapter_readthrough_reads"] <= ad2 <= t["adapter_readthrough_reads"] + 2
            assert sum(max(q[-20:]) <= chr(43) for _, _, q in recs2) == t["lowqual_tail_reads"]
        n_total += n
        rt_total += t["adapter_readthrough_reads"]
        lq_total += t["lowqual_tail_reads"]
    # planned rates 7 % and 10 %, 2000 fragments: within ~4 binomial SDs
    assert 0.07 - 0.025 <= rt_total / n_total <= 0.07 + 0.025
    assert 0.10 - 0.03 <= lq_total / n_total <= 0.10 + 0.03


# --- the planted ecology ------------------------------------------------------------------------


def test_truth_table_has_planted_guild_structure(cohort24):
    ab = read_abundance(cohort24 / "truth" / "abundance_species.tsv")
    guilds = pd.read_csv(cohort24 / "truth" / "guilds.tsv", sep="\t").set_index("clade_name")
    assert (guilds["guild"] == "foundation").sum() == 6
    assert (guilds["guild"] == "pathobiont").sum() == 5
    ab = ab[guilds.index]
    within, between = _guild_correlations(ab.to_numpy(), guilds["guild"])
    assert within > 0.3, within
    assert between < -0.3, between
    # guild members are mostly present
    members = guilds.index[guilds["guild"] != "none"]
    assert (ab[members] > 0).to_numpy().mean() > 0.9
    assert (ab.to_numpy() == 0).any()  # structural zeros exist


def test_responders_have_higher_guild_balance(cohort24):
    s = pd.read_csv(cohort24 / "truth" / "samples.tsv", sep="\t")
    assert set(s["response"]) == {"R", "NR"}
    z = s.groupby("response")["guild_balance"].mean()
    assert z["R"] > z["NR"] + 0.5
    assert set(s["pfs_event"]) == {0, 1} and (s["pfs_months"] > 0).all()
    assert s.groupby("cohort").size().to_dict() == {"C1": 12, "C2": 12}
    assert (s["layout"] == "single").sum() == 4


def test_planted_signal_over_seeds():
    """Across seeds: guild correlations hold, z predicts response (AUC ~0.8-0.9), PFS falls with z."""
    from scipy.stats import mannwhitneyu, spearmanr

    aucs, rhos = [], []
    for seed in range(1, 21):
        rng = np.random.default_rng(seed)
        tax, _, _ = make_genomes(rng)
        ab, cl = plant_ecology(rng, tax, 24)
        within, between = _guild_correlations(ab.to_numpy(), tax["guild"])
        assert within > 0.3 and between < -0.3, (seed, within, between)
        r = cl["response"] == "R"
        if 0 < r.sum() < len(r):
            u = mannwhitneyu(cl.loc[r, "guild_balance"], cl.loc[~r, "guild_balance"]).statistic
            aucs.append(u / (r.sum() * (~r).sum()))
        rhos.append(spearmanr(cl["guild_balance"], cl["pfs_months"]).statistic)
    assert 0.78 <= np.mean(aucs) <= 0.95, np.mean(aucs)
    assert np.mean(rhos) > 0.1


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 40), k=st.integers(4, len(TAXA)))
def test_plant_ecology_invariants(seed, n, k):
    rng = np.random.default_rng(seed)
    idx = select_taxa(k)
    tax = pd.DataFrame({"genome_id": [f"G{i + 1:02d}" for i in idx],
                        "guild": [TAXA[i][6] for i in idx]})  # fmt: skip
    ab, cl = plant_ecology(rng, tax, n)
    npt.assert_allclose(ab.sum(axis=1), 1.0)
    assert (ab.to_numpy() >= 0).all() and (ab.to_numpy() > 0).any(axis=1).all()
    assert list(cl["sample_id"]) == list(ab.index)
    assert cl["sample_id"].map(lambda s: bool(SAMPLE_ID.match(s))).all()
    assert cl["sample_id"].is_unique
    assert set(cl["response"]) <= {"R", "NR"}
    assert ((cl["pfs_months"] > 0) & (cl["pfs_months"] <= 30)).all()


@given(n=st.integers(4, len(TAXA)))
def test_subset_keeps_both_guilds(n):
    idx = select_taxa(n)
    assert len(idx) == n == len(set(idx))
    guilds = [TAXA[i][6] for i in idx]
    assert guilds.count("foundation") >= 2
    assert guilds.count("pathobiont") >= (2 if n >= 6 else 1)


def test_select_taxa_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_genomes"):
        select_taxa(3)
    with pytest.raises(ValueError, match="n_genomes"):
        select_taxa(len(TAXA) + 1)


@needs_tools
def test_remaking_replaces_the_old_demo(tmp_path):
    out = tmp_path / "demo"
    make_demo(out, seed=6, n_samples=3, pairs_per_sample=50, n_genomes=4, databases=False)
    (out / "reads" / "stale.fastq.gz").write_bytes(b"")
    make_demo(out, seed=5, n_samples=2, pairs_per_sample=50, n_genomes=4, databases=False)
    sheet = pd.read_csv(out / "samples.tsv", sep="\t", keep_default_na=False)
    assert len(sheet) == 2
    files = {p.name for p in (out / "reads").iterdir()}
    assert files == {Path(f).name for f in [*sheet["fq1"], *sheet["fq2"]] if f}
    assert "--seed 5 --samples 2 --pairs 50" in (out / "README.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_make_demo_rejects_one_sample(tmp_path):
    with pytest.raises(ValueError, match="at least 2 samples"):
        make_demo(tmp_path / "d", n_samples=1)


def test_cohorts_and_single_end_layout():
    assert list(cohorts_for(5)) == ["C1", "C1", "C1", "C2", "C2"]
    s24 = single_end_samples(24)
    assert list(np.flatnonzero(s24)) == [5, 11, 17, 23]
    c24 = cohorts_for(24)
    assert set(c24[s24]) == {"C1", "C2"}  # layout is not confounded with cohort
    assert not single_end_samples(2).any() and single_end_samples(3)[-1]


# --- genomes ------------------------------------------------------------------------------------


def test_genomes_congeneric_related_but_distinct_species():
    tax, genomes, loci = make_genomes(np.random.default_rng(1))
    assert len(tax) == 24 and tax["phylum"].nunique() == 4
    assert tax["length"].between(100_000, 150_000 + 1500).all()
    assert tax["gc"].between(0.35, 0.60).all()
    assert tax.groupby("genus").size().max() == 3 and (tax.groupby("genus").size() >= 2).sum() >= 4
    arr = {g: np.frombuffer(s.encode(), dtype=np.uint8) for g, s in genomes.items()}
    gen = tax.set_index("genome_id")["genus"]
    for genus, ids in gen.groupby(gen).groups.items():
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                n = min(len(arr[a]), len(arr[b]))
                ani = (arr[a][:n] == arr[b][:n]).mean()  # substitutions only: positional identity
                assert 0.85 < ani < 0.95, (genus, a, b, ani)
    # 16S: variable regions differ more between genera than within
    la = {g: np.frombuffer(s.encode(), dtype=np.uint8) for g, s in loci.items()}
    ids = list(la)
    same = [(la[a] == la[b]).mean() for a in ids for b in ids if a < b and gen[a] == gen[b]]
    diff = [(la[a] == la[b]).mean() for a in ids for b in ids if a < b and gen[a] != gen[b]]
    assert np.mean(same) > 0.95 > 0.85 > np.mean(diff)


def test_mutate_rate_and_keep():
    rng = np.random.default_rng(0)
    seq = rng.choice(np.frombuffer(b"ACGT", dtype=np.uint8), 100_000)
    keep = np.zeros(len(seq), dtype=bool)
    keep[:1000] = True
    out = mutate(rng, seq, 0.1, keep=keep)
    assert (out[:1000] == seq[:1000]).all()
    npt.assert_allclose((out[1000:] != seq[1000:]).mean(), 0.1, atol=0.005)
    assert set(np.unique(out).tobytes()) <= set(b"ACGT")


@given(st.text(alphabet="ACGTN", max_size=50))
def test_revcomp_involution(s):
    assert revcomp(revcomp(s)) == s
    assert len(revcomp(s)) == len(s)


def test_standard_table_groups_by_rank():
    tax, _, _ = make_genomes(np.random.default_rng(2), n_genomes=6)
    frac = pd.DataFrame(np.full((2, 6), 1 / 6), index=["A", "B"], columns=tax["genome_id"])
    t = standard_table(frac, tax, "phylum")
    assert t["clade_name"].str.startswith("p__").all()
    npt.assert_allclose(t[["A", "B"]].sum().to_numpy(), [100.0, 100.0])
    assert t["lineage"].str.count(r"\|").eq(1).all()


# --- databases (pure parts) ---------------------------------------------------------------------


def test_kraken2_taxonomy_is_a_tree_to_root():
    tax, _, _ = make_genomes(np.random.default_rng(1))
    nodes, names = kraken2_taxonomy(tax)
    parent = {t: p for t, p, _ in nodes}
    rank = {t: r for t, _, r in nodes}
    assert len(parent) == len(nodes) == len(names)
    for taxid in tax["taxid"]:
        chain, t = [], int(taxid)
        while t != 1:
            chain.append(rank[t])
            t = parent[t]
        assert chain == ["species", "genus", "family", "order", "class", "phylum", "superkingdom"]


def test_zero_opts_padding(tmp_path):
    raw = bytes(range(64))
    p = tmp_path / "opts.k2d"
    p.write_bytes(raw)
    _zero_opts_padding(p)
    out = p.read_bytes()
    assert out[:33] == raw[:33] and out[40:60] == raw[40:60]
    assert out[33:40] == bytes(7) and out[60:] == bytes(4)
