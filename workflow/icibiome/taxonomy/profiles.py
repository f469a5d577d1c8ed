"""Per-sample profiles in one standard shape, and their merge into the standard rank tables.

Per-sample profile
------------------
Every profiler's per-sample result is written as a TSV with the columns

``lineage``
    Full MetaPhlAn-style lineage of the taxon, ``k__Bacteria|p__...|...|s__...`` (the deepest rank
    the profiler resolved), or ``UNCLASSIFIED`` for the reads assigned to nothing.
``relative_abundance``
    Percent of the classified community (sums to 100 over the classified rows; 0 on
    ``UNCLASSIFIED``). Profilers that estimate cell abundance (sylph, MetaPhlAn) put it here.
``estimated_reads``
    Fragments (read pairs or single reads) attributed to the taxon.

Tool-specific columns may follow (e.g. sylph's ANI). A sample with nothing classified is a
valid profile: one ``UNCLASSIFIED`` row holding all its fragments (zero-hit semantics).

:func:`merge_profiles` sums the profiles to each rank and writes the standard tables described
in :mod:`icibiome.io`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome import RANK_PREFIX, RANKS
from icibiome.io import UNCLASSIFIED, write_standard_table, write_tsv

logger = logging.getLogger(__name__)

PROFILE_COLUMNS = ("lineage", "relative_abundance", "estimated_reads")


def write_sample_profile(profile: pd.DataFrame, unclassified_reads: float, path) -> pd.DataFrame:
    """Normalise and write one sample's profile (see the module docstring for the format).

    Parameters
    ----------
    profile : DataFrame
        Columns ``lineage``, ``relative_abundance`` (any non-negative scale; renormalised here to
        percent) and ``estimated_reads``; extra columns are kept.
    unclassified_reads : float
        Fragments not attributed to any taxon.
    path : path-like
        Destination TSV (written atomically).
    """
    missing = [c for c in PROFILE_COLUMNS if c not in profile.columns]
    if missing:
        raise ValueError(f"profile lacks column(s) {missing}")
    prof = profile[profile["lineage"] != UNCLASSIFIED].copy()
    total = prof["relative_abundance"].sum()
    prof["relative_abundance"] = 100 * prof["relative_abundance"] / total if total > 0 else 0.0
    prof = prof.sort_values("relative_abundance", ascending=False, kind="stable")
    unc = pd.DataFrame(
        {
            "lineage": [UNCLASSIFIED],
            "relative_abundance": [0.0],
            "estimated_reads": [max(0.0, unclassified_reads)],
        }
    )
    # a zero-hit sample (nothing classified) is the UNCLASSIFIED row alone, with the same columns
    out = (
        pd.concat([prof, unc], ignore_index=True)
        if len(prof)
        else unc.reindex(columns=list(prof.columns)).astype({"lineage": str})
    )
    write_tsv(out, path, float_format="%.8g")
    return out


def read_sample_profile(path: str | os.PathLike) -> pd.DataFrame:
    """Read a per-sample profile written by :func:`write_sample_profile`."""
    df = pd.read_csv(path, sep="\t", dtype={"lineage": str})
    missing = [c for c in PROFILE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: not a per-sample profile, missing column(s) {missing}")
    return df


def truncate_lineage(lineage: str, rank: str) -> str | None:
    """Cut a lineage at ``rank``; ``None`` when the lineage does not reach that rank.

    Examples
    --------
    >>> truncate_lineage("k__Bacteria|p__Bacillota|c__Clostridia|o__Eubacteriales", "phylum")
    'k__Bacteria|p__Bacillota'
    >>> truncate_lineage("k__Bacteria|p__Bacillota", "genus") is None
    True
    """
    prefix = RANK_PREFIX[rank]
    parts = lineage.split("|")
    for i, part in enumerate(parts):
        if part.startswith(prefix):
            return "|".join(parts[: i + 1])
    return None


def merge_profiles(
    profiles: Sequence[str | os.PathLike],
    sample_ids: Sequence[str],
    ranks: Sequence[str],
    out_dir: str | os.PathLike,
) -> dict[str, pd.DataFrame]:
    """Merge per-sample profiles into ``abundance_<rank>.tsv`` and ``counts_<rank>.tsv``.

    A taxon whose lineage does not reach a rank (e.g. reads left at genus when the rank is
    species) counts as unclassified at that rank: its reads go to ``UNCLASSIFIED`` in the counts
    table and it is left out of the relative abundance, which is then renormalised over the taxa
    resolved at that rank.

    Returns
    -------
    dict
        ``rank -> abundance table`` (the written standard tables, as DataFrames).
    """
    if len(profiles) != len(sample_ids):
        raise ValueError("profiles and sample_ids differ in length")
    for r in ranks:
        if r not in RANKS:
            raise ValueError(f"unknown rank {r!r}; expected one of {RANKS}")
    loaded = {s: read_sample_profile(p) for s, p in zip(sample_ids, profiles, strict=True)}
    out_dir = Path(out_dir)
    result = {}
    for rank in ranks:
        abund: dict[str, pd.Series] = {}
        counts: dict[str, pd.Series] = {}
        for s, prof in loaded.items():
            is_unc = prof["lineage"] == UNCLASSIFIED
            clades = prof["lineage"].map(lambda x, r=rank: truncate_lineage(x, r))
            resolved = ~is_unc & clades.notna()
            a = prof.loc[resolved, "relative_abundance"].groupby(clades[resolved]).sum()
            a = 100 * a / a.sum() if a.sum() > 0 else a
            c = prof.loc[resolved, "estimated_reads"].groupby(clades[resolved]).sum()
            c[UNCLASSIFIED] = prof.loc[~resolved, "estimated_reads"].sum()
            abund[s], counts[s] = a, c
        a_df = pd.DataFrame(abund).reindex(columns=list(sample_ids)).fillna(0.0)
        c_df = pd.DataFrame(counts).reindex(columns=list(sample_ids)).fillna(0.0)
        a_df = with_ids(a_df)
        c_df = with_ids(c_df.apply(round_preserving_sum))
        write_standard_table(a_df, out_dir / f"abundance_{rank}.tsv")
        write_standard_table(c_df, out_dir / f"counts_{rank}.tsv")
        logger.info("%s: %d taxa over %d samples", rank, len(a_df), len(sample_ids))
        result[rank] = a_df
    return result


def round_preserving_sum(values: pd.Series) -> pd.Series:
    """Round to integers so that the rounded values add up to the rounded total (largest remainder).

    Examples
    --------
    >>> round_preserving_sum(pd.Series([0.5, 0.5, 0.5, 0.5])).tolist()
    [1.0, 1.0, 0.0, 0.0]
    """
    floor = np.floor(values)
    short = int(round(values.sum() - floor.sum()))
    order = np.argsort(-(values - floor).to_numpy(), kind="stable")[:short]
    out = floor.to_numpy().copy()
    out[order] += 1
    return pd.Series(out, index=values.index)


def with_ids(df: pd.DataFrame) -> pd.DataFrame:
    """Lineage-indexed taxa x samples -> a standard table: ``clade_name``, ``lineage``, samples.

    ``clade_name`` is the last lineage element, qualified with its parent (``parent;clade``)
    where two lineages end in the same name.
    """
    lineage = pd.Series(df.index, index=df.index)
    clade = lineage.str.split("|").str[-1]
    if clade.duplicated().any():
        # the same clade name under two parents: qualify with the parent to keep names unique
        dup = clade.duplicated(keep=False)
        clade[dup] = lineage[dup].str.split("|").str[-2:].str.join(";")
    out = df.copy()
    out.insert(0, "lineage", lineage.values)
    out.insert(0, "clade_name", clade.values)
    return out.reset_index(drop=True)


def bray_curtis(a: pd.Series, b: pd.Series) -> float:
    """Bray-Curtis dissimilarity of two abundance vectors aligned on their union of taxa.

    Examples
    --------
    >>> bray_curtis(pd.Series({"x": 50.0, "y": 50.0}), pd.Series({"x": 50.0, "z": 50.0}))
    0.5
    """
    x, y = a.align(b, fill_value=0.0)
    den = float(x.sum() + y.sum())
    return float(np.abs(x - y).sum() / den) if den > 0 else 0.0


def merge_passing(
    profiles: Sequence[str | os.PathLike],
    stats_jsons: Sequence[str | os.PathLike],
    ranks: Sequence[str],
    out_dir: str | os.PathLike,
) -> dict[str, pd.DataFrame]:
    """:func:`merge_profiles` over the samples whose read statistics have ``status: pass``.

    Profiles are matched to samples by file name (``<sample>.tsv``); samples excluded after QC
    (too few reads left, with ``on_bad_sample: exclude``) are left out of the cohort tables.
    """
    import json

    status = {}
    for p in stats_jsons:
        s = json.loads(Path(p).read_text())
        status[s["sample_id"]] = s.get("status", "pass")
    keep_ids, keep_paths = [], []
    for p in profiles:
        sid = Path(p).name.removesuffix(".tsv")
        if status.get(sid, "pass") == "pass":
            keep_ids.append(sid)
            keep_paths.append(p)
        else:
            logger.warning("%s left out of the merged tables (status %s)", sid, status[sid])
    return merge_profiles(keep_paths, keep_ids, ranks, out_dir)
