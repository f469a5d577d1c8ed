"""16S amplicon processing: primer removal, read merging, ASVs, SINTAX taxonomy, standard tables.

Each step runs the real tool (cutadapt, vsearch, or DADA2 through ``Rscript``) on plain paths
with an argument list (never a shell), writes its outputs atomically
(:func:`icibiome.io.atomic_path`) and the tool's messages to a log file. The logs are what
:func:`read_tracking` parses into the per-sample read-survival table.

The vsearch path follows the UNOISE3 recipe of the USEARCH/vsearch documentation (Edgar 2016;
Rognes et al. 2016, PeerJ 4:e2584):

1. :func:`cutadapt_primers` removes the primers (reads without the forward primer are dropped
   when ``discard_untrimmed``; a heterogeneity spacer before the primer goes with it, and the
   reverse complement of the other primer is cut from the 3' end of read-through reads);
2. :func:`vsearch_merge` merges pairs (``--fastq_mergepairs``);
3. :func:`vsearch_filter` keeps reads with at most ``max_ee`` expected errors and tags each read
   with its sample (``;sample=<id>``);
4. :func:`vsearch_denoise` pools the samples, dereplicates (``--derep_fulllength``), denoises
   with UNOISE3 (``--cluster_unoise``, Edgar 2016 bioRxiv 081257) and removes de novo chimeras
   with UCHIME3 (``--uchime3_denovo``), giving the ASV FASTA (``ASV1``, ``ASV2``, ... by
   decreasing abundance);
5. :func:`vsearch_asv_table` maps every filtered read to the ASVs (``--usearch_global``) to
   count them per sample;
6. :func:`vsearch_sintax` classifies the ASVs with SINTAX (Edgar 2016 bioRxiv 074161) against a
   reference in SINTAX format (:func:`sintax_reference_from_taxonomy`,
   :func:`sintax_reference_from_dada2`).

DADA2 (Callahan et al. 2016, Nat Methods 13:581) is the alternative denoiser (steps 2-4):
:func:`run_dada2` calls ``workflow/icibiome/amplicon/R/dada2.R`` and writes the same ASV FASTA and table.

:func:`asv_table_to_standard` turns the ASV table and the SINTAX assignments into the project's
standard rank tables (:mod:`icibiome.io`), :func:`write_biom` writes a BIOM 1.0 table, and
:func:`read_tracking` / :func:`write_tracking_mqc` give the read survival per sample for
MultiQC (cutadapt's own JSON reports feed MultiQC's native cutadapt module).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gzip
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome import RANK_PREFIX, RANKS
from icibiome.errors import UserError
from icibiome.io import UNCLASSIFIED, atomic_path, write_standard_table, write_tsv
from icibiome.taxonomy.profiles import _with_ids, truncate_lineage

logger = logging.getLogger(__name__)

PRIMERS_V4 = ("GTGYCAGCMGCCGCGGTAA", "GGACTACNVGGGTWTCTAAT")
"""515F (Parada et al. 2016) and 806R (Apprill et al. 2015), the EMP V4 primer pair."""

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

TRACKING_COLUMNS = (
    "input",
    "primer_trimmed",
    "merged",
    "filtered",
    "denoised",
    "non_chimeric",
    "assigned",
)
"""Read-tracking steps, in pipeline order (a step a path does not have is NaN)."""

IUPAC = {
    "A": "A",
    "C": "C",
    "G": "G",
    "T": "T",
    "U": "T",
    "R": "AG",
    "Y": "CT",
    "S": "CG",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
    "N": "ACGT",
}
_COMPLEMENT = str.maketrans("ACGTURYSWKMBDHVNacgturyswkmbdhvn", "TGCAAYRSWMKVHDBNtgcaayrswmkvhdbn")

DADA2_SCRIPT = Path(__file__).resolve().parent / "R" / "dada2.R"


class AmpliconToolError(UserError):
    """A tool (cutadapt, vsearch, Rscript) exited with an error; the message ends with its log."""


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------
def reverse_complement(seq: str) -> str:
    """Reverse complement of a DNA sequence, IUPAC codes included.

    Examples
    --------
    >>> reverse_complement("GTGYCAGCMGCCGCGGTAA")
    'TTACCGCGGCKGCTGRCAC'
    """
    return seq.translate(_COMPLEMENT)[::-1]


def primer_regex(primer: str) -> re.Pattern:
    """Compile a degenerate (IUPAC) primer into an exact-match regular expression.

    Examples
    --------
    >>> bool(primer_regex("GTGYCAG").fullmatch("GTGTCAG"))
    True
    """
    return re.compile("".join(f"[{IUPAC[b]}]" for b in primer.upper()))


def extract_amplicon(
    seq: str, forward: str, reverse: str, keep_primers: bool = False
) -> str | None:
    """The region of ``seq`` amplified by a primer pair, or ``None`` when a primer site is missing.

    Parameters
    ----------
    seq : str
        Template (5'->3', the strand the forward primer matches).
    forward, reverse : str
        Primers 5'->3' as ordered (``reverse`` binds the other strand), IUPAC codes allowed.
    keep_primers : bool
        Return the PCR product with the primer sites (what is sequenced) instead of the insert.

    Notes
    -----
    Exact IUPAC matching (as an in-silico PCR without mismatches); the first forward site and
    the first reverse site downstream of it delimit the product.

    Examples
    --------
    >>> extract_amplicon("CCACGTTTTTTGGAACC", "ACG", "TCC")
    'TTTTTT'
    >>> extract_amplicon("CCACGTTTTTTGGAACC", "ACG", "TCC", keep_primers=True)
    'ACGTTTTTTGGA'
    """
    s = seq.upper()
    f = primer_regex(forward).search(s)
    if f is None:
        return None
    r = primer_regex(reverse_complement(reverse)).search(s, f.end())
    if r is None:
        return None
    return s[f.start() : r.end()] if keep_primers else s[f.end() : r.start()]


def read_fasta(path: str | os.PathLike) -> dict[str, str]:
    """Read a (optionally gzipped) FASTA file into ``id -> sequence`` (id = header up to a space)."""
    records: dict[str, str] = {}
    name, parts = None, []
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        for line in fh:
            line = line.rstrip("\r\n")
            if line.startswith(">"):
                if name is not None:
                    records[name] = "".join(parts)
                name, parts = line[1:].split(" ", 1)[0], []
            elif line:
                parts.append(line.strip())
    if name is not None:
        records[name] = "".join(parts)
    return records


def _write_fasta(records: Mapping[str, str], path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        fh.writelines(f">{k}\n{v}\n" for k, v in records.items())


def count_fastx(path: str | os.PathLike) -> int:
    """Number of records in a FASTA or FASTQ file (gzip allowed)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        first = fh.read(1)
        if not first:
            return 0
        fh.seek(0)
        if first == ">":
            return sum(1 for line in fh if line.startswith(">"))
        return sum(1 for _ in fh) // 4


