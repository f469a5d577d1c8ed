"""Report sections beyond QC: MultiQC custom content made from the analysis stages' tables.

:mod:`icibiome.report` holds the QC and run sections and runs MultiQC; this module adds sections
that need the sample sheet's clinical columns, starting with the taxonomic composition by
response group.
"""

from __future__ import annotations

import logging
import os
import re

import pandas as pd
import yaml

from icibiome.io import UNCLASSIFIED, atomic_path, read_standard_table

logger = logging.getLogger(__name__)

RESPONSE_ORDER = ("R", "NR", "unknown")


def group_mean_composition(
    abundance: pd.DataFrame, groups: pd.Series, top_n: int = 12
) -> pd.DataFrame:
    """Mean relative abundance of the ``top_n`` most abundant taxa per group, the rest as 'Other'.

    Parameters
    ----------
    abundance : DataFrame
        Samples x taxa relative abundances in percent (rows sum to 100, or 0 for a sample with
        nothing classified).
    groups : Series
        Group label per sample (index = sample ids of ``abundance``).
    top_n : int
        Taxa shown: the most abundant by mean over all samples.

    Returns
    -------
    DataFrame
        Groups x (top taxa + ``Other``), each row the arithmetic mean of its samples' profiles,
        so rows sum to 100 when every member has a profile.

    Notes
    -----
    The group profile is the arithmetic mean of the member samples' relative abundances (each
    sample weighted equally, whatever its depth), as in the stacked "mean composition per
    group" bars of e.g. Routy et al. (2018) and phyloseq's ``merge_samples(fun = mean)``.
    Samples with nothing classified are left out of their group's mean (they have no
    composition). Taxa are ranked by their mean over all samples, as in
    :func:`icibiome.report.composition_mqc`.
    """
    ab = abundance.astype(float)
    ab = ab[ab.sum(axis=1) > 0]
    g = groups.reindex(ab.index)
    top = ab.mean(axis=0).sort_values(ascending=False, kind="stable").index[:top_n]
    shown = ab[top]
    shown = shown.assign(Other=(ab.sum(axis=1) - shown.sum(axis=1)).clip(lower=0))
    return shown.groupby(g, sort=False).mean()


def composition_by_response_mqc(
    abundance_tsv: str | os.PathLike,
    samples_tsv: str | os.PathLike,
    out: str | os.PathLike,
    top_n: int = 12,
    rank: str = "species",
    profiler: str = "sylph",
) -> pd.DataFrame:
    """Stacked bars of the mean composition per response group, overall and within each cohort.

    Parameters
    ----------
    abundance_tsv : path-like
        Standard abundance table (percent of classified) of one rank.
    samples_tsv : path-like
        Sample sheet; its ``response`` (R / NR / empty) and ``cohort`` columns are used.
    out : path-like
        MultiQC custom-content TSV to write (``*_mqc.tsv``, ``plot_type: bargraph``).
    top_n, rank, profiler
        Taxa shown, and the rank and profiler named in the section.

    Returns
    -------
    DataFrame
        The bars: one row per group, labelled ``"<response> (n=k)"`` for all cohorts together,
        then ``"<cohort> · <response> (n=k)"`` per cohort when there is more than one cohort.
        Samples without a response label form the group ``unknown``.

    Notes
    -----
    Each bar is :func:`group_mean_composition` of its group.
    """
    from icibiome.samplesheet import read_sample_sheet

    tab = (
        read_standard_table(abundance_tsv)
        .drop(index=UNCLASSIFIED, errors="ignore")
        .drop(columns="lineage")
        .T
    )
    sheet = read_sample_sheet(samples_tsv, check_files=False)
    missing = [s for s in tab.index if s not in sheet.index]
    if missing:
        raise ValueError(f"samples in {abundance_tsv} but not in {samples_tsv}: {missing}")
    info = sheet.loc[tab.index, ["cohort", "response"]].astype(str)
    info["response"] = info["response"].replace("", "unknown")
    has_profile = tab.sum(axis=1) > 0

    def order(labels):
        return sorted(
            labels, key=lambda r: (RESPONSE_ORDER.index(r) if r in RESPONSE_ORDER else 99, r)
        )

    overall = group_mean_composition(tab, info["response"], top_n)
    n_overall = info.loc[has_profile, "response"].value_counts()
    rows = [
        overall.loc[[r]].rename(index={r: f"{r} (n={n_overall[r]})"}) for r in order(overall.index)
    ]
    cohorts = sorted(info["cohort"].unique())
    if len(cohorts) > 1:
        pair = info["cohort"] + " · " + info["response"]
        by_pair = group_mean_composition(tab, pair, top_n)
        n_pair = pair[has_profile].value_counts()
        for c in cohorts:
            for r in order(info.loc[info["cohort"] == c, "response"].unique()):
                key = f"{c} · {r}"
                if key in by_pair.index:
                    rows.append(by_pair.loc[[key]].rename(index={key: f"{key} (n={n_pair[key]})"}))
    df = pd.concat(rows)
    df.columns = [
        c if c == "Other" else re.sub(r"^[a-z]__", "", c).replace("_", " ") for c in df.columns
    ]
    header = {
        "id": f"icibiome_composition_response_{profiler}_{rank}",
        "section_name": f"Taxonomic composition by response ({profiler}, {rank})",
        "description": (
            f"Mean relative abundance (% of classified) of the {top_n} most abundant {rank}-level "
            "taxa per response group (R = responder, NR = non-responder, unknown = no label), over "
            "all cohorts and then within each cohort; n = samples in the group. The remainder is "
            f"pooled as 'Other'. Per-sample bars: the taxonomic composition section."
        ),
        "plot_type": "bargraph",
        "pconfig": {
            "id": f"icibiome_composition_response_{profiler}_{rank}_plot",
            "title": f"icibiome: mean {rank} composition by response ({profiler})",
            "ylab": "Mean relative abundance (%)",
            "cpswitch_c_active": False,
            "sort_samples": False,
        },
    }
    lines = yaml.safe_dump(header, sort_keys=False, width=1000).splitlines()
    with atomic_path(out) as tmp, open(tmp, "w") as fh:
        for line in lines:
            fh.write(f"# {line}\n")
        df.to_csv(fh, sep="\t", index_label="Group", float_format="%.4g")
    logger.info("composition by response: %d bars, %d taxa -> %s", len(df), df.shape[1], out)
    return df
