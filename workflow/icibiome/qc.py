"""Read QC bookkeeping: fastp and host-removal figures, FASTQ counting, the read-tracking table.

Counts are in **fragments**: read pairs for paired samples, reads for single-end samples, so the
stages of one sample are comparable (raw -> trimmed -> non-host -> classified).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import zlib
from pathlib import Path

import pandas as pd

from icibiome.errors import UserError
from icibiome.io import atomic_path, write_tsv

logger = logging.getLogger(__name__)

TRACKING_STAGES = ("raw", "trimmed", "non_host", "classified")


class BadReadsError(UserError):
    """A sample's reads are unusable (empty, truncated, corrupt, or mates out of step).

    A user error (``user_error = True``): the message says what to fix, so a script entry point
    reports it without a Python traceback (see :func:`icibiome.logging.log_to_file`).
    """

    user_error = True


def _open(path: str | os.PathLike):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


_NON_IUPAC = re.compile(rb"[^ACGTUNRYKMSWBDHVacgtunrykmswbdhv]")
"""Anything but an IUPAC nucleotide code (A C G T U, the ambiguity codes R Y K M S W B D H V, N)."""


def count_fastq(path: str | os.PathLike) -> int:
    """Count the records of a (gzipped) FASTQ file, checking each record's structure.

    Every record must be four lines: ``@`` header, a sequence of IUPAC nucleotide codes, a ``+``
    separator, and a quality string as long as the sequence. Messages name the file, the record,
    its first line number and the field, e.g. ``reads.fq.gz: record 3 (line 9): sequence:
    non-IUPAC character 'X' at position 17``.

    Raises
    ------
    BadReadsError
        When the file is truncated (an incomplete last record), a header does not start with
        ``@``, the separator is missing, a sequence holds a non-IUPAC character, sequence and
        quality lengths differ, or the gzip stream is corrupt.

    Notes
    -----
    The record layout is the Sanger FASTQ format as defined by Cock et al. (2010); the allowed
    sequence alphabet is the IUPAC nucleotide code (Cornish-Bowden, 1985), which is what fastp,
    bowtie2 and sylph accept. Windows line endings (CR LF) are tolerated.

    References
    ----------
    .. [1] Cock PJA, Fields CJ, Goto N, Heuer ML, Rice PM (2010). The Sanger FASTQ file format
       for sequences with quality scores, and the Solexa/Illumina FASTQ variants. Nucleic Acids
       Res 38(6):1767-1771.
    .. [2] Cornish-Bowden A (1985). Nomenclature for incompletely specified bases in nucleic acid
       sequences: recommendations 1984. Nucleic Acids Res 13(9):3021-3030.
    """
    n_lines = 0
    seq_len = 0

    def bad(line_no: int, field: str, what: str) -> BadReadsError:
        rec = (line_no - 1) // 4 + 1
        first = 4 * (rec - 1) + 1
        return BadReadsError(f"{path}: record {rec} (line {first}): {field}: {what}")

    try:
        with _open(path) as fh:
            for n_lines, line in enumerate(fh, start=1):  # noqa: B007
                k = (n_lines - 1) % 4
                if k == 0:
                    if not line.startswith(b"@"):
                        raise bad(n_lines, "header", "expected a FASTQ header starting with '@'")
                elif k == 1:
                    seq = line.rstrip(b"\r\n")
                    m = _NON_IUPAC.search(seq)
                    if m:
                        ch = m.group().decode("latin-1")
                        raise bad(
                            n_lines,
                            "sequence",
                            f"non-IUPAC character {ch!r} at position {m.start() + 1}",
                        )
                    seq_len = len(seq)
                elif k == 2:
                    if not line.startswith(b"+"):
                        raise bad(n_lines, "separator", "expected the '+' separator line")
                else:
                    q_len = len(line.rstrip(b"\r\n"))
                    if q_len < seq_len and not line.endswith(b"\n"):
                        raise bad(
                            n_lines,
                            "quality",
                            f"truncated FASTQ: the file ends inside the quality line "
                            f"({q_len} of {seq_len} values)",
                        )
                    if q_len != seq_len:
                        raise bad(
                            n_lines,
                            "quality",
                            f"{q_len} quality values for a sequence of length {seq_len}",
                        )
    except (EOFError, OSError, zlib.error) as exc:
        raise BadReadsError(f"{path}: corrupt or truncated compressed file ({exc})") from None
    if n_lines % 4:
        raise bad(
            n_lines,
            "record",
            f"truncated FASTQ: the file ends after line {n_lines}, inside this record",
        )
    return n_lines // 4


def fastp_counts(fastp_json: str | os.PathLike) -> dict[str, int]:
    """Fragments before and after fastp, from its JSON report.

    fastp's ``summary.*.total_reads`` counts both mates of a pair, so paired counts are halved.
    """
    with open(fastp_json) as fh:
        rep = json.load(fh)
    paired = "read2_mean_length" in rep["summary"]["before_filtering"]
    div = 2 if paired else 1
    return {
        "raw": int(rep["summary"]["before_filtering"]["total_reads"]) // div,
        "trimmed": int(rep["summary"]["after_filtering"]["total_reads"]) // div,
        "adapter_trimmed_reads": int(
            rep.get("adapter_cutting", {}).get("adapter_trimmed_reads", 0)
        ),
        "paired": paired,
    }


def read_stats(
    sample: str,
    fastp_json: str | os.PathLike,
    nonhost_reads: list[str | os.PathLike],
    out_json: str | os.PathLike,
    min_fragments: int = 0,
    on_bad_sample: str = "stop",
) -> dict:
    """Count the reads left after QC and host removal for one sample; write them as JSON.

    Also checks that the non-host FASTQ files are well formed and that mates are in step. A
    sample with fewer than ``min_fragments`` left raises :class:`BadReadsError` when
    ``on_bad_sample`` is ``stop``; with ``exclude`` it gets ``status: excluded`` and a reason, and
    the merge leaves it out of the cohort tables.
    """
    counts = fastp_counts(fastp_json)
    n1 = count_fastq(nonhost_reads[0])
    if len(nonhost_reads) > 1:
        n2 = count_fastq(nonhost_reads[1])
        if n1 != n2:
            raise BadReadsError(f"{sample}: non-host R1 has {n1} reads but R2 has {n2}")
    stats = {
        "sample_id": sample,
        "layout": "paired" if counts["paired"] else "single",
        "raw": counts["raw"],
        "trimmed": counts["trimmed"],
        "non_host": n1,
        "host": counts["trimmed"] - n1,
        "host_fraction": (counts["trimmed"] - n1) / counts["trimmed"] if counts["trimmed"] else 0.0,
        "adapter_trimmed_reads": counts["adapter_trimmed_reads"],
        "status": "pass",
        "reason": "",
    }
    if n1 < min_fragments:
        reason = f"only {n1} fragments left after QC and host removal (minimum {min_fragments})"
        if on_bad_sample == "stop":
            raise BadReadsError(f"{sample}: {reason} (on_bad_sample: stop)")
        stats.update(status="excluded", reason=reason)
        logger.warning("%s: excluded: %s", sample, reason)
    with atomic_path(out_json) as tmp:
        tmp.write_text(json.dumps(stats, indent=2) + "\n")
    logger.info("%s: %s", sample, stats)
    return stats


def read_tracking(
    stats_jsons: list[str | os.PathLike],
    counts_tsv: str | os.PathLike,
    out_tsv: str | os.PathLike,
) -> pd.DataFrame:
    """Combine per-sample read statistics with classified counts into the read-tracking table.

    Parameters
    ----------
    stats_jsons : list of path-like
        Outputs of :func:`read_stats`.
    counts_tsv : path-like
        A standard ``counts_<rank>.tsv`` (see :mod:`icibiome.io`); classified = all rows but
        ``UNCLASSIFIED``.
    out_tsv : path-like
        Written with columns sample_id, layout, raw, trimmed, non_host, classified, host,
        host_fraction, and the survival fractions ``*_pct`` relative to raw.
    """
    rows = [json.loads(Path(p).read_text()) for p in stats_jsons]
    df = pd.DataFrame(rows).set_index("sample_id")
    counts = pd.read_csv(counts_tsv, sep="\t", index_col="clade_name").drop(columns="lineage")
    classified = counts.drop(index="UNCLASSIFIED", errors="ignore").sum(axis=0)
    df["classified"] = classified.reindex(df.index).fillna(0).round().astype(int)
    for stage in TRACKING_STAGES[1:]:
        df[f"{stage}_pct"] = (100 * df[stage] / df["raw"].where(df["raw"] > 0)).round(2)
    df = df.reset_index()
    write_tsv(df, out_tsv)
    return df


def check_reads(
    sample: str,
    fq1: str | os.PathLike,
    fq2: str | os.PathLike | None,
    out_json: str | os.PathLike,
) -> dict:
    """Check one sample's raw reads before any compute; write ``{status, reason, fragments}``.

    A sample fails when a file is empty, truncated or corrupt, or when R1 and R2 hold different
    numbers of reads. The check never raises for bad reads: the decision (stop or exclude) is
    taken for all samples together by :func:`select_samples`.
    """
    status = {"sample_id": sample, "status": "pass", "reason": "", "fragments": 0}
    try:
        n1 = count_fastq(fq1)
        if n1 == 0:
            raise BadReadsError(f"{fq1}: no reads")
        if fq2:
            n2 = count_fastq(fq2)
            if n1 != n2:
                raise BadReadsError(f"R1 has {n1} reads but R2 has {n2} ({fq1}, {fq2})")
        status["fragments"] = n1
    except BadReadsError as exc:
        status.update(status="fail", reason=str(exc))
        logger.error("%s: %s", sample, exc)
    with atomic_path(out_json) as tmp:
        tmp.write_text(json.dumps(status, indent=2) + "\n")
    return status


def select_samples(
    check_jsons: list[str | os.PathLike], on_bad_sample: str, out_tsv: str | os.PathLike
) -> pd.DataFrame:
    """Decide which samples go on, from the per-sample read checks.

    Parameters
    ----------
    check_jsons : list of path-like
        Outputs of :func:`check_reads`.
    on_bad_sample : {'stop', 'exclude'}
        ``stop``: raise :class:`BadReadsError` listing every failed sample. ``exclude``: keep
        going without them; they are listed with their reason in ``out_tsv`` and the report.
    """
    df = pd.DataFrame([json.loads(Path(p).read_text()) for p in check_jsons])
    bad = df[df["status"] != "pass"]
    if len(bad) and on_bad_sample == "stop":
        lines = "\n".join(f"  - {r.sample_id}: {r.reason}" for r in bad.itertuples())
        raise BadReadsError(
            f"{len(bad)} sample(s) have unusable reads (on_bad_sample: stop):\n{lines}\n"
            "Fix or remove them in the sample sheet, or set on_bad_sample: exclude."
        )
    df.loc[df["status"] != "pass", "status"] = "excluded"
    if len(bad):
        logger.warning("excluding %d sample(s): %s", len(bad), ", ".join(bad["sample_id"]))
    write_tsv(df[["sample_id", "status", "reason", "fragments"]], out_tsv)
    return df


def passed_samples(status_tsv: str | os.PathLike) -> list[str]:
    """Sample ids with status ``pass`` in a table written by :func:`select_samples`."""
    df = pd.read_csv(status_tsv, sep="\t", dtype=str, keep_default_na=False)
    return sorted(df.loc[df["status"] == "pass", "sample_id"])


def excluded_samples(
    status_tsv: str | os.PathLike, stats_jsons: list[str | os.PathLike]
) -> pd.DataFrame:
    """All samples left out of cohort-level results, with the stage and reason."""
    rows = []
    df = pd.read_csv(status_tsv, sep="\t", dtype=str, keep_default_na=False)
    for r in df[df["status"] != "pass"].itertuples():
        rows.append({"sample_id": r.sample_id, "stage": "read check", "reason": r.reason})
    for p in stats_jsons:
        s = json.loads(Path(p).read_text())
        if s.get("status", "pass") != "pass":
            rows.append({"sample_id": s["sample_id"], "stage": "after QC", "reason": s["reason"]})
    return pd.DataFrame(rows, columns=["sample_id", "stage", "reason"])
