"""Steps 2-5 of the vsearch path: merge pairs, filter by expected errors, UNOISE3 + UCHIME3, ASV table.

The per-sample steps (:func:`vsearch_merge`, :func:`vsearch_filter`) write logs that
:func:`parse_merge_log` / :func:`parse_filter_log` read back for the read-tracking table;
:func:`vsearch_denoise` pools the samples and :func:`vsearch_asv_table` counts the reads per ASV.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome.amplicon.runner import need_tool, run_tool
from icibiome.amplicon.sequences import count_fastx, read_fasta
from icibiome.io import atomic_path, write_tsv

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# steps 2-3: merge, filter (vsearch, per sample)
# --------------------------------------------------------------------------------------------
def vsearch_merge(
    fq1: str | os.PathLike,
    fq2: str | os.PathLike,
    out: str | os.PathLike,
    *,
    min_overlap: int = 16,
    max_diffs: int = 10,
    min_merge_len: int | None = None,
    max_merge_len: int | None = None,
    allow_stagger: bool = True,
    fastq_qmax: int = 42,
    threads: int = 1,
    log: str | os.PathLike | None = None,
) -> dict[str, int]:
    """Merge read pairs with ``vsearch --fastq_mergepairs``.

    Parameters
    ----------
    fq1, fq2 : path-like
        Primer-trimmed pairs.
    out : path-like
        Merged reads (FASTQ).
    min_overlap, max_diffs : int
        ``--fastq_minovlen`` and ``--fastq_maxdiffs`` (vsearch defaults 10 and 10).
    min_merge_len, max_merge_len : int, optional
        Bounds on the merged length (``--fastq_minmergelen``/``--fastq_maxmergelen``).
    allow_stagger : bool
        ``--fastq_allowmergestagger`` (pairs whose reads overhang each other).
    fastq_qmax : int
        Highest quality accepted in the input (MiSeq/NovaSeq go up to 41-42).
    threads : int
        ``--threads``.
    log : path-like, optional
        vsearch's messages (the pair counts are parsed from them by :func:`parse_merge_log`).

    Returns
    -------
    dict
        ``{"pairs": n, "merged": n}``.

    Notes
    -----
    Merged qualities are the posterior qualities of Edgar & Flyvbjerg (2015, Bioinformatics
    31:3476), as in ``usearch -fastq_mergepairs``.
    """
    need_tool("vsearch")
    cmd = ["vsearch", "--fastq_mergepairs", fq1, "--reverse", fq2]
    cmd += ["--fastq_minovlen", min_overlap, "--fastq_maxdiffs", max_diffs]
    cmd += ["--fastq_qmax", fastq_qmax, "--fastq_qmaxout", fastq_qmax]
    if min_merge_len is not None:
        cmd += ["--fastq_minmergelen", min_merge_len]
    if max_merge_len is not None:
        cmd += ["--fastq_maxmergelen", max_merge_len]
    if allow_stagger:
        cmd.append("--fastq_allowmergestagger")
    cmd += ["--threads", threads, "--no_progress"]
    with _log_or_temp(log) as lg, atomic_path(out) as tmp:
        run_tool([*cmd, "--fastqout", tmp], lg)
        counts = parse_merge_log(lg)
    logger.info("merged %d of %d pairs (%s)", counts["merged"], counts["pairs"], fq1)
    return counts


@contextlib.contextmanager
def _log_or_temp(log):
    if log is not None:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        yield Path(log)
        return
    with tempfile.TemporaryDirectory() as d:
        yield Path(d) / "tool.log"


def parse_merge_log(path: str | os.PathLike) -> dict[str, int]:
    """Pair counts from a ``vsearch --fastq_mergepairs`` log: ``{"pairs": n, "merged": n}``.

    When the log holds several runs, the last one counts.
    """
    text = Path(path).read_text()
    pairs = re.findall(r"^\s*(\d+)\s+Pairs\s*$", text, re.M)
    merged = re.findall(r"^\s*(\d+)\s+Merged\b", text, re.M)
    if not pairs or not merged:
        raise ValueError(f"{path}: no vsearch merge summary found")
    return {"pairs": int(pairs[-1]), "merged": int(merged[-1])}


def vsearch_filter(
    fastq: str | os.PathLike,
    out_fasta: str | os.PathLike,
    sample: str,
    *,
    max_ee: float = 1.0,
    min_len: int = 100,
    max_len: int | None = None,
    trunc_len: int | None = None,
    max_ns: int = 0,
    fastq_qmax: int = 42,
    log: str | os.PathLike | None = None,
) -> dict[str, int]:
    """Quality-filter reads by expected errors and tag them with their sample.

    Parameters
    ----------
    fastq : path-like
        Merged reads (or primer-trimmed single reads).
    out_fasta : path-like
        Kept reads as FASTA, relabelled ``<sample>.<n>;sample=<sample>`` (the tag is what
        ``--otutabout`` uses to name the table's columns).
    sample : str
        Sample ID.
    max_ee : float
        ``--fastq_maxee``: discard reads whose expected number of errors (sum of the error
        probabilities of their bases) exceeds this.
    min_len, max_len : int
        Length bounds (``--fastq_minlen``/``--fastq_maxlen``, after truncation).
    trunc_len : int, optional
        Truncate reads to this length and drop shorter ones (``--fastq_trunclen``); the usual
        choice for single-end reads, which all need the same length for denoising.
    max_ns : int
        ``--fastq_maxns``.
    fastq_qmax : int
        Highest quality accepted in the input.
    log : path-like, optional
        vsearch's messages (parsed by :func:`parse_filter_log`).

    Returns
    -------
    dict
        ``{"input": n, "kept": n}``.

    Notes
    -----
    Expected-error filtering as introduced by Edgar & Flyvbjerg (2015, Bioinformatics 31:3476).
    """
    need_tool("vsearch")
    cmd = ["vsearch", "--fastq_filter", fastq, "--fastq_maxee", max_ee, "--fastq_maxns", max_ns]
    cmd += ["--fastq_qmax", fastq_qmax]
    if trunc_len is not None:
        cmd += ["--fastq_trunclen", trunc_len]
    cmd += ["--fastq_minlen", min_len]
    if max_len is not None:
        cmd += ["--fastq_maxlen", max_len]
    cmd += ["--relabel", f"{sample}.", "--label_suffix", f";sample={sample}"]
    cmd += ["--fasta_width", 0, "--no_progress"]
    with _log_or_temp(log) as lg, atomic_path(out_fasta) as tmp:
        run_tool([*cmd, "--fastaout", tmp], lg)
        counts = parse_filter_log(lg)
    logger.info("filter %s: %d of %d kept", sample, counts["kept"], counts["input"])
    return counts


def parse_filter_log(path: str | os.PathLike) -> dict[str, int]:
    """Counts from a ``vsearch --fastq_filter`` log: ``{"input": n, "kept": n}`` (last run)."""
    text = Path(path).read_text()
    m = re.findall(r"(\d+) sequences kept.*?, (\d+) sequences discarded", text)
    if not m:
        raise ValueError(f"{path}: no vsearch filter summary found")
    kept, discarded = (int(x) for x in m[-1])
    return {"input": kept + discarded, "kept": kept}


# --------------------------------------------------------------------------------------------
# step 4: pooled dereplication, UNOISE3, UCHIME3 (vsearch)
# --------------------------------------------------------------------------------------------
def vsearch_denoise(
    filtered: Sequence[str | os.PathLike],
    asv_fasta: str | os.PathLike,
    *,
    min_size: int = 8,
    unoise_alpha: float = 2.0,
    abskew: float = 16.0,
    threads: int = 1,
    log: str | os.PathLike | None = None,
) -> int:
    """Pool filtered reads; dereplicate, denoise (UNOISE3) and remove chimeras (UCHIME3).

    Parameters
    ----------
    filtered : sequence of path-like
        Per-sample filtered FASTA files (:func:`vsearch_filter`).
    asv_fasta : path-like
        Non-chimeric ASVs, named ``ASV1``, ``ASV2``, ... by decreasing abundance.
    min_size : int
        UNOISE ``--minsize``: unique sequences seen fewer times are not ASV candidates (8 is
        the UNOISE3 default).
    unoise_alpha : float
        UNOISE ``--unoise_alpha`` (skew threshold ``beta(d) = 1 / 2^(alpha d + 1)``; default 2).
    abskew : float
        UCHIME3 ``--abskew``: parents must be this many times more abundant than a chimera
        (16 is the UCHIME3 default; 2-4 catches chimeras of less skewed parents).
    threads : int
        ``--threads``.
    log : path-like, optional
        vsearch's messages.

    Returns
    -------
    int
        Number of ASVs.

    Notes
    -----
    ``--sizein`` is given to UNOISE and UCHIME3 so they act on read abundances, not on counts
    of uniques (tool-notes §F3). Methods: UNOISE3 (Edgar 2016, bioRxiv 081257) as implemented
    in vsearch ``--cluster_unoise``; UCHIME3 de novo (Edgar 2016, bioRxiv 074252) as
    ``--uchime3_denovo``.
    """
    need_tool("vsearch")
    with tempfile.TemporaryDirectory(prefix="denoise.", dir=Path(asv_fasta).parent) as d:
        d = Path(d)
        pooled = d / "pooled.fa"
        with open(pooled, "wb") as out:
            for f in filtered:
                with open(f, "rb") as fh:
                    shutil.copyfileobj(fh, out)
        derep, zotus = d / "derep.fa", d / "zotus.fa"
        common = ["--fasta_width", 0, "--no_progress", "--threads", threads]
        run_tool(
            [
                "vsearch",
                "--derep_fulllength",
                pooled,
                "--sizeout",
                "--output",
                derep,
                *common,
            ],
            log,
        )
        run_tool(
            [
                "vsearch",
                "--cluster_unoise",
                derep,
                "--sizein",
                "--sizeout",
                "--minsize",
                min_size,
                "--unoise_alpha",
                unoise_alpha,
                "--centroids",
                zotus,
                *common,
            ],
            log,
        )
        with atomic_path(asv_fasta) as tmp:
            run_tool(
                [
                    "vsearch",
                    "--uchime3_denovo",
                    zotus,
                    "--sizein",
                    "--abskew",
                    abskew,
                    "--xsize",
                    "--relabel",
                    "ASV",
                    "--nonchimeras",
                    tmp,
                    "--fasta_width",
                    0,
                    "--no_progress",
                ],
                log,
            )
            n = count_fastx(tmp)
    logger.info("UNOISE3 + UCHIME3: %d ASVs", n)
    return n


# --------------------------------------------------------------------------------------------
# step 5: ASV table (vsearch --usearch_global)
# --------------------------------------------------------------------------------------------
def vsearch_asv_table(
    filtered: Sequence[str | os.PathLike],
    asv_fasta: str | os.PathLike,
    out_table: str | os.PathLike,
    samples: Sequence[str],
    *,
    identity: float = 0.97,
    maxaccepts: int = 16,
    maxrejects: int = 64,
    threads: int = 1,
    log: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Count every filtered read on the ASVs: the ASV x sample table.

    Parameters
    ----------
    filtered : sequence of path-like
        Per-sample filtered FASTA files (labels carry ``;sample=<id>``).
    asv_fasta : path-like
        ASVs (:func:`vsearch_denoise` or :func:`run_dada2`).
    out_table : path-like
        TSV with ``asv_id`` and one integer column per sample (all ``samples``, in order; a
        sample with no read on any ASV is an all-zero column; every ASV is a row).
    samples : sequence of str
        Sample IDs, the table's columns.
    identity : float
        ``--id``: a read counts for the most similar ASV with at least this identity (0.97 as
        in the UNOISE3 ``-otutab`` recipe).
    maxaccepts, maxrejects : int
        Search depth (vsearch defaults 1 and 32; a deeper search makes the best hit among
        close ASVs likelier to be found).
    threads : int
        ``--threads``.
    log : path-like, optional
        vsearch's messages.

    Returns
    -------
    DataFrame
        The table (index ``asv_id``).
    """
    need_tool("vsearch")
    asv_ids = list(read_fasta(asv_fasta))
    with tempfile.TemporaryDirectory(prefix="otutab.", dir=Path(out_table).parent) as d:
        pooled, raw = Path(d) / "pooled.fa", Path(d) / "otutab.tsv"
        with open(pooled, "wb") as out:
            for f in filtered:
                with open(f, "rb") as fh:
                    shutil.copyfileobj(fh, out)
        if asv_ids and pooled.stat().st_size > 0:
            run_tool(
                [
                    "vsearch",
                    "--usearch_global",
                    pooled,
                    "--db",
                    asv_fasta,
                    "--id",
                    identity,
                    "--strand",
                    "plus",
                    "--maxaccepts",
                    maxaccepts,
                    "--maxrejects",
                    maxrejects,
                    "--otutabout",
                    raw,
                    "--threads",
                    threads,
                    "--no_progress",
                ],
                log,
            )
            tab = pd.read_csv(raw, sep="\t", index_col=0, dtype={0: str})
        else:
            tab = pd.DataFrame()
    tab.index = tab.index.astype(str)
    tab = tab.reindex(index=asv_ids, columns=list(samples)).fillna(0).astype(np.int64)
    tab.index.name = "asv_id"
    write_tsv(tab, out_table, index=True)
    logger.info("ASV table: %d ASVs x %d samples, %d reads", *tab.shape, int(tab.to_numpy().sum()))
    return tab
