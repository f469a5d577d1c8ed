"""Bracken's species-level abundance re-estimation of Kraken2 reports, in the library.

Kraken2 (:mod:`icibiome.taxonomy.kraken`) leaves the reads of species with close relatives in
the database at genus or above. Bracken (Lu, Breitwieser, Thielen & Salzberg, PeerJ Comput Sci
2017) redistributes those reads to species with a Bayesian estimate that uses, for every genome
of the database, the fraction of its own read-length windows that Kraken2 places at each taxon
(the "k-mer distribution").

Bracken is not packaged for Debian or PyPI (tool-notes §F2); this module re-implements it on
top of the real ``kraken2`` binary:

* :func:`build_kmer_distribution` makes the database's k-mer distribution file
  (``database<read_len>mers.kmer_distrib``, Bracken's format);
* :func:`reestimate` applies Bracken's re-estimation to one Kraken2 report;
* :func:`kraken_to_standard` writes the result as the project's per-sample profile
  (:mod:`icibiome.taxonomy.profiles`), which :func:`icibiome.taxonomy.profiles.merge_profiles` turns into the
  standard tables (as for sylph).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome.io import atomic_path
from icibiome.taxonomy.kraken import (
    KrakenReportError,
    fix_report_rank_codes,
    read_report,
    report_totals,
)

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Bracken: k-mer distribution of the database
# --------------------------------------------------------------------------------------------
def _genome_taxids(genomes_fasta, taxonomy) -> dict[str, int]:
    """``sequence id -> taxid`` from a taxonomy table or from ``kraken:taxid|N`` headers."""
    mapping: dict[str, int] = {}
    if taxonomy is not None:
        tax = pd.read_csv(taxonomy, sep="\t", dtype=str)
        idcol = next((c for c in ("genome_id", "seqid", "accession") if c in tax.columns), None)
        if idcol is None or "taxid" not in tax.columns:
            raise KrakenReportError(
                f"{taxonomy}: need columns genome_id (or seqid) and taxid; have {list(tax.columns)}"
            )
        mapping = {g.strip(): int(t) for g, t in zip(tax[idcol], tax["taxid"], strict=True)}
    return mapping


def _iter_fasta(path):
    import pysam

    with pysam.FastxFile(str(path)) as fh:
        for rec in fh:
            yield rec.name, (rec.comment or ""), rec.sequence.upper()


def build_kmer_distribution(
    kraken2_db: str | os.PathLike,
    genomes_fasta: str | os.PathLike,
    taxonomy: str | os.PathLike | None,
    read_len: int,
    out: str | os.PathLike,
    step: int = 1,
    threads: int = 1,
    kraken_args: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Make Bracken's k-mer distribution file for a Kraken2 database, with the real ``kraken2``.

    Every read-length window of every database genome (starting every ``step`` bases) is
    classified with ``kraken2`` against the database; for each genome taxid ``g`` and each taxon
    ``t`` the file records how many of ``g``'s windows Kraken2 places at ``t`` and how many
    windows ``g`` has, i.e. P(a read from g is classified at t).

    Parameters
    ----------
    kraken2_db : path-like
        The Kraken2 database folder (``hash.k2d`` etc.).
    genomes_fasta : path-like
        The sequences the database was built from (its library; ``kraken2-build --clean``
        deletes the copy inside the database).
    taxonomy : path-like or None
        TSV with ``genome_id`` (= FASTA id) and ``taxid`` columns (e.g. the demo's
        ``reference/taxonomy.tsv``); ``None`` reads ``kraken:taxid|N`` from the FASTA ids.
    read_len : int
        Read length of the samples to re-estimate (Bracken builds one file per read length).
    out : path-like
        Output; Bracken names it ``database<read_len>mers.kmer_distrib``.
    step : int
        Distance between window starts. Bracken's ``kmer2read_distr`` uses every position
        (``step=1``, the default); a larger step samples the same distribution, faster.
    threads : int
        ``kraken2 --threads``.
    kraken_args : tuple of str
        Extra ``kraken2`` options; use the ones the samples are classified with (e.g.
        ``("--confidence", "0.1")``), since the distribution depends on them.

    Returns
    -------
    DataFrame
        Long form: ``mapped_taxid``, ``genome_taxid``, ``windows_mapped``, ``windows_total``.

    Notes
    -----
    Bracken (Lu et al. 2017, §"Bracken" and its ``bracken-build``) runs ``kraken2`` on the
    library sequences to get each sequence's k-mer LCA list, then ``kmer2read_distr`` computes,
    for every read-length window, the taxon Kraken would assign from those k-mers, and
    ``generate_kmer_distribution.py`` sums the windows per (genome taxid, assigned taxon). Here
    the windows are classified by ``kraken2`` itself, which applies exactly Kraken2's
    classification (minimizers, spaced seeds, confidence, hit groups) rather than a
    re-implementation of it. Windows Kraken2 leaves unclassified count in a genome's total.
    Windows containing non-ACGT characters are skipped, as Kraken cannot place them either.
    The output has Bracken's format: a header line
    ``mapped_taxid<TAB>genome_taxids:kmers_mapped:total_genome_kmers`` then one line per mapped
    taxid, ``<taxid><TAB><g>:<n>:<total> <g>:<n>:<total> ...``.

    References
    ----------
    .. [1] Lu J, Breitwieser FP, Thielen P, Salzberg SL. Bracken: estimating species abundance
       in metagenomics data. PeerJ Comput Sci 2017;3:e104. doi:10.7717/peerj-cs.104
    .. [2] Wood DE, Lu J, Langmead B. Improved metagenomic analysis with Kraken 2. Genome Biol
       2019;20:257.
    """
    import shutil
    import subprocess
    import threading

    if read_len < 1 or step < 1:
        raise ValueError("read_len and step must be >= 1")
    if shutil.which("kraken2") is None:
        raise FileNotFoundError("kraken2 is not on PATH")
    db = Path(kraken2_db)
    if not (db / "hash.k2d").exists():
        raise FileNotFoundError(f"{db}: not a Kraken2 database (no hash.k2d)")
    seq2tax = _genome_taxids(genomes_fasta, taxonomy)
    # windows per genome taxid; unclassified windows count in the total
    totals: dict[int, int] = {}
    cmd = ["kraken2", "--db", str(db), "--threads", str(threads), *kraken_args, "/dev/stdin"]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    err_chunks: list[bytes] = []

    def feed() -> None:
        try:
            for name, comment, seq in _iter_fasta(genomes_fasta):
                m = re.search(r"kraken:taxid\|(\d+)", name + " " + comment)
                if name in seq2tax:
                    gtax = seq2tax[name]
                elif m:
                    gtax = int(m.group(1))
                else:
                    raise KrakenReportError(
                        f"{genomes_fasta}: sequence {name!r} has no taxid (not in {taxonomy} "
                        "and no kraken:taxid|N in its header)"
                    )
                n = 0
                buf = []
                for i in range(0, max(0, len(seq) - read_len) + 1, step):
                    w = seq[i : i + read_len]
                    if len(w) < read_len or re.search(r"[^ACGT]", w):
                        continue
                    buf.append(f">{gtax}_{n}\n{w}\n")
                    n += 1
                    if len(buf) >= 5000:
                        proc.stdin.write("".join(buf).encode())
                        buf = []
                if buf:
                    proc.stdin.write("".join(buf).encode())
                totals[gtax] = totals.get(gtax, 0) + n
        finally:
            proc.stdin.close()

    def drain_err() -> None:
        err_chunks.append(proc.stderr.read())

    feeder = threading.Thread(target=feed)
    errt = threading.Thread(target=drain_err)
    feeder.start()
    errt.start()
    counts: dict[tuple[int, int], int] = {}
    for line in proc.stdout:
        f = line.split(b"\t", 3)
        if len(f) < 3:
            continue
        gtax = int(f[1].split(b"_", 1)[0])
        key = (int(f[2]), gtax)
        counts[key] = counts.get(key, 0) + 1
    feeder.join()
    rc = proc.wait()
    errt.join()
    if rc != 0:
        msg = b"".join(err_chunks).decode(errors="replace")[-2000:]
        raise RuntimeError(f"kraken2 failed on the database windows (exit {rc}): {msg}")
    if not totals:
        raise KrakenReportError(f"{genomes_fasta}: no sequence of length >= {read_len}")
    rows = [
        {"mapped_taxid": t, "genome_taxid": g, "windows_mapped": n, "windows_total": totals[g]}
        for (t, g), n in counts.items()
        if t != 0
    ]
    long = pd.DataFrame(rows).sort_values(["mapped_taxid", "genome_taxid"], ignore_index=True)
    lines = ["mapped_taxid\tgenome_taxids:kmers_mapped:total_genome_kmers\n"]
    for t, grp in long.groupby("mapped_taxid", sort=True):
        body = " ".join(
            f"{g}:{n}:{tot}"
            for g, n, tot in zip(
                grp["genome_taxid"], grp["windows_mapped"], grp["windows_total"], strict=True
            )
        )
        lines.append(f"{t}\t{body}\n")
    with atomic_path(out) as tmp:
        tmp.write_text("".join(lines))
    logger.info(
        "k-mer distribution: %d genome taxa, %d windows, %d mapped taxa -> %s",
        len(totals),
        sum(totals.values()),
        long["mapped_taxid"].nunique(),
        out,
    )
    return long


