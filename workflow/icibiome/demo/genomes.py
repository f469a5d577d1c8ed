"""Synthetic reference genomes, their written taxonomy and 16S-like loci, for :mod:`icibiome.demo.make`.

Private helper of :mod:`icibiome.demo.make`; everything is drawn from the numpy generator passed in.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from icibiome import RANK_PREFIX, RANKS

logger = logging.getLogger(__name__)

ACGT = np.frombuffer(b"ACGT", dtype=np.uint8)
COMP_LUT = np.zeros(256, dtype=np.uint8)
COMP_LUT[list(b"ACGTN")] = list(b"TGCAN")

# 515F (GTGYCAGCMGCCGCGGTAA) and the reverse complement of 806R (GGACTACNVGGGTWTCTAAT), degenerate
# bases resolved; placed at their E. coli 16S coordinates so the amplicon is the usual ~290 bp V4.
PRIMER_515F = "GTGCCAGCAGCCGCGGTAA"
PRIMER_806R_RC = "ATTAGATACCCTGGTAGTCC"
PRIMER_SITES = ((514, PRIMER_515F), (786, PRIMER_806R_RC))
# Hypervariable regions V1-V9 (approximate E. coli coordinates, 0-based half-open) of a 1500 bp locus.
V_REGIONS = (
    (68, 99),
    (136, 242),
    (432, 497),
    (575, 682),
    (821, 879),
    (985, 1043),
    (1116, 1173),
    (1242, 1294),
    (1434, 1465),
)
LOCUS_LEN = 1500
LOCUS_POS = 10_000  # where the 16S-like locus is inserted in every genome

# phylum, class, order, family, genus, species epithet, guild
# fmt: off
TAXA: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    ("Bacillota", "Clostridia", "Eubacteriales", "Oscillospiraceae", "Faecalisynthus", "prausnitzii", "foundation"),
    ("Bacillota", "Clostridia", "Eubacteriales", "Oscillospiraceae", "Faecalisynthus", "duncanii", "none"),
    ("Bacillota", "Clostridia", "Eubacteriales", "Lachnospiraceae", "Roseburisynth", "intestinalis", "foundation"),
    ("Bacillota", "Clostridia", "Eubacteriales", "Lachnospiraceae", "Roseburisynth", "hominis", "foundation"),
    ("Bacillota", "Clostridia", "Eubacteriales", "Lachnospiraceae", "Roseburisynth", "inulinivorans", "foundation"),
    ("Bacillota", "Clostridia", "Eubacteriales", "Lachnospiraceae", "Butyrivibrio", "synthicus", "foundation"),
    ("Bacillota", "Clostridia", "Eubacteriales", "Lachnospiraceae", "Enterosynth", "bolteae", "pathobiont"),
    ("Bacillota", "Clostridia", "Eubacteriales", "Lachnospiraceae", "Enterosynth", "clostridioformis", "pathobiont"),
    ("Bacillota", "Clostridia", "Eubacteriales", "Lachnospiraceae", "Hungasynth", "hathewayi", "pathobiont"),
    ("Bacillota", "Erysipelotrichia", "Erysipelotrichales", "Erysipelotrichaceae", "Erysisynth", "ramosum", "none"),
    ("Bacillota", "Negativicutes", "Veillonellales", "Veillonellaceae", "Veillosynth", "atypica", "pathobiont"),
    ("Bacillota", "Bacilli", "Lactobacillales", "Streptococcaceae", "Streptosynth", "salivarius", "none"),
    ("Bacteroidota", "Bacteroidia", "Bacteroidales", "Bacteroidaceae", "Bacterosynth", "uniformis", "foundation"),
    ("Bacteroidota", "Bacteroidia", "Bacteroidales", "Bacteroidaceae", "Bacterosynth", "ovatus", "none"),
    ("Bacteroidota", "Bacteroidia", "Bacteroidales", "Bacteroidaceae", "Bacterosynth", "fragilis", "none"),
    ("Bacteroidota", "Bacteroidia", "Bacteroidales", "Bacteroidaceae", "Phocaesynth", "vulgatus", "none"),
    ("Bacteroidota", "Bacteroidia", "Bacteroidales", "Prevotellaceae", "Prevosynth", "copri", "none"),
    ("Bacteroidota", "Bacteroidia", "Bacteroidales", "Rikenellaceae", "Alistisynth", "putredinis", "none"),
    ("Pseudomonadota", "Gammaproteobacteria", "Enterobacterales", "Enterobacteriaceae", "Eschesynth", "coli", "pathobiont"),
    ("Pseudomonadota", "Gammaproteobacteria", "Enterobacterales", "Enterobacteriaceae", "Klebsisynth", "pneumoniae", "none"),
    ("Pseudomonadota", "Gammaproteobacteria", "Enterobacterales", "Enterobacteriaceae", "Klebsisynth", "oxytoca", "none"),
    ("Pseudomonadota", "Betaproteobacteria", "Burkholderiales", "Sutterellaceae", "Suttesynth", "wadsworthensis", "none"),
    ("Verrucomicrobiota", "Verrucomicrobiia", "Verrucomicrobiales", "Akkermansiaceae", "Akkersynth", "muciniphila", "none"),
    ("Verrucomicrobiota", "Verrucomicrobiia", "Verrucomicrobiales", "Akkermansiaceae", "Akkersynth", "glycaniphila", "none"),
)
# fmt: on
"""The demo community: 24 species in 4 phyla; 6 foundation and 5 pathobiont guild members."""

# The order in which taxa are kept when a smaller community is asked for (``n_genomes``): both
# guilds and a congeneric pair come first, so a 6-genome demo still has the planted structure.
SUBSET_ORDER = (
    0,
    1,
    6,
    12,
    18,
    22,
    2,
    7,
    3,
    10,
    19,
    13,
    5,
    8,
    4,
    14,
    9,
    20,
    11,
    15,
    16,
    17,
    21,
    23,
)


def revcomp(seq: str) -> str:
    """Reverse complement of a DNA string (ACGTN).

    Examples
    --------
    >>> revcomp("AACGTN")
    'NACGTT'
    """
    return COMP_LUT[np.frombuffer(seq.encode(), dtype=np.uint8)[::-1]].tobytes().decode()


def random_seq(rng: np.random.Generator, n: int, gc: float) -> np.ndarray:
    """``n`` i.i.d. bases (uint8 ASCII codes) with GC content ``gc``."""
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return rng.choice(ACGT, size=n, p=p)


def mutate(
    rng: np.random.Generator,
    seq: np.ndarray,
    rate: float | np.ndarray,
    keep: np.ndarray | None = None,
) -> np.ndarray:
    """Substitute each base with probability ``rate`` (scalar or per-base) by another base.

    Bases where ``keep`` is True are never changed.
    """
    out = seq.copy()
    hit = rng.random(len(seq)) < rate
    if keep is not None:
        hit &= ~keep
    shift = rng.integers(1, 4, size=int(hit.sum()))
    idx = np.searchsorted(ACGT, out[hit])
    out[hit] = ACGT[(idx + shift) % 4]
    return out


def _locus_masks() -> tuple[np.ndarray, np.ndarray]:
    """(variable-region mask, primer-site mask) of the 16S-like locus."""
    var = np.zeros(LOCUS_LEN, dtype=bool)
    for a, b in V_REGIONS:
        var[a:b] = True
    primer = np.zeros(LOCUS_LEN, dtype=bool)
    for pos, p in PRIMER_SITES:
        primer[pos : pos + len(p)] = True
    return var, primer


def select_taxa(n_genomes: int) -> list[int]:
    """Indices into :data:`TAXA` of the community with ``n_genomes`` members, in TAXA order."""
    if not 4 <= n_genomes <= len(TAXA):
        raise ValueError(f"n_genomes must be between 4 and {len(TAXA)}, got {n_genomes}")
    return sorted(SUBSET_ORDER[:n_genomes])


def make_genomes(
    rng: np.random.Generator, n_genomes: int = len(TAXA)
) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """Make the reference genomes, their taxonomy, and one 16S-like locus per genome.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all randomness.
    n_genomes : int
        Community size (4-24); see :data:`SUBSET_ORDER`.

    Returns
    -------
    taxonomy : DataFrame
        ``genome_id, taxid, kingdom, phylum, class, order, family, genus, species, lineage,
        length, guild, gc``.
    genomes : dict
        ``genome_id -> sequence``.
    loci : dict
        ``genome_id -> 16S-like locus`` (also embedded in the genome at :data:`LOCUS_POS`).

    Notes
    -----
    * GC content is drawn per phylum (uniform 35-60 %) with a small genus jitter.
    * Each genus has an i.i.d. ancestor of 110-150 kb. A species is the ancestor with 4-7 %
      substitutions, except six 3 kb segments kept identical across the genus, truncated by up to
      8 kb: congeneric species share sequence (k-mer LCA classification has genus-level
      ambiguity) but stay below 95 % ANI (about 88-92 % between two species).
    * The 16S-like locus is a 1500 bp backbone shared by all genomes with hypervariable regions at
      the E. coli V1-V9 coordinates: per genus 25 % substitutions in the variable regions and 2 %
      elsewhere, per species a further 4 % / 0.3 %; the 515F / 806R primer sites are identical in
      all loci (Caporaso et al. 2011, PNAS 108:4516; Apprill et al. 2015).
    """
    idx = select_taxa(n_genomes)
    phyla = sorted({TAXA[i][0] for i in range(len(TAXA))})
    phylum_gc = dict(zip(phyla, rng.uniform(0.35, 0.60, len(phyla)), strict=True))
    backbone = random_seq(rng, LOCUS_LEN, 0.53)
    var, primer = _locus_masks()
    for pos, p in PRIMER_SITES:
        backbone[pos : pos + len(p)] = np.frombuffer(p.encode(), dtype=np.uint8)
    ancestors: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, float]] = {}
    rows, genomes, loci = [], {}, {}
    for i in idx:
        phy, cls, order, fam, genus, epithet, guild = TAXA[i]
        if genus not in ancestors:
            gc = float(np.clip(phylum_gc[phy] + rng.normal(0, 0.02), 0.35, 0.60))
            anc = random_seq(rng, int(rng.integers(110_000, 150_001)), gc)
            keep = np.zeros(len(anc), dtype=bool)
            for start in rng.integers(LOCUS_POS + 1000, len(anc) - 12_000, size=6):
                keep[start : start + 3000] = True
            locus_g = mutate(rng, backbone, np.where(var, 0.25, 0.02), keep=primer)
            ancestors[genus] = (anc, keep, locus_g, gc)
        anc, keep, locus_g, gc = ancestors[genus]
        seq = mutate(rng, anc, float(rng.uniform(0.04, 0.07)), keep=keep)
        seq = seq[: len(seq) - int(rng.integers(0, 8001))]
        locus = mutate(rng, locus_g, np.where(var, 0.04, 0.003), keep=primer)
        full = np.concatenate([seq[:LOCUS_POS], locus, seq[LOCUS_POS:]])
        gid = f"G{i + 1:02d}"
        genomes[gid] = full.tobytes().decode()
        loci[gid] = locus.tobytes().decode()
        species = f"{genus}_{epithet}"
        values = ("Bacteria", phy, cls, order, fam, genus, species)
        rows.append(
            {
                "genome_id": gid,
                "taxid": 1000 + i + 1,
                **dict(zip(RANKS, values, strict=True)),
                "lineage": "|".join(
                    f"{RANK_PREFIX[r]}{v}" for r, v in zip(RANKS, values, strict=True)
                ),
                "length": len(full),
                "guild": guild,
                "gc": round(gc, 3),
            }
        )
    return pd.DataFrame(rows), genomes, loci


def make_host(rng: np.random.Generator, n_chrom: int = 2, length: int = 150_000) -> dict[str, str]:
    """A host decoy genome: ``n_chrom`` i.i.d. chromosomes (GC 41 %, as the human genome)."""
    return {
        f"HOST_chr{c}": random_seq(rng, length, 0.41).tobytes().decode()
        for c in range(1, n_chrom + 1)
    }


def write_fasta(path, records: dict[str, str], width: int = 80) -> None:
    """Write ``records`` (id -> sequence) as FASTA with ``width``-column lines."""
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name}\n")
            fh.writelines(seq[i : i + width] + "\n" for i in range(0, len(seq), width))
