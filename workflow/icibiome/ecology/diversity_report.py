"""The diversity stage's figure and MultiQC section.

:func:`diversity_figure` draws ``pcoa.png`` (PCoA of each distance, colour = response, marker =
cohort, with the stratified PERMANOVA in each title; alpha diversity by response group);
:func:`write_diversity_mqc` writes the report's ``Diversity`` section (alpha table and box plots,
PCoA scatter, PERMANOVA table, the figure). The tables they show come from
:mod:`icibiome.ecology.diversity` and :mod:`icibiome.ecology.permanova`.
"""

from __future__ import annotations

import base64
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from icibiome.io import atomic_path
from icibiome.mqc import write_plot, write_table

logger = logging.getLogger(__name__)

#: Colours of the response groups in every diversity plot (ColorBrewer Dark2).
RESPONSE_COLOURS = {"R": "#1b9e77", "NR": "#d95f02", "unknown": "#999999"}
_MARKERS_MPL = ["o", "s", "^", "D", "v", "P", "X", "*"]
_MARKERS_PLOTLY = [
    "circle",
    "square",
    "triangle-up",
    "diamond",
    "triangle-down",
    "cross",
    "x",
    "star",
]
METRICS = ("braycurtis", "aitchison")
METRIC_LABELS = {"braycurtis": "Bray-Curtis", "aitchison": "Aitchison (CLR)"}


# --------------------------------------------------------------------------------------------
# figure and MultiQC section
# --------------------------------------------------------------------------------------------
def _cohort_markers(cohorts: Sequence[str], markers: Sequence[str]) -> dict[str, str]:
    levels = sorted(set(cohorts))
    return {c: markers[i % len(markers)] for i, c in enumerate(levels)}


def _permanova_caption(perm: pd.DataFrame, metric: str) -> str:
    row = perm[(perm["metric"] == metric) & (perm["term"] == "response")]
    row = row[row["strata"] == "cohort"]
    if row.empty or not np.isfinite(row["pseudo_F"].iloc[0]):
        return "PERMANOVA (response | cohort): not testable"
    r = row.iloc[0]
    return (f"PERMANOVA response | cohort: R² = {r['R2']:.3f}, p = {r['p_value']:.3g} (raw), "
            f"BH q = {r['q_value']:.3g}")  # fmt: skip


