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
    recall_floor: float = 0.5,
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
    recall_floor : float
        ``recall_major`` counts only the true taxa at or above this percent (a taxon at 0.01 %
        has a handful of reads in a demo sample; as ``icibiome.demo.evaluate.profile_accuracy``).

    Returns
    -------
    DataFrame
        ``sample_id``, ``bray_curtis``, ``precision`` (detected taxa that are truly present),
        ``recall`` (present taxa that are detected), ``recall_major``, ``f1``, ``n_true``,
        ``n_detected``.

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
    major = tt >= recall_floor
    n_major = major.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(n_det > 0, tp / np.maximum(n_det, 1), np.nan)
        recall = np.where(n_true > 0, tp / np.maximum(n_true, 1), np.nan)
        recall_major = np.where(n_major > 0, (major & det).sum(axis=1) / np.maximum(n_major, 1),
                                np.nan)  # fmt: skip
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return pd.DataFrame(
        {
            "sample_id": list(p.index),
            "bray_curtis": bray_curtis_matrix(tt, pp),
            "precision": precision,
            "recall": recall,
            "recall_major": recall_major,
            "f1": f1,
            "n_true": n_true,
            "n_detected": n_det,
        }
    )


def _close(m: np.ndarray) -> np.ndarray:
    s = m.sum(axis=1, keepdims=True)
    return np.divide(100 * m, s, out=np.zeros_like(m), where=s > 0)


def seconds_per_sample(
    benchmarks: Sequence[str | os.PathLike], n_samples: int | None = None
) -> float:
    """Wall-clock seconds per sample (column ``s``) from Snakemake ``benchmark:`` files.

    Each file contributes its mean ``s`` (``benchmark: repeat(...)`` writes several rows); the
    total is divided by ``n_samples`` (a profiler with several per-sample steps, e.g. Kraken2
    classification plus the Bracken-method re-estimation, has several files per sample) or,
    when not given, by the number of files. NaN without files.
    """
    vals = []
    for b in benchmarks:
        df = pd.read_csv(b, sep="\t")
        if "s" not in df.columns:
            raise ValueError(f"{b}: not a Snakemake benchmark file (no 's' column)")
        vals.append(float(df["s"].mean()))
    if not vals:
        return float("nan")
    return float(np.sum(vals) / (n_samples or len(vals)))


def step_benchmarks(
    samples: Sequence[str], steps: Sequence[str], benchmark_dir: str | os.PathLike = "benchmarks"
) -> tuple[list[Path], int]:
    """Benchmark files ``<benchmark_dir>/<step>/<sample>.tsv`` of the samples with all steps.

    Returns the files and the number of samples they cover. A sample missing a step's file
    (e.g. its profile was made by an earlier run whose benchmarks were removed) is left out of
    the timing rather than counted with a partial time.
    """
    files, n = [], 0
    for s in samples:
        paths = [Path(benchmark_dir, step, f"{s}.tsv") for step in steps]
        if paths and all(p.exists() for p in paths):
            files.extend(paths)
            n += 1
    return files, n


