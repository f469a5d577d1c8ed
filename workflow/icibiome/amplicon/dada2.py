"""DADA2 (R package, through ``Rscript``) as the alternative denoiser of the 16S path."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from icibiome.amplicon.runner import AmpliconToolError, run_tool
from icibiome.amplicon.tables import read_asv_table

logger = logging.getLogger(__name__)


DADA2_SCRIPT = Path(__file__).resolve().parent / "R" / "dada2.R"


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
        run_tool(
            ["Rscript", "--vanilla", DADA2_SCRIPT, d / "manifest.tsv", d / "params.tsv", d, lg], lg
        )
        for name in ("asvs.fa", "asv_table.tsv", "tracking.tsv"):
            os.replace(d / name, out_dir / name)
    return read_asv_table(out_dir / "asv_table.tsv")