def diversity_figure(
    alpha: pd.DataFrame,
    coords: dict[str, pd.DataFrame],
    explained: dict[str, pd.Series],
    perm: pd.DataFrame,
    out_png: str | os.PathLike,
    title: str = "",
) -> Path:
    """PNG (matplotlib Agg): PCoA of each distance (colour = response, marker = cohort) and alpha
    diversity by response group, with the stratified PERMANOVA result in each PCoA title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    markers = _cohort_markers(alpha["cohort"].tolist(), _MARKERS_MPL)
    metrics = [m for m in METRICS if m in coords]
    fig, axes = plt.subplots(2, 2, figsize=(9.5, 8.5))
    axes = axes.ravel()
    for ax, metric in zip(axes, metrics, strict=False):
        c = coords[metric]
        inf = alpha.loc[c.index]
        for (resp, coh), sub in inf.groupby(["response", "cohort"]):
            ax.scatter(
                c.loc[sub.index, "PC1"],
                c.loc[sub.index, "PC2"] if "PC2" in c else np.zeros(len(sub)),
                c=RESPONSE_COLOURS.get(resp, "#999999"),
                marker=markers[coh],
                s=42,
                edgecolors="black",
                linewidths=0.4,
            )
        ex = explained[metric]
        ax.set_xlabel(f"PC1 ({100 * ex.iloc[0]:.1f}%)")
        if len(ex) > 1:
            ax.set_ylabel(f"PC2 ({100 * ex.iloc[1]:.1f}%)")
        ax.set_title(
            f"PCoA, {METRIC_LABELS[metric]}\n{_permanova_caption(perm, metric)}", fontsize=9
        )
    for ax, col, label in zip(
        axes[len(metrics) :],
        ["shannon", "observed"],
        ["Shannon (ln)", "Observed taxa"],
        strict=True,
    ):
        groups = [g for g in ("R", "NR", "unknown") if (alpha["response"] == g).any()]
        data = [alpha.loc[alpha["response"] == g, col].dropna().to_numpy() for g in groups]
        bp = ax.boxplot(
            data, patch_artist=True, widths=0.6, showfliers=False, medianprops={"color": "black"}
        )
        ax.set_xticks(range(1, len(groups) + 1), groups)
        for patch, g in zip(bp["boxes"], groups, strict=True):
            patch.set_facecolor(RESPONSE_COLOURS.get(g, "#999999"))
            patch.set_alpha(0.45)
        rng = np.random.default_rng(0)
        for i, (g, vals) in enumerate(zip(groups, data, strict=True), start=1):
            sub = alpha[(alpha["response"] == g) & alpha[col].notna()]
            x = i + rng.uniform(-0.12, 0.12, len(vals))
            for coh in sorted(set(sub["cohort"])):
                m = (sub["cohort"] == coh).to_numpy()
                ax.scatter(
                    x[m],
                    vals[m],
                    marker=markers[coh],
                    c=RESPONSE_COLOURS.get(g, "#999999"),
                    edgecolors="black",
                    linewidths=0.4,
                    s=30,
                    zorder=3,
                )
        ax.set_title(f"Alpha diversity: {label}", fontsize=9)
        ax.set_ylabel(label)
    handles = [
        Line2D([], [], marker="o", ls="", color=RESPONSE_COLOURS[g], label=g)
        for g in ("R", "NR", "unknown")
        if (alpha["response"] == g).any()
    ] + [
        Line2D([], [], marker=m, ls="", color="grey", label=f"cohort {c}")
        for c, m in markers.items()
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.04, 1, 0.96 if title else 1))
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return out_png


def write_diversity_mqc(
    alpha: pd.DataFrame,
    coords: dict[str, pd.DataFrame],
    explained: dict[str, pd.Series],
    perm: pd.DataFrame,
    figure_png: str | os.PathLike,
    out_dir: str | os.PathLike,
    label: str = "",
) -> list[Path]:
    """Write the MultiQC custom-content files of the diversity section into ``out_dir``.

    Files: ``diversity_alpha_mqc.tsv`` (table), ``diversity_alpha_box_mqc.yaml`` (box plots by
    response and cohort), ``diversity_pcoa_mqc.yaml`` (scatter, one dataset per distance, colour =
    response, marker = cohort), ``diversity_permanova_mqc.tsv`` (table) and
    ``diversity_figure_mqc.html`` (the PNG figure, embedded, with a header giving its section).
    They share one parent section per label, ``Diversity (<label>)``. Section ids end in the
    ``label`` made safe (``"sylph, species"`` -> ``icibiome_diversity_alpha_sylph_species``, parent
    ``icibiome_diversity_sylph_species``), so several profilers' sections can sit in one report.
    MultiQC orders the sections of a parent by name: alpha table, alpha box plots, PCoA,
    PERMANOVA, figure.
    """
    out_dir = Path(out_dir)
    key = "_" + re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_") if label else ""
    parent = {
        "parent_id": f"icibiome_diversity{key}",
        "parent_name": f"Diversity ({label})" if label else "Diversity",
        "parent_description": (
            "Alpha and beta diversity of the taxonomic profiles by response group and cohort "
            "(icibiome.ecology.diversity; scikit-bio). Tables: results/diversity/."
        ),
    }
    written = []

    tab = alpha[["cohort", "response", "classified_reads", "observed", "shannon", "simpson"]]
    header = {
        "id": f"icibiome_diversity_alpha{key}",
        "section_name": "Alpha diversity",
        "description": (
            "Per sample: taxa observed (count > 0), Shannon's index (natural log) and the "
            "Gini-Simpson index (1 - sum p²) of the relative abundances (scikit-bio). Observed "
            "richness grows with depth: compare it with the classified reads."
        ),
        "plot_type": "table",
        **parent,
        "pconfig": {
            "id": f"icibiome_diversity_alpha_table{key}",
            "title": "icibiome: alpha diversity",
        },
        "headers": {
            "cohort": {"title": "Cohort"},
            "response": {"title": "Response"},
            "classified_reads": {"title": "Classified reads", "format": "{:,.0f}"},
            "observed": {"title": "Observed", "format": "{:,.0f}"},
            "shannon": {"title": "Shannon", "format": "{:,.3f}"},
            "simpson": {"title": "Simpson", "format": "{:,.3f}", "min": 0, "max": 1},
        },
    }
    p = out_dir / "diversity_alpha_mqc.tsv"
    write_table(tab, header, p, index_label="Sample")
    written.append(p)

    groups = alpha.assign(group=alpha["response"] + " · " + alpha["cohort"])
    datasets, labels = [], []
    for col, name in (
        ("shannon", "Shannon"),
        ("simpson", "Gini-Simpson"),
        ("observed", "Observed"),
    ):
        ds = {
            f"{g} (n={len(sub[col].dropna())})": [float(v) for v in sub[col].dropna()]
            for g, sub in groups.groupby("group")
        }
        datasets.append({k: v for k, v in ds.items() if v})
        labels.append({"name": name, "ylab": name})
    box = {
        "id": f"icibiome_diversity_alpha_box{key}",
        "section_name": "Alpha diversity by response and cohort",
        "description": "Distribution of each alpha diversity index per response group within each cohort.",
        "plot_type": "box",
        **parent,
        "pconfig": {
            "id": f"icibiome_diversity_alpha_box_plot{key}",
            "title": "icibiome: alpha diversity by group",
            "data_labels": labels,
            "boxpoints": "all",
        },
        "data": datasets,
    }
    p = out_dir / "diversity_alpha_box_mqc.yaml"
    write_plot(box, p)
    written.append(p)

    markers = _cohort_markers(alpha["cohort"].tolist(), _MARKERS_PLOTLY)
    datasets, labels = [], []
    for metric in (m for m in METRICS if m in coords):
        c, ex = coords[metric], explained[metric]
        ds = {}
        for s in c.index:
            resp, coh = alpha.loc[s, "response"], alpha.loc[s, "cohort"]
            ds[str(s)] = {
                "x": round(float(c.loc[s, "PC1"]), 6),
                "y": round(float(c.loc[s, "PC2"]), 6) if "PC2" in c else 0.0,
                "color": RESPONSE_COLOURS.get(resp, "#999999"),
                "marker_symbol": markers[coh],
                "group": f"{resp}, cohort {coh}",
            }
        datasets.append(ds)
        labels.append(
            {
                "name": METRIC_LABELS[metric],
                "xlab": f"PC1 ({100 * ex.iloc[0]:.1f}%)",
                "ylab": f"PC2 ({100 * ex.iloc[1]:.1f}%)" if len(ex) > 1 else "PC2",
                # the '%' in the axis titles would make MultiQC put '%' on the ticks
                "xsuffix": "",
                "ysuffix": "",
            }
        )
    scatter = {
        "id": f"icibiome_diversity_pcoa{key}",
        "section_name": "Beta diversity: PCoA",
        "description": (
            "Principal coordinates of Bray-Curtis and Aitchison distances (switch with the buttons). "
            "Colour: response (green R, orange NR, grey unknown); marker: cohort "
            + ", ".join(f"{c} = {m}" for c, m in markers.items())
            + "."
        ),
        "plot_type": "scatter",
        **parent,
        "pconfig": {
            "id": f"icibiome_diversity_pcoa_plot{key}",
            "title": "icibiome: PCoA",
            "data_labels": labels,
            "xsuffix": "",
            "ysuffix": "",
            "marker_size": 9,
        },
        "data": datasets,
    }
    p = out_dir / "diversity_pcoa_mqc.yaml"
    write_plot(scatter, p)
    written.append(p)

    ptab = perm.copy()
    ptab.index = [
        f"{METRIC_LABELS[m]}: {t}" + (f" | {s}" if s != "none" else "")
        for m, t, s in zip(ptab["metric"], ptab["term"], ptab["strata"], strict=True)
    ]
    ptab = ptab.drop(columns=["metric"]).fillna("")
    header = {
        "id": f"icibiome_diversity_permanova{key}",
        "section_name": "Beta diversity: PERMANOVA",
        "description": (
            "PERMANOVA (Anderson 2001). 'response | cohort': response with permutations restricted "
            "within cohorts, as vegan adonis2(d ~ response, permutations = how(blocks = cohort)); "
            "this is the primary test, robust to cohort effects. Unrestricted response and cohort "
            "tests are shown for comparison. Samples without a response label are left out of the "
            "response tests. p is each test's own permutation p-value (unadjusted); q is "
            "Benjamini-Hochberg adjusted over all the tests of the table."
        ),
        "plot_type": "table",
        **parent,
        "pconfig": {
            "id": f"icibiome_diversity_permanova_table{key}",
            "title": "icibiome: PERMANOVA",
            "sort_rows": False,
        },
        "headers": {
            "pseudo_F": {"title": "Pseudo-F", "format": "{:,.3f}"},
            "R2": {"title": "R²", "format": "{:,.3f}", "min": 0, "max": 1},
            "p_value": {"title": "p (unadjusted)", "format": "{:,.4f}", "min": 0, "max": 1},
            "q_value": {
                "title": "q (BH)",
                "description": "Benjamini-Hochberg over all the tests of this table",
                "format": "{:,.4f}",
                "min": 0,
                "max": 1,
            },
        },
    }
    p = out_dir / "diversity_permanova_mqc.tsv"
    write_table(ptab, header, p, index_label="Test")
    written.append(p)

    png64 = base64.b64encode(Path(figure_png).read_bytes()).decode("ascii")
    head = {
        "id": f"icibiome_diversity_figure{key}",
        "section_name": "Figure: PCoA and alpha diversity by response",
        "description": (
            "PCoA of Bray-Curtis and Aitchison distances (colour = response, marker = cohort) with "
            "the cohort-stratified PERMANOVA, and alpha diversity by response group."
        ),
        **parent,
    }
    html = (
        "<!--\n"
        + yaml.safe_dump(head, sort_keys=False, width=1000)
        + "-->\n"
        + '<div class="mqc-custom-content-image"><img style="max-width:100%" '
        + f'alt="icibiome diversity overview" src="data:image/png;base64,{png64}" /></div>\n'
    )
    p = out_dir / "diversity_figure_mqc.html"
    with atomic_path(p) as tmp:
        tmp.write_text(html)
    written.append(p)
    return written