def compare_profilers(
    truth: str | os.PathLike,
    profiles: Mapping[str, str | os.PathLike],
    out: str | os.PathLike,
    benchmarks: Mapping[str, Sequence[str | os.PathLike]] | None = None,
    detection_limit: float = 0.0,
    per_sample_out: str | os.PathLike | None = None,
    steps: Mapping[str, Sequence[str]] | None = None,
    benchmark_dir: str | os.PathLike = "benchmarks",
    recall_floor: float = 0.5,
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
        ``profiler name -> Snakemake benchmark files of its per-sample jobs`` (all steps of all
        samples; divided by the profile's number of samples).
    detection_limit, recall_floor : float
        See :func:`compare_to_truth`.
    per_sample_out : path-like, optional
        Also write the per-sample figures (long format, with a ``profiler`` column).
    steps : mapping, optional
        ``profiler name -> names of its per-sample rules``; their benchmark files
        ``<benchmark_dir>/<rule>/<sample>.tsv`` are found with :func:`step_benchmarks` (used
        when ``benchmarks`` has no entry for the profiler).
    benchmark_dir : path-like
        Folder of the Snakemake benchmark files.
    """
    rows, per = [], []
    for name, table in profiles.items():
        acc = compare_to_truth(truth, table, detection_limit, recall_floor)
        acc.insert(0, "profiler", name)
        per.append(acc)
        if benchmarks and name in benchmarks:
            secs = seconds_per_sample(benchmarks[name], n_samples=len(acc))
        elif steps and name in steps:
            files, n = step_benchmarks(list(acc["sample_id"]), steps[name], benchmark_dir)
            secs = seconds_per_sample(files, n_samples=n)
        else:
            secs = float("nan")
        rows.append(
            {
                "profiler": name,
                "samples": len(acc),
                "bray_curtis_mean": acc["bray_curtis"].mean(),
                "bray_curtis_max": acc["bray_curtis"].max(),
                "precision_mean": acc["precision"].mean(),
                "recall_mean": acc["recall"].mean(),
                "recall_major_mean": acc["recall_major"].mean(),
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


def profiler_comparison_mqc(
    summary: pd.DataFrame, out: str | os.PathLike, truth_label: str = "truth"
) -> None:
    """MultiQC custom-content table "Profiler comparison vs demo truth" of :func:`compare_profilers`."""
    from icibiome.mqc import write_table

    cols = ["samples", "bray_curtis_mean", "bray_curtis_max", "precision_mean", "recall_mean",
            "recall_major_mean", "seconds_per_sample"]  # fmt: skip
    unit = {"format": "{:,.3f}", "min": 0, "max": 1}
    header = {
        "id": "icibiome_profiler_comparison",
        "section_name": "Profiler comparison vs demo truth",
        "description": (
            f"Each shotgun profiler's species table against the known composition ({truth_label}): "
            "Bray-Curtis dissimilarity per sample (0 = identical; Bray & Curtis 1957), detection "
            "precision (detected species truly present) and recall (present species detected; "
            "'recall >= 0.5 %' counts only species at 0.5 % or more), as in CAMI (Meyer et al. "
            "2022). Seconds per sample: wall time of the profiler's per-sample jobs (Snakemake "
            "benchmark files; Kraken2 = classification + Bracken-method re-estimation)."
        ),
        "plot_type": "table",
        "pconfig": {
            "id": "icibiome_profiler_comparison_table",
            "title": "icibiome: profiler comparison",
            "sort_rows": False,
        },
        "headers": {
            "samples": {"title": "Samples", "format": "{:,.0f}"},
            "bray_curtis_mean": {"title": "Bray-Curtis mean", **unit},
            "bray_curtis_max": {"title": "Bray-Curtis max", **unit},
            "precision_mean": {"title": "Precision", **unit},
            "recall_mean": {"title": "Recall", **unit},
            "recall_major_mean": {"title": "Recall >= 0.5 %", **unit},
            "seconds_per_sample": {"title": "Seconds / sample", "format": "{:,.2f}"},
        },
    }
    write_table(summary.set_index("profiler")[cols], header, out, index_label="Profiler")


def profiler_comparison(
    truth: str | os.PathLike,
    profilers: Sequence[str],
    profiles: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    per_sample_out: str | os.PathLike,
    mqc_out: str | os.PathLike,
    steps: Mapping[str, Sequence[str]],
    benchmark_dir: str | os.PathLike = "benchmarks",
) -> pd.DataFrame:
    """Rule profiler_comparison: :func:`compare_profilers` of the run's species tables + its
    MultiQC table (:func:`profiler_comparison_mqc`)."""
    if len(profilers) != len(profiles):
        raise ValueError(f"{len(profilers)} profiler names for {len(profiles)} tables")
    summary = compare_profilers(
        truth, dict(zip(profilers, profiles, strict=True)), out, per_sample_out=per_sample_out,
        steps=steps, benchmark_dir=benchmark_dir,
    )  # fmt: skip
    profiler_comparison_mqc(summary, mqc_out, truth_label=Path(truth).name)
    return summary