def read_kmer_distribution(path: str | os.PathLike) -> dict[int, dict[int, float]]:
    """Read a Bracken ``.kmer_distrib`` file: ``mapped taxid -> {genome taxid: fraction}``."""
    out: dict[int, dict[int, float]] = {}
    with open(path) as fh:
        header = fh.readline()
        if not header.startswith("mapped_taxid"):
            raise KrakenReportError(f"{path}: not a Bracken k-mer distribution file")
        for lineno, line in enumerate(fh, 2):
            if not line.strip():
                continue
            try:
                t, body = line.rstrip("\n").split("\t")
                d = {}
                for item in body.split():
                    g, n, tot = item.split(":")
                    d[int(g)] = float(n) / float(tot)
                out[int(t)] = d
            except ValueError as err:
                raise KrakenReportError(f"{path}: line {lineno} is malformed ({err})") from err
    return out


# --------------------------------------------------------------------------------------------
# Bracken: re-estimation
# --------------------------------------------------------------------------------------------
LEVELS = ("S", "G", "F", "O", "C", "P", "D")
BRACKEN_COLUMNS = [
    "name",
    "taxonomy_id",
    "taxonomy_lvl",
    "kraken_assigned_reads",
    "added_reads",
    "new_est_reads",
    "fraction_total_reads",
]


