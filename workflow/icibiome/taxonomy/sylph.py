"""Taxonomic profiling with sylph, through its Python bindings (pysylph).

sylph (Shaw & Yu, Nat Biotechnol 2024) sketches reads and reference genomes with FracMinHash
(k = 31, subsampling rate 1/c), estimates containment ANI corrected for coverage, and reports
per-genome *taxonomic abundance* (cell abundance: coverage normalised over the detected genomes)
and *sequence abundance* (share of the reads). pysylph wraps the same Rust code as the ``sylph``
command; the sylph CLI itself is not on any registry reachable here (see tool-notes §7).

The reads are sketched with the database's own ``c`` and ``k`` (read from the database), so a
database made by ``sylph sketch`` or by pysylph both work.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import pandas as pd
import pysam
import pysylph

from icibiome.io import atomic_path
from icibiome.taxonomy.profiles import write_sample_profile

logger = logging.getLogger(__name__)


class _Counter:
    """Iterate over the sequences of a FASTQ/FASTA file, counting them."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self.n = 0

    def __iter__(self):
        with pysam.FastxFile(self.path) as fh:
            for rec in fh:
                self.n += 1
                yield rec.sequence


def read_taxonomy(path: str | os.PathLike) -> dict[str, str]:
    """Read a ``genome_id -> lineage`` TSV (two columns, optional header line)."""
    df = pd.read_csv(path, sep="\t", header=None, dtype=str, comment="#")
    if df.shape[1] < 2:
        raise ValueError(f"{path}: expected two tab-separated columns genome_id, lineage")
    if df.iloc[0, 0] in ("genome_id", "genome", "contig_id"):
        df = df.iloc[1:]
    return dict(zip(df.iloc[:, 0].str.strip(), df.iloc[:, 1].str.strip(), strict=True))


def profile_sylph(
    sample: str,
    reads: list[str | os.PathLike],
    database: str | os.PathLike,
    taxonomy: str | os.PathLike,
    out_profile: str | os.PathLike,
    out_sylphmpa: str | os.PathLike,
    min_ani: float = 95.0,
    min_number_kmers: int = 50,
) -> pd.DataFrame:
    """Profile one sample's reads with sylph and write the per-sample standard profile.

    Parameters
    ----------
    sample : str
        Sample id (used in the MultiQC file).
    reads : list of path-like
        Non-host reads: ``[R1, R2]`` for paired samples, ``[reads]`` for single-end ones.
    database : path-like
        sylph database (``.syldb``).
    taxonomy : path-like
        ``genome_id -> lineage`` TSV covering every genome of the database.
    out_profile : path-like
        Per-sample standard profile (:mod:`icibiome.taxonomy.profiles`), with extra columns ``genome_id``,
        ``ani``, ``coverage``, ``sequence_abundance``.
    out_sylphmpa : path-like
        The same as a ``.sylphmpa`` file for MultiQC's sylphtax module.
    min_ani, min_number_kmers : float, int
        As ``sylph profile --minimum-ani`` and ``--min-number-kmers``.

    Notes
    -----
    ``estimate_unknown`` is on (``sylph profile -u``), so sequence abundances are percentages of
    *all* reads and the remainder is reported as unclassified; estimated reads per genome are
    sequence abundance x fragments sketched. A sample where nothing is detected gives a valid
    all-unclassified profile.
    """
    db = pysylph.Database.load(str(database))
    if len(db) == 0:
        raise ValueError(f"{database}: empty sylph database")
    c, k = db[0].c, db[0].k
    lineages = read_taxonomy(taxonomy)
    missing = sorted({g.name for g in db} - set(lineages))
    if missing:
        raise ValueError(
            f"{taxonomy}: no lineage for {len(missing)} database genome(s), e.g. {missing[:3]}"
        )
    if len(reads) not in (1, 2):
        raise ValueError(f"{sample}: expected 1 or 2 read files, got {len(reads)}")
    sketcher = pysylph.Sketcher(c=c, k=k)
    reads1 = _Counter(reads[0])
    if len(reads) == 2:
        sketch = sketcher.sketch_paired(sample, reads1, _Counter(reads[1]))
    else:
        sketch = sketcher.sketch_single(sample, reads1)
    n_frag = reads1.n
    profiler = pysylph.Profiler(
        db, minimum_ani=min_ani, estimate_unknown=True, min_number_kmers=min_number_kmers
    )
    hits = profiler.profile(sketch) if n_frag else []
    rows = [
        {
            "genome_id": h.genome_sketch.name,
            "lineage": lineages[h.genome_sketch.name],
            "relative_abundance": h.taxonomic_abundance,
            "estimated_reads": h.sequence_abundance / 100 * n_frag,
            "sequence_abundance": h.sequence_abundance,
            "ani": h.ani,
            "coverage": h.coverage,
        }
        for h in hits
    ]
    prof = pd.DataFrame(
        rows,
        columns=[
            "genome_id",
            "lineage",
            "relative_abundance",
            "estimated_reads",
            "sequence_abundance",
            "ani",
            "coverage",
        ],
    )
    # pysylph returns hits in thread-completion order: sort, and sum exactly (math.fsum), so a
    # profile is byte-identical between runs and thread counts
    prof = prof.sort_values("genome_id", kind="stable").reset_index(drop=True)
    prof = prof[
        [
            "lineage",
            "relative_abundance",
            "estimated_reads",
            "genome_id",
            "sequence_abundance",
            "ani",
            "coverage",
        ]
    ]
    classified = math.fsum(prof["estimated_reads"])
    if classified > n_frag:  # sequence abundances are rounded percentages; never exceed the input
        prof["estimated_reads"] *= n_frag / classified
        classified = math.fsum(prof["estimated_reads"])
    # the residual is rounded: pysylph's abundances may differ in the last bits between runs
    out = write_sample_profile(prof, round(n_frag - classified, 6), out_profile)
    logger.info(
        "%s: %d fragments sketched (c=%d, k=%d), %d genomes detected, %.1f%% of reads classified",
        sample,
        n_frag,
        c,
        k,
        len(prof),
        100 * classified / n_frag if n_frag else 0.0,
    )
    _write_sylphmpa(out, out_sylphmpa)
    return out


def _write_sylphmpa(profile: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write the sylph-tax style ``.sylphmpa`` table (clade, relative and sequence abundance)."""
    body = profile[profile["lineage"] != "UNCLASSIFIED"]
    rows: dict[str, list[float]] = {}
    for lin, rel, seq in zip(
        body["lineage"], body["relative_abundance"], body["sequence_abundance"], strict=True
    ):
        parts = lin.split("|")
        for i in range(1, len(parts) + 1):
            clade = "|".join(parts[:i])
            acc = rows.setdefault(clade, [0.0, 0.0])
            acc[0] += rel
            acc[1] += seq
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        fh.write("clade_name\trelative_abundance\tsequence_abundance\tANI (if strain-level)\n")
        for clade, (rel, seq) in rows.items():
            fh.write(f"{clade}\t{rel:.5f}\t{seq:.5f}\tNA\n")
    Path(path).touch()
