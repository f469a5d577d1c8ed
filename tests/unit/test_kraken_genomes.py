"""Bracken re-estimation with several reference genomes per species (issue 13, item 3).

Bracken (Lu et al. 2017; est_abundance.py) estimates the reads truly from each genome ``g`` as
``n(g) / P(g|g)``, with ``n(g)`` the reads Kraken2 classified at ``g`` itself (its direct reads;
the clade reads when ``g`` is the species taxid) and ``P(g|g)`` the share of ``g``'s windows
Kraken2 puts at ``g``. A higher node's direct reads go to the genomes in proportion to
``P(node|g) * est(g)``. The old code gave every genome the species' TOTAL reads as ``n(g)``, so a
species with many genomes was counted once per genome.
"""

import pytest

from icibiome.taxonomy.bracken import reestimate
from icibiome.taxonomy.kraken import rank_code, read_report

# 1 root > 2 Bacteria > 100 > 200 > 300 > 400 (family) > 500 genus G
#   > 1001 species A > 9001 strain A1, 9002 strain A2   (two reference genomes of A)
#   > 1002 species B                                      (one genome, at the species taxid)
NODES = [
    (1, 1, "no rank"), (2, 1, "superkingdom"), (100, 2, "phylum"), (200, 100, "class"),
    (300, 200, "order"), (400, 300, "family"), (500, 400, "genus"), (1001, 500, "species"),
    (1002, 500, "species"), (9001, 1001, "strain"), (9002, 1001, "strain"),
]  # fmt: skip
NAMES = {1: "root", 2: "Bacteria", 100: "Phy", 200: "Cla", 300: "Ord", 400: "Fam", 500: "G",
         1001: "G alpha", 1002: "G beta", 9001: "G alpha A1", 9002: "G alpha A2"}  # fmt: skip
# (taxid, clade reads, direct reads)
LINES = [
    (0, 10, 10), (1, 290, 0), (2, 290, 0), (100, 290, 0), (200, 290, 0), (300, 290, 0),
    (400, 290, 0), (500, 290, 100), (1001, 100, 10), (9001, 60, 60), (9002, 30, 30),
    (1002, 90, 90),
]  # fmt: skip
KD = {
    500: {9001: 0.3, 9002: 0.1, 1002: 0.2},  # P(genus | genome)
    9001: {9001: 0.5},  # P(A1 | A1)
    9002: {9002: 0.5},
    1002: {1002: 0.6},
}


def _write(tmp_path):
    parent = {t: p for t, p, _ in NODES}
    rank = {t: r for t, _, r in NODES}
    (tmp_path / "nodes.dmp").write_text(
        "".join(f"{t}\t|\t{p}\t|\t{r}\t|\t\t|\n" for t, p, r in NODES)
    )
    out = []
    for t, clade, direct in LINES:
        depth, x = 0, t
        while x not in (0, 1):
            x, depth = parent[x], depth + 1
        code = "U" if t == 0 else rank_code(t, parent, rank)
        name = "unclassified" if t == 0 else NAMES[t]
        out.append(
            f"{100 * clade / 300:6.2f}\t{clade}\t{direct}\t{code}\t{t}\t{'  ' * depth}{name}\n"
        )
    (tmp_path / "r.k2report").write_text("".join(out))
    return read_report(tmp_path / "r.k2report", nodes=tmp_path / "nodes.dmp")


def test_several_genomes_per_species_use_their_own_reads(tmp_path):
    est = reestimate(_write(tmp_path), KD, level="S", threshold=5).set_index("taxonomy_id")
    # Hand-worked with Bracken's algorithm:
    #   est(A1) = 60 / 0.5 = 120, est(A2) = 30 / 0.5 = 60, est(B) = 90 / 0.6 = 150
    #   genus reads (100) shared in proportion to P(G|g) * est(g):
    #     A1 0.3 * 120 = 36, A2 0.1 * 60 = 6, B 0.2 * 150 = 30  (sum 72)
    #   A gets 100 * 42 / 72 = 58.33, B 100 * 30 / 72 = 41.67
    #   new_est A = 100 + 58.33 = 158.33 -> 158, B = 90 + 41.67 = 131.67 -> 132
    # (the old code: est(A1) = est(A2) = 100 / 0.5 = 200 -> A 72.7, B 27.3 -> 173 / 117)
    assert est.loc[1001, "added_reads"] == 58
    assert est.loc[1002, "added_reads"] == 42
    assert est.loc[1001, "new_est_reads"] == 158
    assert est.loc[1002, "new_est_reads"] == 132
    assert est.loc[1001, "fraction_total_reads"] == pytest.approx(158 / 290)
    assert est.attrs["reads_distributed"] == 100 and est.attrs["reads_not_distributed"] == 0


def test_genome_without_reads_of_its_own_gets_nothing(tmp_path):
    # A2 has no direct reads in this sample: est(A2) = 0, so P(A2) = 0 and its genus share is 0
    # A1 0.3 * 120 = 36, B 0.2 * 150 = 30 -> A 100 * 36 / 66 = 54.55, B 45.45
    rep = _write(tmp_path)
    rep = rep[rep["taxid"] != 9002]
    est = reestimate(rep, KD, level="S", threshold=5).set_index("taxonomy_id")
    assert est.loc[1001, "added_reads"] == 55
    assert est.loc[1002, "added_reads"] == 45