def reestimate(
    report: str | os.PathLike | pd.DataFrame,
    kmer_distr: str | os.PathLike | dict,
    level: str = "S",
    threshold: int = 10,
    nodes: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Bracken's abundance re-estimation of one Kraken2 report at ``level``.

    Parameters
    ----------
    report : path-like or DataFrame
        Kraken2 report (or :func:`read_report` output).
    kmer_distr : path-like or dict
        The database's k-mer distribution for the samples' read length
        (:func:`build_kmer_distribution` / :func:`read_kmer_distribution`).
    level : {"S", "G", "F", "O", "C", "P", "D"}
        Rank to estimate (Bracken ``-l``).
    threshold : int
        Minimum clade reads for a taxon at ``level`` to be kept (Bracken ``-t``, default 10).
    nodes : path-like, optional
        Database folder, ``taxo.k2d`` or ``nodes.dmp``, to fix empty rank codes (§F1).

    Returns
    -------
    DataFrame
        Bracken's output columns (``name``, ``taxonomy_id``, ``taxonomy_lvl``,
        ``kraken_assigned_reads``, ``added_reads``, ``new_est_reads``, ``fraction_total_reads``)
        plus ``lineage``, sorted by ``new_est_reads`` (descending). ``attrs`` holds
        ``reads_distributed``, ``reads_not_distributed`` (reads above ``level`` that no kept
        taxon could take), ``reads_below_threshold``, ``unclassified``, ``total_reads`` and
        ``distributed_taxids`` (the nodes whose direct reads were shared out).

    Notes
    -----
    Follows Lu et al. 2017 (PeerJ Comput Sci 3:e104, section "Bracken") as implemented in
    Bracken 2.x ``src/est_abundance.py``:

    1. Every taxon ``S`` at ``level`` with clade reads ``R(S) >= threshold`` is kept; its
       Kraken count ``R(S)`` includes the reads of its descendants (strains).
    2. For each genome ``g`` of the k-mer distribution that falls under a kept taxon ``S(g)``
       (genome taxid = ``S`` or one of its descendants in the report), the number of reads
       truly from ``g`` is estimated as ``n(g) / P(g | g)``, with ``P(g|g)`` the fraction of
       ``g``'s windows that Kraken2 classifies at ``g``'s own taxid (1 when absent) and
       ``n(g)`` the reads Kraken2 classified at ``g``: the clade reads ``R(S)`` when ``g`` is
       the level taxon ``S`` itself, else ``g``'s direct reads (0 when ``g`` is not in the
       report). A species with several genomes therefore gets the sum of its genomes'
       estimates, not its total once per genome.
    3. Each taxon ``N`` above ``level`` with direct reads ``r(N)`` and an entry in the k-mer
       distribution shares ``r(N)`` among the genomes ``g`` under kept taxa in proportion to
       ``P(N|g) * est(g) / sum_g est(g)``; a genome's share goes to ``S(g)``.
    4. ``new_est_reads(S) = R(S) + added(S)``; ``fraction_total_reads`` is its share of the
       kept taxa's total. Reads of taxa below the threshold, and of nodes with no kept genome
       below them, are not redistributed (Bracken reports them as not distributed).

    References
    ----------
    .. [1] Lu J, Breitwieser FP, Thielen P, Salzberg SL. Bracken: estimating species abundance
       in metagenomics data. PeerJ Comput Sci 2017;3:e104. doi:10.7717/peerj-cs.104
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}")
    rep = report if isinstance(report, pd.DataFrame) else read_report(report, nodes=nodes)
    kd = kmer_distr if isinstance(kmer_distr, dict) else read_kmer_distribution(kmer_distr)
    classified, unclassified = report_totals(rep) if len(rep) else (0, 0)
    attrs = {
        "reads_distributed": 0.0,
        "reads_not_distributed": 0.0,
        "reads_below_threshold": 0.0,
        "unclassified": float(unclassified),
        "total_reads": float(classified + unclassified),
        "distributed_taxids": [],
    }
    empty = pd.DataFrame(columns=BRACKEN_COLUMNS + ["lineage"])
    if not len(rep):
        empty.attrs.update(attrs)
        return empty
    taxids = rep["taxid"].to_numpy()
    codes = rep["rank_code"].tolist()
    parent = dict(zip(rep["taxid"], rep["parent_taxid"], strict=True))
    # level taxon of every report line at or below level: walk up to the first exact `level` code
    code_of = dict(zip(rep["taxid"], codes, strict=True))
    order = {c: i for i, c in enumerate(("R", "D", "K", "P", "C", "O", "F", "G", "S"))}

    def level_ancestor(t: int) -> int | None:
        seen = 0
        while t in code_of and t not in (0, 1) and seen < 200:
            c = code_of[t]
            if c == level:
                return t
            letter = c[0]
            if letter in order and order[letter] < order[level] and c[1:] == "":
                return None  # a named rank above level: not under any level taxon
            t = parent.get(t, -1)
            seen += 1
        return None

    lvl_rows = rep[rep["rank_code"] == level]
    clade = dict(zip(lvl_rows["taxid"], lvl_rows["clade_reads"].astype(float), strict=True))
    kept = {t for t, r in clade.items() if r >= threshold}
    attrs["reads_below_threshold"] = float(sum(r for t, r in clade.items() if t not in kept))
    to_level = {}
    for t in taxids:
        a = level_ancestor(int(t))
        if a is not None:
            to_level[int(t)] = a
    added = dict.fromkeys(kept, 0.0)
    # nodes above level: those not mapped to a level taxon, except unclassified
    direct = dict(zip(rep["taxid"], rep["direct_reads"].astype(float), strict=True))
    for node in taxids:
        node = int(node)
        if node == 0 or node in to_level:
            continue
        r = direct.get(node, 0.0)
        if r <= 0:
            continue
        dist = kd.get(node)
        if not dist:
            attrs["reads_not_distributed"] += r
            continue
        genomes = []
        for g, p_node_g in dist.items():
            s = to_level.get(g)
            if s is None or s not in kept:
                continue
            p_own = kd.get(g, {}).get(g, 1.0) or 1.0
            # reads Kraken2 gave the genome itself: the level taxon's clade reads when the
            # genome is the level taxon, else the genome's own (direct) reads; never the whole
            # species' reads for each of its genomes (est_abundance.py)
            own = clade[s] if g == s else direct.get(g, 0.0)
            est = own / p_own
            genomes.append((p_node_g, est, s))
        total_est = sum(e for _, e, _ in genomes)
        if total_est <= 0:
            attrs["reads_not_distributed"] += r
            continue
        weights = np.array([p * (e / total_est) for p, e, _ in genomes])
        if weights.sum() <= 0:
            attrs["reads_not_distributed"] += r
            continue
        weights = weights / weights.sum()
        for w, (_, _, s) in zip(weights, genomes, strict=True):
            added[s] += w * r
        attrs["reads_distributed"] += r
        attrs["distributed_taxids"].append(node)
    info = rep.drop_duplicates("taxid").set_index("taxid")
    rows = []
    for s in kept:
        rows.append(
            {
                "name": info.loc[s, "name"],
                "taxonomy_id": s,
                "taxonomy_lvl": level,
                "kraken_assigned_reads": int(clade[s]),
                "added_reads": int(round(added[s])),
                "new_est_reads": int(round(clade[s] + added[s])),
                "lineage": info.loc[s, "lineage"],
            }
        )
    out = pd.DataFrame(
        rows, columns=[c for c in BRACKEN_COLUMNS if c != "fraction_total_reads"] + ["lineage"]
    )
    tot = out["new_est_reads"].sum()
    out.insert(6, "fraction_total_reads", out["new_est_reads"] / tot if tot > 0 else 0.0)
    out = out.sort_values(
        ["new_est_reads", "taxonomy_id"], ascending=[False, True], ignore_index=True
    )
    out.attrs.update(attrs)
    logger.info(
        "Bracken-method %s: %d taxa kept; %.0f reads distributed, %.0f not distributed",
        level,
        len(out),
        attrs["reads_distributed"],
        attrs["reads_not_distributed"],
    )
    return out