def _run(cmd: Sequence[str], log: str | os.PathLike | None) -> None:
    """Run ``cmd`` (an argument list, no shell); append its stdout and stderr to ``log``."""
    cmd = [str(c) for c in cmd]
    logger.info("running: %s", " ".join(cmd))
    with contextlib.ExitStack() as stack:
        if log is not None:
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            err = stack.enter_context(open(log, "a"))
            err.write("$ " + " ".join(cmd) + "\n")
            err.flush()
        else:
            err = stack.enter_context(tempfile.TemporaryFile("w+"))
        proc = subprocess.run(cmd, stdout=err, stderr=err, check=False)
        if proc.returncode != 0:
            err.flush()
            tail = Path(log).read_text()[-3000:] if log is not None else _tail(err)
            raise AmpliconToolError(f"{cmd[0]} exited with {proc.returncode}:\n{tail}")


def _tail(fh) -> str:
    fh.seek(0)
    return fh.read()[-3000:]


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise AmpliconToolError(f"{tool} not found on PATH")
    return path


# --------------------------------------------------------------------------------------------
# step 1: primers (cutadapt)
# --------------------------------------------------------------------------------------------
def cutadapt_primers(
    fq1: str | os.PathLike,
    out1: str | os.PathLike,
    json_report: str | os.PathLike,
    *,
    forward_primer: str,
    reverse_primer: str | None = None,
    fq2: str | os.PathLike | None = None,
    out2: str | os.PathLike | None = None,
    discard_untrimmed: bool = True,
    error_rate: float = 0.1,
    min_length: int = 50,
    trim_readthrough: bool = True,
    threads: int = 1,
    log: str | os.PathLike | None = None,
) -> dict[str, int]:
    """Remove PCR primers from amplicon reads with cutadapt.

    Parameters
    ----------
    fq1, fq2 : path-like
        Reads (R2 optional: single-end when ``None``).
    out1, out2 : path-like
        Trimmed reads (gzip when the name ends in ``.gz``); ``out2`` is required with ``fq2``.
    json_report : path-like
        cutadapt's JSON report (``--json``), read by MultiQC's cutadapt module and
        :func:`parse_cutadapt_json`.
    forward_primer, reverse_primer : str
        Primers 5'->3' as ordered, IUPAC codes allowed (``reverse_primer`` is needed for pairs).
    discard_untrimmed : bool
        Drop reads (pairs) in which the 5' primer was not found (``--discard-untrimmed``).
    error_rate : float
        Maximum error rate in a primer match (cutadapt ``-e``).
    min_length : int
        Drop reads shorter than this after trimming (``--minimum-length``).
    trim_readthrough : bool
        Also remove the reverse complement of the other primer at the 3' end, when present
        (reads longer than the amplicon).
    threads : int
        cutadapt ``--cores``.
    log : path-like, optional
        cutadapt's text report and messages go here.

    Returns
    -------
    dict
        ``{"input": reads or pairs read, "written": reads or pairs written}``.

    Notes
    -----
    The primer is a non-anchored 5' adapter (``-g``), so a heterogeneity spacer in front of it
    is removed with it. With ``trim_readthrough`` it is the first, required part of a linked
    adapter whose second, optional part is the reverse complement of the other primer
    (``-g 'FWD;required...RC(REV);optional'``), the form recommended in the cutadapt manual for
    amplicons (Martin 2011, EMBnet.journal 17:10).
    """
    _need("cutadapt")
    paired = fq2 is not None
    if paired and (out2 is None or reverse_primer is None):
        raise ValueError("paired reads need out2 and reverse_primer")

    def spec(first: str, other: str | None) -> str:
        if trim_readthrough and other is not None:
            return f"{first};required...{reverse_complement(other)};optional"
        return first

    cmd = ["cutadapt", "-e", str(error_rate), "--minimum-length", str(min_length)]
    cmd += ["--cores", str(threads), "-g", spec(forward_primer, reverse_primer)]
    if paired:
        cmd += ["-G", spec(reverse_primer, forward_primer)]
    if discard_untrimmed:
        cmd.append("--discard-untrimmed")
    with contextlib.ExitStack() as stack:
        t1 = stack.enter_context(atomic_path(out1))
        tj = stack.enter_context(atomic_path(json_report))
        # cutadapt picks the output format from the extension: keep it on the temporary names
        o1 = t1.with_name(t1.name + _ext(out1))
        cmd += ["-o", o1, "--json", tj]
        if paired:
            t2 = stack.enter_context(atomic_path(out2))
            o2 = t2.with_name(t2.name + _ext(out2))
            cmd += ["-p", o2, fq1, fq2]
        else:
            cmd += [fq1]
        try:
            _run(cmd, log)
            os.replace(o1, t1)
            if paired:
                os.replace(o2, t2)
        finally:
            for o in (o1, o2 if paired else None):
                if o is not None and Path(o).exists():
                    Path(o).unlink()
    counts = parse_cutadapt_json(json_report)
    logger.info("cutadapt %s: %d of %d kept", fq1, counts["written"], counts["input"])
    return counts


