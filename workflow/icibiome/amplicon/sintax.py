"""Taxonomy of the ASVs: SINTAX (vsearch) classification, its output, and SINTAX references."""

from __future__ import annotations

import gzip
import logging
import os
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from icibiome import RANK_PREFIX, RANKS
from icibiome.amplicon.runner import need_tool, run_tool
from icibiome.amplicon.sequences import extract_amplicon, read_fasta, write_fasta
from icibiome.io import UNCLASSIFIED, atomic_path

logger = logging.getLogger(__name__)


SINTAX_RANKS = {
    "d": "kingdom",
    "k": "kingdom",
    "p": "phylum",
    "c": "class",
    "o": "order",
    "f": "family",
    "g": "genus",
    "s": "species",
}
"""SINTAX rank letters -> project ranks (the domain ``d:`` is the standard tables' ``k__``)."""


RANK_LETTER = {
    "kingdom": "d",
    "phylum": "p",
    "class": "c",
    "order": "o",
    "family": "f",
    "genus": "g",
    "species": "s",
}
"""Project rank -> SINTAX letter used when writing references."""


# --------------------------------------------------------------------------------------------
# step 6: taxonomy (SINTAX)
# --------------------------------------------------------------------------------------------
def vsearch_sintax(
    asv_fasta: str | os.PathLike,
    reference: str | os.PathLike,
    out: str | os.PathLike,
    *,
    cutoff: float = 0.8,
    seed: int = 1,
    log: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Classify ASVs with SINTAX (``vsearch --sintax``) against a SINTAX-format reference.

    Parameters
    ----------
    asv_fasta : path-like
        ASV sequences.
    reference : path-like
        FASTA with headers ``>id;tax=d:Bacteria,p:...,g:Genus,s:Genus_species;`` (gzip allowed).
    out : path-like
        vsearch's ``--tabbedout`` table (ASV, per-rank names with bootstrap confidences, strand,
        names passing ``cutoff``).
    cutoff : float
        ``--sintax_cutoff``; :func:`asv_table_to_standard` applies its own cut-off to the
        confidences, so the pipeline can change it without rerunning SINTAX.
    seed : int
        ``--randseed``; with one thread SINTAX's bootstrap is then reproducible.
    log : path-like, optional
        vsearch's messages.

    Returns
    -------
    DataFrame
        :func:`read_sintax` of the output.

    Notes
    -----
    SINTAX (Edgar 2016, bioRxiv 074161) predicts the taxonomy of the reference sequence with the
    most shared 8-mers over 100 bootstrap subsets of 32 k-mers; the confidence of a rank is the
    fraction of subsets agreeing with the top hit at that rank.
    """
    need_tool("vsearch")
    with atomic_path(out) as tmp:
        run_tool(
            [
                "vsearch",
                "--sintax",
                asv_fasta,
                "--db",
                reference,
                "--tabbedout",
                tmp,
                "--sintax_cutoff",
                cutoff,
                "--strand",
                "plus",
                "--randseed",
                seed,
                "--threads",
                1,
                "--no_progress",
            ],
            log,
        )
    return read_sintax(out)


_SINTAX_FIELD = re.compile(r"([a-z]):([^,()]+)\(([0-9.]+)\)")


def read_sintax(path: str | os.PathLike) -> pd.DataFrame:
    """Parse a SINTAX ``--tabbedout`` table into one row per ASV.

    Returns
    -------
    DataFrame
        Index ``asv_id`` (size annotations stripped); for each rank of :data:`icibiome.RANKS`
        a ``<rank>`` name column and a ``<rank>_conf`` confidence column (NaN where the
        reference has no such rank or the ASV had no hit).
    """
    rows = {}
    with open(path) as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if not parts[0]:
                continue
            asv = parts[0].split(";", 1)[0]
            rec: dict[str, object] = {}
            for letter, name, conf in _SINTAX_FIELD.findall(parts[1] if len(parts) > 1 else ""):
                rank = SINTAX_RANKS.get(letter)
                if rank is None or (rank in rec and letter != "d"):  # d: wins over k:
                    continue
                rec[rank] = name.strip().replace(" ", "_")
                rec[f"{rank}_conf"] = float(conf)
            rows[asv] = rec
    cols = [c for r in RANKS for c in (r, f"{r}_conf")]
    df = pd.DataFrame(list(rows.values()), index=list(rows), columns=cols)
    df.index.name = "asv_id"
    for r in RANKS:
        df[f"{r}_conf"] = df[f"{r}_conf"].astype(float)
    return df


def sintax_lineages(sintax: pd.DataFrame, cutoff: float = 0.8) -> pd.Series:
    """ASV -> MetaPhlAn-style lineage of the ranks whose SINTAX confidence is >= ``cutoff``.

    The lineage stops at the first rank below the cut-off (SINTAX confidences never rise down
    the ranks); an ASV without a confident kingdom is ``UNCLASSIFIED``. Ranks absent from the
    reference are skipped.

    Examples
    --------
    >>> s = pd.DataFrame({"kingdom": ["Bacteria"], "kingdom_conf": [1.0], "phylum": ["Bacillota"],
    ...                   "phylum_conf": [0.9], "genus": ["Blautia"], "genus_conf": [0.5]},
    ...                  index=pd.Index(["ASV1"], name="asv_id"))
    >>> sintax_lineages(s, 0.8).tolist()
    ['k__Bacteria|p__Bacillota']
    """
    out = {}
    for asv, row in sintax.iterrows():
        parts = []
        for r in RANKS:
            name, conf = row.get(r), row.get(f"{r}_conf")
            if name is None or (isinstance(name, float) and np.isnan(name)):
                continue
            if conf is None or np.isnan(conf) or conf < cutoff:
                break
            parts.append(f"{RANK_PREFIX[r]}{name}")
        out[asv] = "|".join(parts) if parts and parts[0].startswith("k__") else UNCLASSIFIED
    return pd.Series(out, name="lineage", dtype=object).rename_axis("asv_id")


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------
def _sintax_header(seq_id: str, names: Mapping[str, str]) -> str:
    fields = []
    for rank in RANKS:
        name = names.get(rank)
        if name is None or (isinstance(name, float) and np.isnan(name)) or str(name) == "":
            continue
        clean = re.sub(r"[,;:\s]+", "_", str(name))
        fields.append(f"{RANK_LETTER[rank]}:{clean}")
    return f"{seq_id};tax={','.join(fields)};"


def sintax_reference_from_taxonomy(
    fasta: str | os.PathLike,
    taxonomy_tsv: str | os.PathLike,
    out: str | os.PathLike,
    *,
    id_column: str = "genome_id",
    primers: tuple[str, str] | None = None,
) -> int:
    """Write a SINTAX reference from sequences and a taxonomy table (e.g. the demo's 16S loci).

    Parameters
    ----------
    fasta : path-like
        Reference sequences (e.g. ``reference/16s.fa`` of :func:`icibiome.demo.make.make_demo`).
    taxonomy_tsv : path-like
        Table with ``id_column`` and rank columns (``kingdom`` ... ``species``).
    out : path-like
        SINTAX FASTA (``>id;tax=d:...,p:...,...,s:...;``).
    id_column : str
        Column matching the FASTA ids.
    primers : (str, str), optional
        Keep only the region between this primer pair (:func:`extract_amplicon`); sequences
        without both sites are dropped. Trimming a reference to the amplified region is
        recommended for short amplicons (Werner et al. 2012, ISME J 6:94).

    Returns
    -------
    int
        Sequences written.
    """
    seqs = read_fasta(fasta)
    tax = pd.read_csv(taxonomy_tsv, sep="\t", dtype=str).set_index(id_column)
    records = {}
    for sid, seq in seqs.items():
        if sid not in tax.index:
            logger.warning("%s: no taxonomy, left out of the reference", sid)
            continue
        if primers is not None:
            seq = extract_amplicon(seq, *primers)
            if seq is None:
                logger.warning("%s: primer sites not found, left out of the reference", sid)
                continue
        records[_sintax_header(sid, tax.loc[sid].to_dict())] = seq
    write_fasta(records, out)
    return len(records)


def sintax_reference_from_dada2(
    train_set: str | os.PathLike,
    out: str | os.PathLike,
    ranks: Sequence[str] = RANKS,
) -> int:
    """Convert a DADA2 ``assignTaxonomy`` training FASTA (``>Kingdom;Phylum;...;Genus;``) to SINTAX.

    Records are named ``ref1``, ``ref2``, ... in file order; the ``;``-separated names fill
    ``ranks`` in order (a training set without species fills kingdom..genus).

    Returns
    -------
    int
        Sequences written.
    """
    records = {}
    opener = gzip.open if str(train_set).endswith(".gz") else open
    with opener(train_set, "rt") as fh:
        header, parts, n = None, [], 0

        def flush():
            if header is not None:
                names = [x.strip() for x in header.split(";") if x.strip()]
                sid = f"ref{n}"
                records[_sintax_header(sid, dict(zip(ranks, names, strict=False)))] = "".join(parts)

        for line in fh:
            line = line.rstrip("\r\n")
            if line.startswith(">"):
                flush()
                n += 1
                header, parts = line[1:], []
            elif line:
                parts.append(line.strip().upper())
        flush()
    write_fasta(records, out)
    return len(records)
