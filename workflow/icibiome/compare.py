"""Profiler comparison against a known truth: Bray-Curtis, precision and recall, time per sample.

Used on the synthetic demo, where the planted composition is known (``truth/abundance_species.tsv``
and the read-based ``truth/read_abundance_species.tsv``), to put sylph, Kraken2 (raw and with the
Bracken method) and MetaPhlAn side by side in the report and in ``benchmarks/results/``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome.io import read_abundance, write_tsv

logger = logging.getLogger(__name__)


def bray_curtis_matrix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-wise Bray-Curtis dissimilarity of two aligned non-negative matrices.

    ``BC = sum|x - y| / sum(x + y)`` per row (Bray & Curtis 1957); 0 when both rows are empty.

    Examples
    --------
    >>> bray_curtis_matrix(np.array([[50.0, 50.0, 0.0]]), np.array([[50.0, 0.0, 50.0]]))
    array([0.5])
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    num = np.abs(x - y).sum(axis=1)
    den = (x + y).sum(axis=1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def compare_to_truth(
    truth: pd.DataFrame | str | os.PathLike,
    profile: pd.DataFrame | str | os.PathLike,
    detection_limit: float = 0.0,
) -> pd.DataFrame:
    """Per-sample accuracy of a profile against the truth (both samples x taxa, percent).

    Parameters
    ----------
    truth, profile : DataFrame or path
        Samples x taxa matrices (:func:`icibiome.io.read_abundance`) or standard-table paths.
        Taxa are matched by ``clade_name``; samples by id (the profile's samples must be in the
        truth). Both are renormalised to 100 per sample first.
    detection_limit : float
        A taxon is detected when its profile abundance (percent) exceeds this.

    Returns
    -------
    DataFrame
        ``sample_id``, ``bray_curtis``, ``precision`` (detected taxa that are truly present),
        ``recall`` (present taxa that are detected), ``f1``, ``n_true``, ``n_detected``.

    Notes
    -----
    Bray-Curtis dissimilarity on relative abundances (Bray JR, Curtis JT. Ecol Monogr
    1957;27:325-349), the accuracy measure of profiler benchmarks such as CAMI (Meyer et al.,
    Nat Methods 2022), which also report detection precision ("purity") and recall
    ("completeness") at a rank.
    """
    t = read_abundance(truth) if not isinstance(truth, pd.DataFrame) else truth
    p = read_abundance(profile) if not isinstance(profile, pd.DataFrame) else profile
    missing = [s for s in p.index if s not in t.index]
    if missing:
        raise ValueError(f"profile sample(s) {missing[:5]} are not in the truth")
    taxa = t.columns.union(p.columns)
    tt = t.loc[p.index].reindex(columns=taxa, fill_value=0.0).to_numpy(float)
    pp = p.reindex(columns=taxa, fill_value=0.0).to_numpy(float)
    tt = _close(tt)
    pp = _close(pp)
    true = tt > 0
    det = pp > detection_limit
    tp = (true & det).sum(axis=1)
    n_det = det.sum(axis=1)
    n_true = true.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(n_det > 0, tp / np.maximum(n_det, 1), np.nan)
        recall = np.where(n_true > 0, tp / np.maximum(n_true, 1), np.nan)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return pd.DataFrame(
        {
            "sample_id": list(p.index),
            "bray_curtis": bray_curtis_matrix(tt, pp),
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "n_true": n_true,
            "n_detected": n_det,
        }
    )


def _close(m: np.ndarray) -> np.ndarray:
    s = m.sum(axis=1, keepdims=True)
    return np.divide(100 * m, s, out=np.zeros_like(m), where=s > 0)


def seconds_per_sample(benchmarks: Sequence[str | os.PathLike]) -> float:
    """Mean wall-clock seconds (column ``s``) over Snakemake ``benchmark:`` files."""
    vals = []
    for b in benchmarks:
        df = pd.read_csv(b, sep="\t")
        if "s" not in df.columns:
            raise ValueError(f"{b}: not a Snakemake benchmark file (no 's' column)")
        vals.append(float(df["s"].mean()))
    return float(np.mean(vals)) if vals else float("nan")


def compare_profilers(
    truth: str | os.PathLike,
    profiles: Mapping[str, str | os.PathLike],
    out: str | os.PathLike,
    benchmarks: Mapping[str, Sequence[str | os.PathLike]] | None = None,
    detection_limit: float = 0.0,
    per_sample_out: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """One row per profiler: mean/max Bray-Curtis to truth, precision, recall, s per sample.

    Parameters
    ----------
    truth : path-like
        Truth standard table (species).
    profiles : mapping
        ``profiler name -> its species standard table``.
    out : path-like
        Summary TSV (e.g. ``benchmarks/results/profiler_comparison.tsv``).
    benchmarks : mapping, optional
        ``profiler name -> Snakemake benchmark files of its per-sample jobs``.
    detection_limit : float
        See :func:`compare_to_truth`.
    per_sample_out : path-like, optional
        Also write the per-sample figures (long format, with a ``profiler`` column).
    """
    rows, per = [], []
    for name, table in profiles.items():
        acc = compare_to_truth(truth, table, detection_limit)
        acc.insert(0, "profiler", name)
        per.append(acc)
        secs = seconds_per_sample(benchmarks.get(name, [])) if benchmarks else float("nan")
        rows.append(
            {
                "profiler": name,
                "samples": len(acc),
                "bray_curtis_mean": acc["bray_curtis"].mean(),
                "bray_curtis_max": acc["bray_curtis"].max(),
                "precision_mean": acc["precision"].mean(),
                "recall_mean": acc["recall"].mean(),
                "f1_mean": acc["f1"].mean(),
                "seconds_per_sample": secs,
            }
        )
    summary = pd.DataFrame(rows)
    write_tsv(summary, out, float_format="%.4f")
    if per_sample_out is not None:
        write_tsv(pd.concat(per, ignore_index=True), per_sample_out, float_format="%.4f")
    logger.info("profiler comparison written to %s", Path(out))
    return summary
