"""Synthetic protein-coding genes with function categories, planted in the demo genomes.

Private helper of :mod:`icibiome.demo.make`. The genes come from their own numpy generator (seeded
from the demo seed), so planting them leaves every other random draw of the demo unchanged; each
gene overwrites bases of the first :data:`~icibiome.demo.genomes.LOCUS_POS` bp of its genome (a
stretch with no 16S-like locus and no genus-shared segment), so genome lengths, abundances and
read counts stay the same.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome.demo.genomes import LOCUS_POS, revcomp, write_fasta
from icibiome.io import write_tsv

logger = logging.getLogger(__name__)

# Function categories of the panel (issue 5) and the TAXA indices that carry them. Guild roles
# follow Wu et al. (2024, Cell): the foundation guild ferments fibre into butyrate / SCFA and
# degrades complex carbohydrates; the pathobiont guild carries LPS biosynthesis, virulence and
# (some members) antibiotic resistance; bile-acid and tryptophan genes sit in non-guild taxa.
CATEGORIES: dict[str, tuple[int, ...]] = {
    "butyrate_scfa_production": (0, 2, 3, 4, 5, 12),
    "complex_carbohydrate_degradation": (0, 2, 3, 4, 5, 12),
    "lps_biosynthesis": (6, 7, 8, 10, 18),
    "virulence": (6, 7, 8, 10, 18),
    "antibiotic_resistance": (6, 18),
    "bile_acid_transformation": (9, 14),
    "tryptophan_metabolism": (13, 21),
}
GENE_STARTS = (1000, 3000, 5000, 7000)  # at most 4 genes per genome, all before LOCUS_POS
PROTEIN_LEN = (220, 320)  # amino acids, uniform; <= 600 codons fit between GENE_STARTS
VARIANT_DIVERGENCE = 0.25  # amino-acid substitutions of each taxon's variant from the family
GENE_SEED = 9173  # mixed with the demo seed: the genes' own random stream

AMINO = "ACDEFGHIKLMNPQRSTVWY"
# background amino-acid frequencies (UniProt, rounded; normalised below)
AA_FREQ = np.array(
    [8.3, 1.4, 5.5, 6.7, 3.9, 7.1, 2.3, 5.9, 5.8, 9.7, 2.4, 4.1, 4.7, 3.9, 5.5, 6.6, 5.4, 6.9,
     1.1, 2.9]
)  # fmt: skip
CODONS = {
    "A": ("GCT", "GCC", "GCA", "GCG"), "C": ("TGT", "TGC"), "D": ("GAT", "GAC"),
    "E": ("GAA", "GAG"), "F": ("TTT", "TTC"), "G": ("GGT", "GGC", "GGA", "GGG"),
    "H": ("CAT", "CAC"), "I": ("ATT", "ATC", "ATA"), "K": ("AAA", "AAG"),
    "L": ("TTA", "TTG", "CTT", "CTC", "CTA", "CTG"), "M": ("ATG",), "N": ("AAT", "AAC"),
    "P": ("CCT", "CCC", "CCA", "CCG"), "Q": ("CAA", "CAG"),
    "R": ("CGT", "CGC", "CGA", "CGG", "AGA", "AGG"), "S": ("TCT", "TCC", "TCA", "TCG", "AGT", "AGC"),
    "T": ("ACT", "ACC", "ACA", "ACG"), "V": ("GTT", "GTC", "GTA", "GTG"), "W": ("TGG",),
    "Y": ("TAT", "TAC"),
}  # fmt: skip


def _protein(rng: np.random.Generator, n: int) -> np.ndarray:
    p = AA_FREQ / AA_FREQ.sum()
    aa = rng.choice(np.array(list(AMINO)), size=n, p=p)
    aa[0] = "M"
    return aa


def _variant(rng: np.random.Generator, family: np.ndarray, rate: float) -> np.ndarray:
    out = family.copy()
    hit = rng.random(len(out)) < rate
    hit[0] = False
    p = AA_FREQ / AA_FREQ.sum()
    out[hit] = rng.choice(np.array(list(AMINO)), size=int(hit.sum()), p=p)
    return out


def _encode(rng: np.random.Generator, protein: np.ndarray) -> str:
    """A random synonymous coding sequence of ``protein`` plus a stop codon."""
    codons = [CODONS[a][rng.integers(len(CODONS[a]))] for a in protein]
    return "".join(codons) + ("TAA", "TAG", "TGA")[rng.integers(3)]


def plant_function_genes(
    seed: int, tax: pd.DataFrame, genomes: dict[str, str]
) -> tuple[dict[str, str], pd.DataFrame, dict[str, str]]:
    """Overwrite stretches of the genomes with protein-coding genes of known function categories.

    Parameters
    ----------
    seed : int
        The demo seed; the genes use ``numpy.random.default_rng([seed, GENE_SEED])``.
    tax : DataFrame
        :func:`icibiome.demo.genomes.make_genomes` taxonomy (``genome_id``, ``species``,
        ``lineage``, ``guild``).
    genomes : dict
        ``genome_id -> sequence``; not modified.

    Returns
    -------
    genomes : dict
        The genomes with the genes written in (same lengths).
    genes : DataFrame
        One row per planted gene: ``protein_id, category, taxon, lineage, genome_id, guild, start,
        end, strand, length_aa`` (``start``/``end`` 0-based half-open genome coordinates).
    proteins : dict
        ``protein_id -> amino-acid sequence`` (the panel FASTA).

    Notes
    -----
    Each category is a protein family: an ancestral sequence of 220-320 amino acids (background
    UniProt composition) and, per carrying taxon (:data:`CATEGORIES`), a variant with 25 %
    amino-acid substitutions, encoded with random synonymous codons on a random strand. Variants
    of one family share about 56 % of their residues and almost no DNA k-mers, so a read's best
    DIAMOND hit names its taxon while k-mer classifiers see no shared sequence between genomes.
    """
    rng = np.random.default_rng([seed, GENE_SEED])
    present = set(tax["genome_id"])
    genomes = dict(genomes)
    slots: dict[str, int] = {}
    rows, proteins = [], {}
    by_gid = tax.set_index("genome_id")
    for category, carriers in CATEGORIES.items():
        family = _protein(rng, int(rng.integers(PROTEIN_LEN[0], PROTEIN_LEN[1] + 1)))
        for i in carriers:
            # drawn for every carrier, so a smaller community keeps the same sequences
            aa = _variant(rng, family, VARIANT_DIVERGENCE)
            gene = _encode(rng, aa)
            strand = "+" if rng.random() < 0.5 else "-"
            gid = f"G{i + 1:02d}"
            if gid not in present:
                continue
            slot = slots.get(gid, 0)
            slots[gid] = slot + 1
            start = GENE_STARTS[slot]
            end = start + len(gene)
            if end > LOCUS_POS:
                raise ValueError(f"gene of {category} in {gid} would overlap the 16S-like locus")
            seq = genomes[gid]
            genomes[gid] = seq[:start] + (gene if strand == "+" else revcomp(gene)) + seq[end:]
            species = by_gid.at[gid, "species"]
            pid = f"{gid}_{category}"
            proteins[pid] = "".join(aa)
            rows.append(
                {
                    "protein_id": pid,
                    "category": category,
                    "taxon": f"s__{species}",
                    "lineage": by_gid.at[gid, "lineage"],
                    "genome_id": gid,
                    "guild": by_gid.at[gid, "guild"],
                    "start": start,
                    "end": end,
                    "strand": strand,
                    "length_aa": len(aa),
                }
            )
    return genomes, pd.DataFrame(rows), proteins


def write_function_panel(genes: pd.DataFrame, proteins: dict[str, str], stage: Path) -> None:
    """Write the panel (``functions/panel.faa``, ``functions/panel_categories.tsv``) and the truth.

    The truth is ``truth/function_genes.tsv`` (every planted gene with its coordinates) and
    ``truth/function_guilds.tsv`` (``category, guild, n_taxa``: the guild that carries each
    category, ``none`` for non-guild taxa).
    """
    (stage / "functions").mkdir(parents=True, exist_ok=True)
    write_fasta(stage / "functions" / "panel.faa", proteins, width=60)
    write_tsv(
        genes[["protein_id", "category", "taxon", "lineage"]],
        stage / "functions" / "panel_categories.tsv",
    )
    write_tsv(genes, stage / "truth" / "function_genes.tsv")
    carriers = genes.groupby(["category", "guild"], sort=False).size().rename("n_taxa")
    write_tsv(carriers.reset_index(), stage / "truth" / "function_guilds.tsv")
    logger.info(
        "function panel: %d proteins in %d categories", len(proteins), genes["category"].nunique()
    )