def write_bracken(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write :func:`reestimate` output in Bracken's abundance-file format (``-o``)."""
    from icibiome.io import write_tsv

    out = table[BRACKEN_COLUMNS].copy()
    write_tsv(out, path, float_format="%.5f")


# --------------------------------------------------------------------------------------------
# per-sample profile (rule kraken2_profile): raw Kraken2 or Bracken-method counts
# --------------------------------------------------------------------------------------------
def kraken_to_standard(
    report: str | os.PathLike,
    out_profile: str | os.PathLike,
    kmer_distr: str | os.PathLike | dict | None = None,
    nodes: str | os.PathLike | None = None,
    threshold: int = 10,
    out_fixed_report: str | os.PathLike | None = None,
    out_bracken: str | os.PathLike | None = None,
    genome_lengths: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """One sample's Kraken2 report -> the project's per-sample profile (:mod:`icibiome.taxonomy.profiles`).

    With ``kmer_distr`` the species are re-estimated with :func:`reestimate` (Bracken's
    method); without it the raw Kraken2 counts are used. Either way every read keeps a place:

    * species rows carry their (re-estimated) reads;
    * reads left above species (not distributable, or raw Kraken2 reads at genus etc.) stay at
      the deepest standard rank Kraken2 reached (genus, family, ...), so they count at that
      rank in the genus/family/phylum tables and as unclassified in the species table;
    * reads of species below ``threshold`` are moved to their genus (Bracken's threshold
      removes them as likely false positives);
    * unclassified reads and reads at root are ``UNCLASSIFIED``.

    A sample with no classified reads (or an empty report) yields a valid profile that is all
    ``UNCLASSIFIED`` (zero-hit semantics). ``relative_abundance`` is the read share (Kraken2
    and Bracken estimate reads, not cells) unless ``genome_lengths`` is given: then each
    species' reads are divided by its genome length (cell abundance, comparable to sylph's
    taxonomic abundance and MetaPhlAn's marker-normalised abundance); rows above species use
    the mean length of the species under them in the table (or of all species).

    Parameters
    ----------
    report : path-like
        Kraken2 report of the sample.
    out_profile : path-like
        Per-sample profile TSV.
    kmer_distr : path-like or dict, optional
        Bracken k-mer distribution for the read length; ``None`` = raw Kraken2.
    nodes : path-like, optional
        The Kraken2 database folder (or its ``taxo.k2d`` / ``nodes.dmp``): fixes empty rank
        codes; strongly recommended.
    threshold : int
        Bracken ``-t``.
    out_fixed_report : path-like, optional
        Also write the report with fixed rank codes (for MultiQC).
    out_bracken : path-like, optional
        Also write the Bracken abundance file.
    genome_lengths : path-like, optional
        TSV with ``species`` (or ``lineage``) and ``length`` columns (e.g. the demo's
        ``reference/taxonomy.tsv``; several genomes of a species are averaged).

    Returns
    -------
    DataFrame
        The profile as written.
    """
    from icibiome.taxonomy.profiles import write_sample_profile

    rep = read_report(report, nodes=nodes)
    if out_fixed_report is not None:
        if nodes is not None:
            fix_report_rank_codes(report, nodes, out_fixed_report)
        else:
            with atomic_path(out_fixed_report) as tmp:
                tmp.write_text(Path(report).read_text())
    classified, unclassified = report_totals(rep) if len(rep) else (0, 0)
    rows: dict[str, float] = {}
    unc = float(unclassified)
    if len(rep) and classified > 0:
        # direct reads per report line, pooled at the deepest standard-rank lineage
        lin = rep["lineage"]
        direct = rep["direct_reads"].astype(float)
        is_species_or_below = lin.str.contains(r"(?:^|\|)s__", regex=True)
        if kmer_distr is not None:
            est = reestimate(rep, kmer_distr, level="S", threshold=threshold)
            if out_bracken is not None:
                write_bracken(est, out_bracken)
            kept = set(est["lineage"])
            for lineage, reads in zip(est["lineage"], est["new_est_reads"], strict=True):
                rows[lineage] = rows.get(lineage, 0.0) + float(reads)
            distributed_nodes = set(est.attrs["distributed_taxids"])
            for t, lineage, r, sp in zip(
                rep["taxid"], lin, direct, is_species_or_below, strict=True
            ):
                if t == 0 or r <= 0:
                    continue
                if sp:
                    if lineage in kept:
                        continue  # already in the species' Bracken estimate
                    lineage = _parent_lineage(lineage)  # species below threshold -> genus
                elif t in distributed_nodes:
                    continue  # its reads went to species
                if lineage == "":
                    unc += r
                else:
                    rows[lineage] = rows.get(lineage, 0.0) + r
        else:
            if out_bracken is not None:
                raise ValueError("out_bracken needs kmer_distr")
            for t, lineage, r in zip(rep["taxid"], lin, direct, strict=True):
                if t == 0 or r <= 0:
                    continue
                if lineage == "":
                    unc += r
                else:
                    rows[lineage] = rows.get(lineage, 0.0) + r
    elif out_bracken is not None:
        write_bracken(pd.DataFrame(columns=BRACKEN_COLUMNS), out_bracken)
    if not rows:
        logger.warning("%s: no classified reads; the profile is all UNCLASSIFIED", report)
    prof = pd.DataFrame(
        {
            "lineage": list(rows),
            "relative_abundance": list(rows.values()),
            "estimated_reads": list(rows.values()),
        }
    )
    if genome_lengths is not None and len(prof):
        prof["relative_abundance"] = prof["estimated_reads"] / _lengths_for(
            prof["lineage"], genome_lengths
        )
    return write_sample_profile(prof, unc, out_profile)


def _lengths_for(lineages: pd.Series, table: str | os.PathLike) -> np.ndarray:
    """Genome length per profile lineage: species mean; above species, the mean of the species
    under that lineage (or of all species)."""
    tab = pd.read_csv(table, sep="\t")
    if "length" not in tab.columns:
        raise ValueError(f"{table}: needs a 'length' column")
    if "species" in tab.columns:
        key = "s__" + tab["species"].astype(str).str.replace(" ", "_")
    elif "lineage" in tab.columns:
        key = tab["lineage"].astype(str).str.split("|").str[-1]
    else:
        raise ValueError(f"{table}: needs a 'species' or 'lineage' column")
    by_species = tab.groupby(key)["length"].mean()
    lin_of = (
        tab.groupby(key)["lineage"].first() if "lineage" in tab.columns else pd.Series(dtype=str)
    )
    overall = float(by_species.mean())
    out = []
    for lin in lineages:
        last = lin.split("|")[-1]
        if last in by_species.index:
            out.append(float(by_species[last]))
            continue
        under = [s for s, full in lin_of.items() if str(full).startswith(lin + "|")]
        out.append(float(by_species[under].mean()) if under else overall)
    return np.asarray(out, dtype=float)


def _parent_lineage(lineage: str) -> str:
    return lineage.rsplit("|", 1)[0] if "|" in lineage else ""
