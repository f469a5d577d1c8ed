"""Zero-hit semantics: a sample whose reads match nothing gives a valid all-unclassified profile
(sylph for real on a one-genome pysylph database; Kraken2 in test_kraken_run.py), it merges into
the standard tables as a zero column, and the report flags it."""

import gzip

import numpy as np
import pandas as pd
import pytest

from icibiome.io import UNCLASSIFIED, read_standard_table
from icibiome.report.build import has_data, zero_hit_mqc
from icibiome.taxonomy.profiles import merge_profiles

pysylph = pytest.importorskip("pysylph")
from icibiome.taxonomy.sylph import profile_sylph  # noqa: E402

LIN = "k__Bacteria|p__P|c__C|o__O|f__F|g__G|s__G_x"


def _seq(rng, n):
    return "".join(rng.choice(list("ACGT"), n))


def _fastq(path, reads):
    with gzip.open(path, "wt") as fh:
        for i, r in enumerate(reads):
            fh.write(f"@r{i}\n{r}\n+\n{'I' * len(r)}\n")


@pytest.fixture(scope="module")
def sylph_db(tmp_path_factory):
    rng = np.random.default_rng(3)
    d = tmp_path_factory.mktemp("sylphdb")
    genome = _seq(rng, 60_000)
    sketcher = pysylph.Sketcher(c=100, k=31)
    pysylph.Database([sketcher.sketch_genome("g1", [genome])]).dump(str(d / "db.syldb"))
    (d / "taxonomy.tsv").write_text(f"genome_id\tlineage\ng1\t{LIN}\n")
    return d, genome, rng


@pytest.mark.parametrize("n_reads", [0, 400], ids=["no_reads", "reads_match_nothing"])
def test_sylph_zero_hit_profile_merges_and_is_flagged(sylph_db, tmp_path, n_reads):
    d, genome, rng = sylph_db
    # sample A: reads of the genome (detected); sample Z: unrelated random reads (or none)
    hit = [genome[i : i + 150] for i in range(0, 59_000, 50)]
    _fastq(tmp_path / "A.fq.gz", hit)
    _fastq(tmp_path / "Z.fq.gz", [_seq(rng, 150) for _ in range(n_reads)])
    for s in ("A", "Z"):
        profile_sylph(
            s,
            [tmp_path / f"{s}.fq.gz"],
            d / "db.syldb",
            d / "taxonomy.tsv",
            tmp_path / f"{s}.tsv",
            tmp_path / f"{s}.sylphmpa",
            min_number_kmers=10,
        )
    z = pd.read_csv(tmp_path / "Z.tsv", sep="\t")
    assert list(z["lineage"]) == [UNCLASSIFIED]
    assert z["estimated_reads"].tolist() == [n_reads]
    assert len(pd.read_csv(tmp_path / "Z.sylphmpa", sep="\t")) == 0  # header only, valid
    a = pd.read_csv(tmp_path / "A.tsv", sep="\t")
    assert LIN in set(a["lineage"])
    merge_profiles(
        [tmp_path / "A.tsv", tmp_path / "Z.tsv"], ["A", "Z"], ["species", "genus"], tmp_path / "m"
    )
    ab = read_standard_table(tmp_path / "m" / "abundance_species.tsv")
    assert ab["Z"].sum() == 0 and ab["A"].sum() == pytest.approx(100)
    cnt = read_standard_table(tmp_path / "m" / "counts_species.tsv")
    assert cnt.loc[UNCLASSIFIED, "Z"] == n_reads
    # the report's warning table lists the zero-hit sample (read tracking: classified 0)
    tracking = tmp_path / "read_tracking.tsv"
    pd.DataFrame(
        {
            "sample_id": ["A", "Z"],
            "non_host": [len(hit), n_reads],
            "classified": [cnt.drop(index=UNCLASSIFIED)["A"].sum(), 0],
        }
    ).to_csv(tracking, sep="\t", index=False)
    flagged = zero_hit_mqc(tracking, tmp_path / "zero_hit_mqc.tsv", profiler="sylph")
    assert list(flagged.index) == ["Z"]
    text = (tmp_path / "zero_hit_mqc.tsv").read_text()
    assert "Samples with nothing classified" in text and has_data(tmp_path / "zero_hit_mqc.tsv")


def test_no_zero_hit_section_when_all_classified(tmp_path):
    tracking = tmp_path / "t.tsv"
    tracking.write_text("sample_id\tnon_host\tclassified\nA\t100\t90\nB\t50\t10\n")
    assert zero_hit_mqc(tracking, tmp_path / "z_mqc.tsv").empty
    assert not has_data(tmp_path / "z_mqc.tsv")  # make_report drops it: no empty section
