"""Per-sample profiles, their merge into standard tables, read counting and sample selection."""

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from icibiome.io import read_abundance, read_standard_table
from icibiome.reads.qc import (
    BadReadsError,
    check_reads,
    count_fastq,
    excluded_samples,
    passed_samples,
    select_samples,
)
from icibiome.taxonomy.profiles import (
    bray_curtis,
    merge_passing,
    merge_profiles,
    write_sample_profile,
)

L = "k__Bacteria|p__Bacillota|c__Clostridia|o__Eubacteriales|f__Lachnospiraceae"


def _profile(tmp_path, name, rows, unclassified):
    df = pd.DataFrame(rows, columns=["lineage", "relative_abundance", "estimated_reads"])
    p = tmp_path / f"{name}.tsv"
    write_sample_profile(df, unclassified, p)
    return p


def test_write_sample_profile_renormalises_and_adds_unclassified(tmp_path):
    p = _profile(tmp_path, "S1", [[f"{L}|g__A|s__A_x", 2.0, 20], [f"{L}|g__B|s__B_y", 6.0, 60]], 20)
    df = pd.read_csv(p, sep="\t")
    np.testing.assert_allclose(df["relative_abundance"], [75.0, 25.0, 0.0])
    assert df["lineage"].iloc[-1] == "UNCLASSIFIED" and df["estimated_reads"].iloc[-1] == 20


def test_merge_sums_ranks_and_keeps_zero_hit_samples(tmp_path):
    p1 = _profile(
        tmp_path,
        "S1",
        [[f"{L}|g__A|s__A_x", 50, 50], [f"{L}|g__A|s__A_z", 25, 25], [f"{L}|g__B", 25, 25]],
        10,
    )
    p2 = _profile(tmp_path, "S2", [], 100)  # nothing classified: valid, all unclassified
    merge_profiles([p1, p2], ["S1", "S2"], ["species", "genus", "family"], tmp_path / "out")
    sp = read_standard_table(tmp_path / "out" / "abundance_species.tsv")
    # the read left at genus B is unclassified at species rank; species renormalise over A_x, A_z
    np.testing.assert_allclose(sp.loc[["s__A_x", "s__A_z"], "S1"], [200 / 3, 100 / 3])
    assert (sp["S2"] == 0).all()
    cnt = read_standard_table(tmp_path / "out" / "counts_species.tsv")
    assert cnt.loc["UNCLASSIFIED", "S1"] == 35 and cnt.loc["UNCLASSIFIED", "S2"] == 100
    gen = read_abundance(tmp_path / "out" / "abundance_genus.tsv")
    np.testing.assert_allclose(gen.loc["S1", ["g__A", "g__B"]], [75, 25])
    fam = read_standard_table(tmp_path / "out" / "abundance_family.tsv")
    assert fam.loc["f__Lachnospiraceae", "lineage"] == L
    for rank in ("species", "genus", "family"):
        a = read_abundance(tmp_path / "out" / f"abundance_{rank}.tsv")
        np.testing.assert_allclose(a.loc["S1"].sum(), 100)


def test_merge_passing_leaves_out_excluded(tmp_path):
    p1 = _profile(tmp_path, "S1", [[f"{L}|g__A|s__A_x", 1, 5]], 0)
    p2 = _profile(tmp_path, "S2", [[f"{L}|g__A|s__A_x", 1, 5]], 0)
    stats = []
    for s, st in (("S1", "pass"), ("S2", "excluded")):
        f = tmp_path / f"{s}.json"
        f.write_text(json.dumps({"sample_id": s, "status": st, "reason": "few reads"}))
        stats.append(f)
    merge_passing([p1, p2], stats, ["species"], tmp_path / "o")
    assert list(read_abundance(tmp_path / "o" / "abundance_species.tsv").index) == ["S1"]


def test_bray_curtis_bounds():
    a = pd.Series({"x": 1.0, "y": 3.0})
    assert bray_curtis(a, a) == 0.0
    assert bray_curtis(a, pd.Series({"z": 4.0})) == 1.0


def _write_fq(path, n, gz=True, truncate=False):
    text = "".join(f"@r{i}\nACGT\n+\nIIII\n" for i in range(n))
    if truncate:
        text = text[: len(text) - 7]
    opener = gzip.open if gz else open
    with opener(path, "wt") as fh:
        fh.write(text)
    return path


def test_count_fastq_good_truncated_corrupt(tmp_path):
    assert count_fastq(_write_fq(tmp_path / "a.fq.gz", 5)) == 5
    assert count_fastq(_write_fq(tmp_path / "b.fq", 3, gz=False)) == 3
    with pytest.raises(BadReadsError, match="truncated FASTQ"):
        count_fastq(_write_fq(tmp_path / "c.fq.gz", 5, truncate=True))
    raw = (tmp_path / "a.fq.gz").read_bytes()
    (tmp_path / "d.fq.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(BadReadsError, match="corrupt or truncated"):
        count_fastq(tmp_path / "d.fq.gz")
    (tmp_path / "e.fq").write_text(">fasta\nACGT\n")
    with pytest.raises(BadReadsError, match="expected a FASTQ header"):
        count_fastq(tmp_path / "e.fq")


def test_check_and_select_stop_or_exclude(tmp_path):
    good = check_reads(
        "G",
        _write_fq(tmp_path / "g1.fq.gz", 4),
        _write_fq(tmp_path / "g2.fq.gz", 4),
        tmp_path / "G.json",
    )
    bad = check_reads(
        "B",
        _write_fq(tmp_path / "b1.fq.gz", 4),
        _write_fq(tmp_path / "b2.fq.gz", 3),
        tmp_path / "B.json",
    )
    assert good["status"] == "pass" and good["fragments"] == 4
    assert bad["status"] == "fail" and "R1 has 4 reads but R2 has 3" in bad["reason"]
    jsons = [tmp_path / "G.json", tmp_path / "B.json"]
    with pytest.raises(BadReadsError, match="B: R1 has 4 reads"):
        select_samples(jsons, "stop", tmp_path / "status.tsv")
    assert not (tmp_path / "status.tsv").exists()
    select_samples(jsons, "exclude", tmp_path / "status.tsv")
    assert passed_samples(tmp_path / "status.tsv") == ["G"]
    ex = excluded_samples(tmp_path / "status.tsv", [])
    assert list(ex["sample_id"]) == ["B"] and ex["stage"].iloc[0] == "read check"
