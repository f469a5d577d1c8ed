"""Step 1 of the 16S path: primer removal with cutadapt, and its JSON report."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

from icibiome.amplicon.runner import need_tool, run_tool
from icibiome.amplicon.sequences import reverse_complement
from icibiome.io import atomic_path

logger = logging.getLogger(__name__)


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
    need_tool("cutadapt")
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
            run_tool(cmd, log)
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