def _ext(path) -> str:
    name = Path(path).name
    for ext in (".fastq.gz", ".fq.gz", ".fasta.gz", ".fa.gz", ".fastq", ".fq", ".fasta", ".fa"):
        if name.endswith(ext):
            return ext
    return ".fastq"


def parse_cutadapt_json(path: str | os.PathLike) -> dict[str, int]:
    """Read counts of a cutadapt ``--json`` report: ``{"input": n, "written": n}``."""
    with open(path) as fh:
        data = json.load(fh)
    rc = data["read_counts"]
    return {"input": int(rc["input"]), "written": int(rc["output"])}


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
    _need("vsearch")
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
        _run([*cmd, "--fastqout", tmp], lg)
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
    _need("vsearch")
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
        _run([*cmd, "--fastaout", tmp], lg)
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
    _need("vsearch")
    with tempfile.TemporaryDirectory(prefix="denoise.", dir=Path(asv_fasta).parent) as d:
        d = Path(d)
        pooled = d / "pooled.fa"
        with open(pooled, "wb") as out:
            for f in filtered:
                with open(f, "rb") as fh:
                    shutil.copyfileobj(fh, out)
        derep, zotus = d / "derep.fa", d / "zotus.fa"
        common = ["--fasta_width", 0, "--no_progress", "--threads", threads]
        _run(
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
        _run(
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
            _run(
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
    _need("vsearch")
    asv_ids = list(read_fasta(asv_fasta))
    with tempfile.TemporaryDirectory(prefix="otutab.", dir=Path(out_table).parent) as d:
        pooled, raw = Path(d) / "pooled.fa", Path(d) / "otutab.tsv"
        with open(pooled, "wb") as out:
            for f in filtered:
                with open(f, "rb") as fh:
                    shutil.copyfileobj(fh, out)
        if asv_ids and pooled.stat().st_size > 0:
            _run(
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


def read_asv_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read an ASV table (first column ASV id; vsearch ``#OTU ID`` tables work too)."""
    tab = pd.read_csv(path, sep="\t", index_col=0, dtype={0: str})
    tab.index = tab.index.astype(str)
    tab.index.name = "asv_id"
    return tab.astype(np.int64)


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
    _need("vsearch")
    with atomic_path(out) as tmp:
        _run(
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
# standard tables, BIOM, tracking
# --------------------------------------------------------------------------------------------
def asv_table_to_standard(
    asv_table: str | os.PathLike,
    sintax_tsv: str | os.PathLike,
    out_dir: str | os.PathLike,
    ranks: Sequence[str] = RANKS[1:],
    cutoff: float = 0.8,
) -> dict[str, pd.DataFrame]:
    """ASV counts + SINTAX assignments -> ``abundance_<rank>.tsv`` and ``counts_<rank>.tsv``.

    Parameters
    ----------
    asv_table : path-like
        ASV x sample counts (:func:`vsearch_asv_table`, :func:`run_dada2`).
    sintax_tsv : path-like
        SINTAX ``--tabbedout`` output for the same ASVs (:func:`vsearch_sintax`).
    out_dir : path-like
        Where the standard tables go (see :mod:`icibiome.io`).
    ranks : sequence of str
        Ranks to write (any of :data:`icibiome.RANKS`).
    cutoff : float
        SINTAX confidence cut-off (0.8 as in Edgar's SINTAX paper for a low error rate on
        full-length references; 0.5-0.6 is common for short V4 reads).

    Returns
    -------
    dict
        ``rank -> abundance table`` as written.

    Notes
    -----
    Counts are reads (merged pairs) per ASV summed over the ASVs of each clade. Reads of ASVs
    not resolved at a rank (confidence below the cut-off, or no SINTAX hit) go to the
    ``UNCLASSIFIED`` row of ``counts_<rank>.tsv`` and are left out of the relative abundance
    (percent of classified), the same rule as :func:`icibiome.taxonomy.profiles.merge_profiles`.
    Relative abundance here is the relative abundance of 16S reads: no 16S copy-number
    correction is applied.
    """
    for r in ranks:
        if r not in RANKS:
            raise ValueError(f"unknown rank {r!r}; expected one of {RANKS}")
    tab = read_asv_table(asv_table)
    lineages = sintax_lineages(read_sintax(sintax_tsv), cutoff).reindex(tab.index)
    lineages = lineages.fillna(UNCLASSIFIED)
    out_dir = Path(out_dir)
    samples = list(tab.columns)
    result = {}
    for rank in ranks:
        clades = lineages.map(
            lambda x, r=rank: None if x == UNCLASSIFIED else truncate_lineage(x, r)
        )
        resolved = clades.notna().to_numpy()
        counts = tab[resolved].groupby(clades[resolved].to_numpy()).sum()
        counts = counts.reindex(columns=samples).astype(float)
        total = counts.sum(axis=0)
        abund = 100 * counts.div(total.where(total > 0, 1.0), axis=1)
        unc = tab[~resolved].sum(axis=0).astype(float)
        counts_u = pd.concat([counts, unc.to_frame(UNCLASSIFIED).T])
        a_df, c_df = _with_ids(abund), _with_ids(counts_u)
        write_standard_table(a_df, out_dir / f"abundance_{rank}.tsv")
        write_standard_table(c_df, out_dir / f"counts_{rank}.tsv")
        logger.info("%s: %d taxa over %d samples", rank, len(a_df), len(samples))
        result[rank] = a_df
    return result


def write_biom(
    asv_table: str | os.PathLike,
    out: str | os.PathLike,
    sintax_tsv: str | os.PathLike | None = None,
    cutoff: float = 0.8,
    table_id: str = "icibiome ASV table",
    date: str | None = None,
) -> dict:
    """Write the ASV table as BIOM 1.0 (JSON, sparse), with taxonomy as observation metadata.

    Parameters
    ----------
    asv_table : path-like
        ASV x sample counts.
    out : path-like
        ``.biom`` JSON file.
    sintax_tsv : path-like, optional
        SINTAX output; when given, each row's metadata holds ``{"taxonomy": ["k__...",
        "p__...", ...]}`` (the confident ranks, QIIME style).
    cutoff : float
        SINTAX confidence cut-off for the taxonomy.
    table_id : str
        The table's ``id``.
    date : str, optional
        ISO timestamp for ``date``; default ``SOURCE_DATE_EPOCH`` when set, else the Unix
        epoch, so the file is reproducible byte for byte.

    Returns
    -------
    dict
        The BIOM document.

    Notes
    -----
    Follows the BIOM 1.0 specification (McDonald et al. 2012, GigaScience 1:7;
    http://biom-format.org/documentation/format_versions/biom-1.0.html): ``matrix_type``
    ``sparse`` with ``[row, column, value]`` triples, ``matrix_element_type`` ``int``.
    """
    tab = read_asv_table(asv_table)
    if sintax_tsv is not None:
        lin = sintax_lineages(read_sintax(sintax_tsv), cutoff).reindex(tab.index)
        meta = [{"taxonomy": [] if pd.isna(x) or x == UNCLASSIFIED else x.split("|")} for x in lin]
    else:
        meta = [None] * len(tab)
    if date is None:
        epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
        date = _dt.datetime.fromtimestamp(epoch, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    m = tab.to_numpy()
    r, c = np.nonzero(m)
    doc = {
        "id": table_id,
        "format": "Biological Observation Matrix 1.0.0",
        "format_url": "http://biom-format.org/documentation/format_versions/biom-1.0.html",
        "type": "OTU table",
        "generated_by": "icibiome",
        "date": date,
        "rows": [{"id": a, "metadata": md} for a, md in zip(tab.index, meta, strict=True)],
        "columns": [{"id": s, "metadata": None} for s in tab.columns],
        "matrix_type": "sparse",
        "matrix_element_type": "int",
        "shape": [int(m.shape[0]), int(m.shape[1])],
        "data": [[int(i), int(j), int(m[i, j])] for i, j in zip(r, c, strict=True)],
    }
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def read_biom(path: str | os.PathLike) -> pd.DataFrame:
    """Read a BIOM 1.0 JSON table (sparse or dense) into an observation x sample DataFrame."""
    doc = json.loads(Path(path).read_text())
    rows = [r["id"] for r in doc["rows"]]
    cols = [c["id"] for c in doc["columns"]]
    if doc["matrix_type"] == "sparse":
        m = np.zeros(doc["shape"], dtype=np.int64)
        for i, j, v in doc["data"]:
            m[i, j] = v
    else:
        m = np.asarray(doc["data"], dtype=np.int64).reshape(doc["shape"])
    return pd.DataFrame(m, index=pd.Index(rows, name="asv_id"), columns=cols)


def read_tracking(
    samples: Sequence[str],
    asv_table: str | os.PathLike,
    sintax_tsv: str | os.PathLike | None = None,
    *,
    cutadapt_jsons: Sequence[str | os.PathLike] = (),
    merge_logs: Sequence[str | os.PathLike] = (),
    filter_logs: Sequence[str | os.PathLike] = (),
    dada2_tracking: str | os.PathLike | None = None,
    cutoff: float = 0.8,
    assigned_rank: str = "genus",
) -> pd.DataFrame:
    """Reads surviving each step, per sample, from the step logs.

    Parameters
    ----------
    samples : sequence of str
        Sample IDs; the per-sample log lists below are in this order (empty when the step was
        not run).
    asv_table : path-like
        Final ASV table; its column sums are the ``non_chimeric`` reads.
    sintax_tsv : path-like, optional
        SINTAX output; ``assigned`` counts the reads of ASVs resolved at ``assigned_rank``.
    cutadapt_jsons, merge_logs, filter_logs : sequence of path-like
        cutadapt JSON reports, ``vsearch --fastq_mergepairs`` logs and ``--fastq_filter`` logs.
    dada2_tracking : path-like, optional
        The ``tracking.tsv`` of :func:`run_dada2` (columns ``sample, input, filtered, denoised,
        merged, non_chimeric``); it supplies the DADA2 steps.
    cutoff : float
        SINTAX confidence cut-off.
    assigned_rank : str
        Rank at which an ASV counts as assigned.

    Returns
    -------
    DataFrame
        Index ``sample``; columns :data:`TRACKING_COLUMNS` (read pairs or reads; NaN for steps
        the path does not have: ``merged`` for single-end, ``denoised`` for vsearch, whose
        UNOISE3 step works on uniques).
    """
    samples = list(samples)
    t = pd.DataFrame(np.nan, index=pd.Index(samples, name="sample"), columns=TRACKING_COLUMNS)
    for col, files in (
        ("cutadapt", cutadapt_jsons),
        ("merge", merge_logs),
        ("filter", filter_logs),
    ):
        if files and len(files) != len(samples):
            raise ValueError(f"{len(files)} {col} logs for {len(samples)} samples")
    for s, f in zip(samples, cutadapt_jsons, strict=False):
        c = parse_cutadapt_json(f)
        t.loc[s, ["input", "primer_trimmed"]] = [c["input"], c["written"]]
    for s, f in zip(samples, merge_logs, strict=False):
        c = parse_merge_log(f)
        t.loc[s, "merged"] = c["merged"]
        if not cutadapt_jsons:
            t.loc[s, "input"] = c["pairs"]
    for s, f in zip(samples, filter_logs, strict=False):
        c = parse_filter_log(f)
        t.loc[s, "filtered"] = c["kept"]
        if not cutadapt_jsons and not merge_logs:
            t.loc[s, "input"] = c["input"]
    if dada2_tracking is not None:
        d = pd.read_csv(dada2_tracking, sep="\t", dtype={"sample": str}).set_index("sample")
        d = d.reindex(samples)
        for col in ("filtered", "denoised", "merged"):
            t[col] = d[col].astype(float)
        if not cutadapt_jsons:
            t["input"] = d["input"].astype(float)
    tab = read_asv_table(asv_table).reindex(columns=samples, fill_value=0)
    t["non_chimeric"] = tab.sum(axis=0).astype(float)
    if sintax_tsv is not None:
        lin = sintax_lineages(read_sintax(sintax_tsv), cutoff).reindex(tab.index)
        ok = lin.map(
            lambda x: isinstance(x, str) and truncate_lineage(x, assigned_rank) is not None
        )
        t["assigned"] = tab[ok.to_numpy()].sum(axis=0).astype(float)
    return t


def write_tracking_mqc(tracking: pd.DataFrame, out: str | os.PathLike) -> None:
    """Write the read-tracking table as MultiQC custom content (``*_mqc.tsv``, a table).

    Counts per step plus the percentage of the input that reaches the ASV table
    (``non_chimeric``), as in the DADA2 tutorial's tracking table.
    """
    t = tracking.copy()
    inp = t["input"].where(t["input"] > 0)
    t["percent_in_asvs"] = (100 * t["non_chimeric"] / inp).round(2)
    header = (
        "# id: 'amplicon_read_tracking'\n"
        "# section_name: '16S read tracking'\n"
        "# description: 'Reads (pairs) per sample surviving each amplicon step: input, primer "
        "trimmed (cutadapt), merged, quality filtered, denoised (DADA2 only), non-chimeric "
        "(counted in the ASV table) and assigned by SINTAX. Empty where a step does not "
        "apply.'\n"
        "# plot_type: 'table'\n"
    )
    with atomic_path(out) as tmp:
        with open(tmp, "w") as fh:
            fh.write(header)
            t.reset_index().to_csv(fh, sep="\t", index=False, float_format="%.6g")


# --------------------------------------------------------------------------------------------
# DADA2 (R)
# --------------------------------------------------------------------------------------------
def dada2_available() -> tuple[bool, str]:
    """Whether ``Rscript -e 'library(dada2)'`` works; with the reason when it does not."""
    if shutil.which("Rscript") is None:
        return False, "Rscript not found on PATH (apt-get install r-bioc-dada2)"
    proc = subprocess.run(
        ["Rscript", "-e", "suppressMessages(library(dada2))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return False, f"R package dada2 not loadable: {proc.stderr.strip()[-300:]}"
    return True, ""


def run_dada2(
    samples: Sequence[str],
    fq1: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    fq2: Sequence[str | os.PathLike] | None = None,
    trunc_len: tuple[int, int] | int = (0, 0),
    max_ee: tuple[float, float] | float = (2.0, 2.0),
    trunc_q: int = 2,
    min_len: int = 50,
    min_overlap: int = 12,
    max_mismatch: int = 0,
    pool: str = "false",
    chimera_method: str = "consensus",
    seed: int = 1,
    threads: int = 1,
    log: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Denoise with DADA2 (R package, Debian ``r-bioc-dada2``) through ``R/dada2.R``.

    Parameters
    ----------
    samples : sequence of str
        Sample IDs.
    fq1, fq2 : sequence of path-like
        Primer-trimmed reads per sample (``fq2=None``: single-end).
    out_dir : path-like
        Receives ``asvs.fa`` (``ASV1``... by decreasing total abundance), ``asv_table.tsv``
        (ASV x sample counts, as :func:`vsearch_asv_table`) and ``tracking.tsv``.
    trunc_len, max_ee, trunc_q, min_len : filterAndTrim arguments
        ``truncLen`` (0 = no truncation), ``maxEE``, ``truncQ``, ``minLen``; pairs for R1/R2.
    min_overlap, max_mismatch : int
        ``mergePairs(minOverlap=, maxMismatch=)``.
    pool : {"false", "true", "pseudo"}
        ``dada(pool=)``.
    chimera_method : {"consensus", "pooled", "per-sample"}
        ``removeBimeraDenovo(method=)``.
    seed : int
        ``set.seed()`` before ``learnErrors`` (which subsamples reads).
    threads : int
        ``multithread=``.
    log : path-like, optional
        The R script's ``sink()`` log.

    Returns
    -------
    DataFrame
        The ASV table.

    Notes
    -----
    The DADA2 tutorial workflow (Callahan et al. 2016, Nat Methods 13:581;
    https://benjjneb.github.io/dada2/tutorial.html): filterAndTrim -> learnErrors -> dada ->
    mergePairs -> makeSequenceTable -> removeBimeraDenovo. Taxonomy is not assigned in R: the
    ASVs go through the same SINTAX step as the vsearch path, so the two denoisers differ only
    in denoising.
    """
    ok, why = dada2_available()
    if not ok:
        raise AmpliconToolError(why)
    if fq2 is not None and len(fq2) != len(fq1):
        raise ValueError("fq1 and fq2 differ in length")
    if len(fq1) != len(samples):
        raise ValueError("samples and fq1 differ in length")
    if pool not in ("false", "true", "pseudo"):
        raise ValueError(f"pool must be false, true or pseudo, got {pool!r}")
    if chimera_method not in ("consensus", "pooled", "per-sample"):
        raise ValueError(f"unknown chimera_method {chimera_method!r}")
    tl = (trunc_len, trunc_len) if isinstance(trunc_len, int) else tuple(trunc_len)
    me = (max_ee, max_ee) if isinstance(max_ee, int | float) else tuple(max_ee)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".dada2.", dir=out_dir) as d:
        d = Path(d)
        manifest = pd.DataFrame(
            {
                "sample": list(samples),
                "fq1": [str(Path(p).resolve()) for p in fq1],
                "fq2": [str(Path(p).resolve()) for p in fq2] if fq2 is not None else "",
            }
        )
        manifest.to_csv(d / "manifest.tsv", sep="\t", index=False)
        params = {
            "trunc_len_f": tl[0],
            "trunc_len_r": tl[1],
            "max_ee_f": me[0],
            "max_ee_r": me[1],
            "trunc_q": trunc_q,
            "min_len": min_len,
            "min_overlap": min_overlap,
            "max_mismatch": max_mismatch,
            "pool": pool,
            "chimera_method": chimera_method,
            "seed": seed,
            "threads": threads,
        }
        pd.Series(params).to_csv(d / "params.tsv", sep="\t", header=False)
        lg = Path(log) if log is not None else d / "dada2.log"
        lg.parent.mkdir(parents=True, exist_ok=True)
        _run(
            ["Rscript", "--vanilla", DADA2_SCRIPT, d / "manifest.tsv", d / "params.tsv", d, lg], lg
        )
        for name in ("asvs.fa", "asv_table.tsv", "tracking.tsv"):
            os.replace(d / name, out_dir / name)
    return read_asv_table(out_dir / "asv_table.tsv")


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
    _write_fasta(records, out)
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
    _write_fasta(records, out)
    return len(records)


# --------------------------------------------------------------------------------------------
# whole path (for tests and for use outside Snakemake)
# --------------------------------------------------------------------------------------------
def run_amplicon(
    samples: Sequence[str],
    fq1: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    reference: str | os.PathLike,
    *,
    fq2: Sequence[str | os.PathLike] | None = None,
    primers: tuple[str, str] | None = PRIMERS_V4,
    denoiser: str = "vsearch",
    discard_untrimmed: bool = True,
    max_ee: float = 1.0,
    min_len: int = 100,
    max_len: int | None = None,
    trunc_len: int | None = None,
    min_size: int = 8,
    unoise_alpha: float = 2.0,
    abskew: float = 16.0,
    identity: float = 0.97,
    sintax_cutoff: float = 0.8,
    dada2_trunc_len: tuple[int, int] | int = (0, 0),
    dada2_max_ee: tuple[float, float] | float = (2.0, 2.0),
    ranks: Iterable[str] = RANKS[1:],
    threads: int = 1,
) -> pd.DataFrame:
    """Run the whole amplicon path for a few samples; return the read-tracking table.

    Writes, under ``out_dir``: ``trimmed/``, ``merged/``, ``filtered/`` (per sample),
    ``logs/``, ``asvs.fa``, ``asv_table.tsv``, ``sintax.tsv``, ``asv_table.biom``,
    ``tables/abundance_<rank>.tsv`` + ``counts_<rank>.tsv``, ``tracking.tsv`` and
    ``read_tracking_mqc.tsv``. The Snakemake rules call the step functions one by one; this
    is the same sequence in one call. Parameters are those of the step functions
    (``max_ee``/``min_len``/``trunc_len`` for :func:`vsearch_filter`, ``dada2_*`` for
    :func:`run_dada2`); ``primers=None`` skips primer removal (reads already trimmed).
    """
    if denoiser not in ("vsearch", "dada2"):
        raise ValueError(f"denoiser must be vsearch or dada2, got {denoiser!r}")
    out = Path(out_dir)
    logs = out / "logs"
    samples = list(samples)
    paired = fq2 is not None
    trimmed1, trimmed2, cut_jsons = [], [], []
    for i, s in enumerate(samples):
        if primers is None:
            trimmed1.append(Path(fq1[i]))
            trimmed2.append(Path(fq2[i]) if paired else None)
            continue
        t1 = out / "trimmed" / f"{s}_R1.fastq.gz"
        t2 = out / "trimmed" / f"{s}_R2.fastq.gz" if paired else None
        j = out / "trimmed" / f"{s}.cutadapt.json"
        cutadapt_primers(
            fq1[i],
            t1,
            j,
            forward_primer=primers[0],
            reverse_primer=primers[1],
            fq2=fq2[i] if paired else None,
            out2=t2,
            discard_untrimmed=discard_untrimmed,
            threads=threads,
            log=logs / f"cutadapt_{s}.log",
        )
        trimmed1.append(t1)
        trimmed2.append(t2)
        cut_jsons.append(j)
    asvs, table = out / "asvs.fa", out / "asv_table.tsv"
    merge_logs, filter_logs, dada2_tracking = [], [], None
    if denoiser == "vsearch":
        filtered = []
        for i, s in enumerate(samples):
            src = trimmed1[i]
            if paired:
                src = out / "merged" / f"{s}.fastq"
                lg = logs / f"merge_{s}.log"
                vsearch_merge(trimmed1[i], trimmed2[i], src, threads=threads, log=lg)
                merge_logs.append(lg)
            f = out / "filtered" / f"{s}.fasta"
            lg = logs / f"filter_{s}.log"
            vsearch_filter(
                src,
                f,
                s,
                max_ee=max_ee,
                min_len=min_len,
                max_len=max_len,
                trunc_len=trunc_len,
                log=lg,
            )
            filter_logs.append(lg)
            filtered.append(f)
        vsearch_denoise(
            filtered,
            asvs,
            min_size=min_size,
            unoise_alpha=unoise_alpha,
            abskew=abskew,
            threads=threads,
            log=logs / "denoise.log",
        )
        vsearch_asv_table(
            filtered,
            asvs,
            table,
            samples,
            identity=identity,
            threads=threads,
            log=logs / "otutab.log",
        )
    else:
        d2 = out / "dada2"
        run_dada2(
            samples,
            trimmed1,
            d2,
            fq2=trimmed2 if paired else None,
            trunc_len=dada2_trunc_len,
            max_ee=dada2_max_ee,
            seed=1,
            threads=threads,
            log=logs / "dada2.log",
        )
        for name in ("asvs.fa", "asv_table.tsv"):
            shutil.copyfile(d2 / name, out / name)
        dada2_tracking = d2 / "tracking.tsv"
    sintax = out / "sintax.tsv"
    vsearch_sintax(asvs, reference, sintax, cutoff=sintax_cutoff, log=logs / "sintax.log")
    asv_table_to_standard(table, sintax, out / "tables", list(ranks), sintax_cutoff)
    write_biom(table, out / "asv_table.biom", sintax, sintax_cutoff)
    tracking = read_tracking(
        samples,
        table,
        sintax,
        cutadapt_jsons=cut_jsons,
        merge_logs=merge_logs,
        filter_logs=filter_logs,
        dada2_tracking=dada2_tracking,
        cutoff=sintax_cutoff,
    )
    write_tsv(tracking, out / "tracking.tsv", index=True, float_format="%.6g")
    write_tracking_mqc(tracking, out / "read_tracking_mqc.tsv")
    return tracking


# --------------------------------------------------------------------------------------------
# pipeline entry points (rules/amplicon.smk): one call per rule, layout-agnostic
# --------------------------------------------------------------------------------------------
def _pair(reads: Sequence[str | os.PathLike]) -> tuple[str | os.PathLike, str | os.PathLike | None]:
    if len(reads) not in (1, 2):
        raise ValueError(f"expected 1 or 2 read files, got {len(reads)}")
    return reads[0], (reads[1] if len(reads) == 2 else None)


def trim_primers(
    reads: Sequence[str | os.PathLike],
    trimmed: Sequence[str | os.PathLike],
    json_report: str | os.PathLike,
    *,
    forward_primer: str,
    reverse_primer: str,
    discard_untrimmed: bool = True,
    error_rate: float = 0.1,
    min_length: int = 50,
    threads: int = 1,
    tool_log: str | os.PathLike | None = None,
) -> dict[str, int]:
    """:func:`cutadapt_primers` for one sample given as read lists (``[R1, R2]`` or ``[SE]``).

    ``trimmed`` has one output per input file. cutadapt's text report goes to ``tool_log``.
    """
    fq1, fq2 = _pair(reads)
    out1, out2 = _pair(trimmed)
    if (fq2 is None) != (out2 is None):
        raise ValueError("reads and trimmed differ in layout")
    return cutadapt_primers(
        fq1,
        out1,
        json_report,
        forward_primer=forward_primer,
        reverse_primer=reverse_primer,
        fq2=fq2,
        out2=out2,
        discard_untrimmed=discard_untrimmed,
        error_rate=error_rate,
        min_length=min_length,
        threads=threads,
        log=tool_log,
    )


def merge_and_filter(
    trimmed: Sequence[str | os.PathLike],
    filtered: str | os.PathLike,
    step_logs: Sequence[str | os.PathLike],
    sample: str,
    *,
    min_overlap: int = 16,
    max_diffs: int = 10,
    max_ee: float = 1.0,
    min_len: int = 100,
    max_len: int | None = None,
    trunc_len: int | None = None,
    threads: int = 1,
) -> dict[str, int]:
    """Merge a sample's primer-trimmed pairs (:func:`vsearch_merge`) and filter them (:func:`vsearch_filter`).

    Single-end samples (``trimmed`` of one file) are filtered directly. ``step_logs`` are
    ``[merge_log, filter_log]`` for pairs, ``[filter_log]`` for single-end reads: they receive
    vsearch's messages, which :func:`read_tracking` parses.

    Returns
    -------
    dict
        ``{"input": reads or pairs in, "merged": pairs merged (paired only), "kept": n}``.
    """
    fq1, fq2 = _pair(trimmed)
    if len(step_logs) != len(trimmed):
        raise ValueError("give a merge and a filter log for pairs, a filter log for single reads")
    merge_log, filter_log = step_logs[0], step_logs[-1]
    for p in step_logs:
        Path(p).unlink(missing_ok=True)  # parsed later: must hold this run only
    counts: dict[str, int] = {}
    Path(filtered).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".merge.", dir=Path(filtered).parent) as d:
        src = fq1
        if fq2 is not None:
            src = Path(d) / "merged.fastq"
            m = vsearch_merge(
                fq1,
                fq2,
                src,
                min_overlap=min_overlap,
                max_diffs=max_diffs,
                threads=threads,
                log=merge_log,
            )
            counts.update(input=m["pairs"], merged=m["merged"])
        f = vsearch_filter(
            src,
            filtered,
            sample,
            max_ee=max_ee,
            min_len=min_len,
            max_len=max_len,
            trunc_len=trunc_len,
            log=filter_log,
        )
    counts.setdefault("input", f["input"])
    counts["kept"] = f["kept"]
    return counts


def vsearch_asvs(
    filtered: Sequence[str | os.PathLike],
    samples: Sequence[str],
    asv_fasta: str | os.PathLike,
    asv_table: str | os.PathLike,
    *,
    min_size: int = 8,
    unoise_alpha: float = 2.0,
    abskew: float = 16.0,
    identity: float = 0.97,
    threads: int = 1,
    tool_log: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """The vsearch denoiser: :func:`vsearch_denoise` on the pooled samples, then :func:`vsearch_asv_table`."""
    vsearch_denoise(
        filtered,
        asv_fasta,
        min_size=min_size,
        unoise_alpha=unoise_alpha,
        abskew=abskew,
        threads=threads,
        log=tool_log,
    )
    return vsearch_asv_table(
        filtered, asv_fasta, asv_table, samples, identity=identity, threads=threads, log=tool_log
    )


def dada2_asvs(
    samples: Sequence[str],
    r1: Sequence[str | os.PathLike],
    r2: Sequence[str | os.PathLike],
    asv_fasta: str | os.PathLike,
    asv_table: str | os.PathLike,
    tracking: str | os.PathLike,
    *,
    trunc_len: tuple[int, int] = (0, 0),
    max_ee: tuple[float, float] = (2.0, 2.0),
    trunc_q: int = 2,
    min_len: int = 50,
    min_overlap: int = 12,
    max_mismatch: int = 0,
    pool: str | bool = False,
    chimera_method: str = "consensus",
    seed: int = 1,
    threads: int = 1,
    tool_log: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """The DADA2 denoiser (:func:`run_dada2`) writing the ASVs, table and tracking to given paths.

    ``r2`` empty = single-end. ``pool`` may be a YAML boolean or ``"pseudo"``.
    """
    with tempfile.TemporaryDirectory(prefix=".dada2run.", dir=Path(asv_fasta).parent) as d:
        run_dada2(
            samples,
            r1,
            d,
            fq2=list(r2) or None,
            trunc_len=tuple(trunc_len),
            max_ee=tuple(max_ee),
            trunc_q=trunc_q,
            min_len=min_len,
            min_overlap=min_overlap,
            max_mismatch=max_mismatch,
            pool=str(pool).lower(),
            chimera_method=chimera_method,
            seed=seed,
            threads=threads,
            log=tool_log,
        )
        for name, dest in (("asvs.fa", asv_fasta), ("asv_table.tsv", asv_table)):
            with atomic_path(dest) as tmp:
                shutil.copyfile(Path(d) / name, tmp)
        with atomic_path(tracking) as tmp:
            shutil.copyfile(Path(d) / "tracking.tsv", tmp)
    return read_asv_table(asv_table)


def amplicon_tables(
    asv_table: str | os.PathLike,
    sintax_tsv: str | os.PathLike,
    out_dir: str | os.PathLike,
    biom: str | os.PathLike,
    ranks: Sequence[str] = RANKS[1:],
    cutoff: float = 0.8,
) -> dict[str, pd.DataFrame]:
    """Standard rank tables (:func:`asv_table_to_standard`) and the BIOM table (:func:`write_biom`)."""
    tables = asv_table_to_standard(asv_table, sintax_tsv, out_dir, ranks, cutoff)
    write_biom(asv_table, biom, sintax_tsv, cutoff)
    return tables


def amplicon_report(
    samples: Sequence[str],
    asv_table: str | os.PathLike,
    sintax_tsv: str | os.PathLike,
    out_tracking: str | os.PathLike,
    out_tracking_mqc: str | os.PathLike,
    *,
    cutadapt_jsons: Sequence[str | os.PathLike] = (),
    step_logs: Sequence[str | os.PathLike] = (),
    dada2_tracking: Sequence[str | os.PathLike] = (),
    cutoff: float = 0.8,
    assigned_rank: str = "genus",
    abundance_tsv: str | os.PathLike | None = None,
    out_composition: str | os.PathLike | None = None,
    top_n: int = 12,
    rank: str = "genus",
) -> pd.DataFrame:
    """Read tracking per sample (TSV + MultiQC table) and the 16S composition bar plot.

    ``step_logs`` are the vsearch merge and filter logs of the samples, named
    ``<sample>.merge.log`` / ``<sample>.filter.log`` (any order); ``dada2_tracking`` holds the
    DADA2 ``tracking.tsv`` when DADA2 denoised. The composition (top ``top_n`` taxa at
    ``rank`` of ``abundance_tsv``) uses :func:`icibiome.report.build.composition_mqc` with profiler
    ``amplicon``.
    """
    samples = list(samples)
    by_name = {Path(p).name: p for p in step_logs}

    def logs(kind):
        found = [by_name.get(f"{s}.{kind}.log") for s in samples]
        return found if all(found) else []

    tracking = read_tracking(
        samples,
        asv_table,
        sintax_tsv,
        cutadapt_jsons=list(cutadapt_jsons),
        merge_logs=logs("merge"),
        filter_logs=logs("filter"),
        dada2_tracking=dada2_tracking[0] if dada2_tracking else None,
        cutoff=cutoff,
        assigned_rank=assigned_rank,
    )
    write_tsv(tracking, out_tracking, index=True, float_format="%.6g")
    write_tracking_mqc(tracking, out_tracking_mqc)
    if abundance_tsv is not None and out_composition is not None:
        from icibiome.report.build import composition_mqc

        composition_mqc(abundance_tsv, out_composition, top_n=top_n, rank=rank, profiler="amplicon")
    return tracking
