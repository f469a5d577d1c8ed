"""The whole 16S path in one call (:func:`run_amplicon`) and the entry points of rules/amplicon.smk."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from icibiome import RANKS
from icibiome.amplicon.dada2 import run_dada2
from icibiome.amplicon.denoise import (
    vsearch_asv_table,
    vsearch_denoise,
    vsearch_filter,
    vsearch_merge,
)
from icibiome.amplicon.primers import cutadapt_primers
from icibiome.amplicon.sequences import PRIMERS_V4
from icibiome.amplicon.sintax import vsearch_sintax
from icibiome.amplicon.tables import (
    asv_table_to_standard,
    read_asv_table,
    read_tracking,
    write_biom,
    write_tracking_mqc,
)
from icibiome.io import atomic_path, write_tsv

logger = logging.getLogger(__name__)


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
