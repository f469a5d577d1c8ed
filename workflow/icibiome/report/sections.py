"""Report sections beyond QC: MultiQC custom content made from the analysis stages' tables.

:mod:`icibiome.report.build` holds the QC and run sections and runs MultiQC; this module adds sections
that need the sample sheet's clinical columns, starting with the taxonomic composition by
response group.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
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
    :func:`icibiome.report.build.composition_mqc`.
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


# --------------------------------------------------------------------------------------------
# number formats and the plain-words summary of the signatures section
# --------------------------------------------------------------------------------------------
def fmt_p(p: float) -> str:
    """A p-value for a reader: scientific below 0.001, else 2 significant digits.

    >>> fmt_p(0.0412), fmt_p(3.2e-7), fmt_p(0.5), fmt_p(float("nan"))
    ('0.041', '3.2e-07', '0.5', 'n/a')
    """
    if p is None or not np.isfinite(p):
        return "n/a"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.2g}"


PERMUTATION_P_COLUMNS = ("perm_p", "p_perm", "permutation_p", "auc_perm_p", "perm_p_value")
"""Column names of a LOCO table's permutation p-value (the AUC against label permutations)."""


def signatures_summary(
    meta: pd.DataFrame, auc: pd.DataFrame, alpha: float = 0.05, top: int = 3
) -> str:
    """ "What this run says": the signatures results in plain words, with their caveats.

    Parameters
    ----------
    meta : DataFrame
        ``meta_analysis.tsv`` (feature, effect, p_value, q_value, n_cohorts,
        direction_consistency).
    auc : DataFrame
        ``loco_auc.tsv`` (model, features, held_out, auc, ci_low, ci_high, n_R, n_NR and, when
        computed, a permutation p-value column of :data:`PERMUTATION_P_COLUMNS`).
    alpha : float
        Significance level of the statements.
    top : int
        Consistent taxa named.

    Returns
    -------
    str
        Sentences: the best LOCO model (highest mean AUC over held-out cohorts) with its CI
        and permutation p (or "no permutation reference computed"), whether that is signal
        beyond chance, the top taxa with the same direction in every cohort, the guild /
        TOPOSCORE features' own LOCO AUC, and the cohort sizes.

    Examples
    --------
    >>> auc = pd.DataFrame({"model": ["lasso"] * 3, "features": ["species"] * 3,
    ...     "held_out": ["A", "B", "mean"], "auc": [0.6, 0.7, 0.65], "ci_low": [0.4, 0.5, 0.52],
    ...     "ci_high": [0.8, 0.9, 0.78], "n_R": [10, 12, 22], "n_NR": [11, 9, 20]})
    >>> meta = pd.DataFrame({"feature": ["k__B|s__X"], "effect": [1.2], "p_value": [0.004],
    ...     "q_value": [0.08], "n_cohorts": [2], "direction_consistency": [1.0]})
    >>> print(signatures_summary(meta, auc))  # doctest: +NORMALIZE_WHITESPACE
    What this run says: the best leave-one-cohort-out model is lasso on species features, mean
    AUC 0.650 over 2 held-out cohorts (95% CI 0.520-0.780); no permutation reference computed.
    Most consistent taxa (same direction in every cohort, lowest meta-analysis p): X (higher in
    responders, p 0.004, q 0.08). Caveat: small cohorts (42 samples with a response label); AUCs
    of 0.55-0.65 are typical of published ICI signatures and rarely replicate.
    """
    parts = []
    a = auc.copy() if auc is not None else pd.DataFrame()
    mean = a[(a.get("held_out") == "mean") & a["auc"].notna()] if len(a) else a
    held = a[~a["held_out"].isin(["mean", "pooled"]) & a["auc"].notna()] if len(a) else a
    if not len(mean):
        parts.append(
            "What this run says: no leave-one-cohort-out AUC could be estimated (it needs at "
            "least 2 cohorts with enough responders and non-responders; see the LOCO table's "
            "notes), so this run makes no claim about prediction."
        )
    else:
        best = mean.sort_values("auc", ascending=False, kind="stable").iloc[0]
        same = (a["model"] == best["model"]) & (a["features"] == best["features"])
        sel = held[(held["model"] == best["model"]) & (held["features"] == best["features"])]
        pooled = a[same & (a["held_out"] == "pooled") & a["auc"].notna()]
        lo, hi = best.get("ci_low", np.nan), best.get("ci_high", np.nan)
        if np.isfinite(lo) and np.isfinite(hi):
            ci = f" (95% CI {lo:.3f}-{hi:.3f})"
        else:  # the mean over cohorts has no CI: the per-cohort range and the pooled CI
            ci = (
                f" (per cohort {sel['auc'].min():.3f}-{sel['auc'].max():.3f})"
                if len(sel) > 1
                else ""
            )
            if len(pooled) and np.isfinite(pooled["ci_low"].iloc[0]):
                lo, hi = pooled["ci_low"].iloc[0], pooled["ci_high"].iloc[0]
                ci += f"; pooled AUC {pooled['auc'].iloc[0]:.3f} (95% CI {lo:.3f}-{hi:.3f})"
        pcol = next((c for c in PERMUTATION_P_COLUMNS if c in a.columns), None)
        perm = best.get(pcol, np.nan) if pcol else np.nan
        s = (
            f"What this run says: the best leave-one-cohort-out model is {best['model']} on "
            f"{best['features']} features, mean AUC {best['auc']:.3f} over {len(sel)} held-out "
            "cohort" + ("s" if len(sel) != 1 else "") + ci
        )
        if pcol and np.isfinite(perm):
            s += f"; permutation p {fmt_p(perm)}"
            if perm >= alpha:
                s += f" (p >= {alpha}: no signal beyond chance)"
        else:
            s += "; no permutation reference computed"
            if np.isfinite(lo) and lo <= 0.5:
                s += " (the CI includes 0.5: no signal beyond chance)"
        parts.append(s + ".")
        guild = mean[mean["features"] == "extra"]
        if len(guild):
            g = guild.sort_values("auc", ascending=False, kind="stable").iloc[0]
            parts.append(
                f"The guild balance and TOPOSCORE alone ({g['model']}) give mean AUC "
                f"{g['auc']:.3f}."
            )
    m = meta.copy() if meta is not None else pd.DataFrame()
    if len(m) and "direction_consistency" in m:
        m = m[(m["direction_consistency"] >= 1) & (m["n_cohorts"] >= 2) & m["p_value"].notna()]
        m = m.sort_values("p_value", kind="stable").head(top)
    if len(m):
        taxa = ", ".join(
            f"{str(r['feature']).split('|')[-1].split('__')[-1].replace('_', ' ')} "
            f"({'higher' if r['effect'] > 0 else 'lower'} in responders, p {fmt_p(r['p_value'])}, "
            f"q {fmt_p(r['q_value'])})"
            for _, r in m.iterrows()
        )
        parts.append(
            f"Most consistent taxa (same direction in every cohort, lowest meta-analysis p): {taxa}."
        )
        if (m["q_value"] >= 0.1).all():
            parts.append("None of them passes q < 0.1.")
    else:
        parts.append("No taxon had the same direction in every tested cohort.")
    n = int(held.drop_duplicates("held_out")[["n_R", "n_NR"]].sum().sum()) if len(held) else 0
    if n:
        parts.append(
            f"Caveat: small cohorts ({n} samples with a response label); AUCs of 0.55-0.65 are "
            "typical of published ICI signatures and rarely replicate."
            if n < 200
            else "Caveat: AUCs of 0.55-0.65 are typical of published ICI signatures."
        )
    return " ".join(parts)


def roc_linegraph(fpr, tpr, step: float = 1e-4) -> dict[float, float]:
    """ROC points for a MultiQC line graph ({x: y}), keeping the curve's vertical steps.

    A line graph's data is a mapping from x to y, so the points of a vertical step (same false
    positive rate, rising sensitivity) collapsed into one and the curve was drawn as a slanted
    line from the last point of one step to the next. Repeated x values are shifted by
    ``step`` (invisible at the plot's scale) so every point stays.

    >>> roc_linegraph([0, 0, 0.5, 1, 1], [0, 0.5, 0.5, 0.5, 1])
    {0.0: 0.0, 0.0001: 0.5, 0.5: 0.5, 1.0: 0.5, 1.0001: 1.0}
    """
    out: dict[float, float] = {}
    for x, y in zip(fpr, tpr, strict=True):
        key = round(float(x), 4)
        while key in out:
            key = round(key + step, 6)
        out[key] = round(float(y), 4)
    return out


def km_curves(km: pd.DataFrame, score: str | None = None) -> dict[str, dict[float, float]]:
    """Kaplan-Meier curves for the report: one score, its high and low group per endpoint.

    All scores x endpoints x groups in one plot (20 curves for the demo) cannot be read; this
    keeps the first score of ``km`` (the LOCO probability when present) or ``score``, so the
    plot has 2 curves per endpoint, named e.g. ``"PFS: high loco_probability"``.

    >>> km = pd.DataFrame({"score": ["s", "s", "t"], "endpoint": ["pfs", "pfs", "pfs"],
    ...     "group": ["high", "low", "high"], "time": [0, 0, 0], "survival": [1.0, 1.0, 1.0]})
    >>> sorted(km_curves(km))
    ['PFS: high s', 'PFS: low s']
    """
    if km is None or not len(km):
        return {}
    scores = list(dict.fromkeys(km["score"]))
    keep = score if score in scores else scores[0]
    out = {}
    for (ep, g), d in km[km["score"] == keep].groupby(["endpoint", "group"], sort=True):
        out[f"{str(ep).upper()}: {g} {keep}"] = {
            round(float(t), 3): round(float(v), 4)
            for t, v in zip(d["time"], d["survival"], strict=True)
        }
    return out


def toposcore_prediction_note(scores: pd.DataFrame, share: float = 0.9) -> str:
    """Why nearly every sample gets the same TOPOSCORE prediction, when that happens.

    Parameters
    ----------
    scores : DataFrame
        ``toposcore.tsv`` (``toposcore``, ``sig1_score``, ``sig2_score``, ``akkermansia``,
        ``predicted_response``).
    share : float
        Share of samples in one predicted class from which the note is written.

    Returns
    -------
    str
        Empty when the predictions are mixed; otherwise the counts and the likely reason in
        plain words: the published cut-offs were calibrated for the published 37/45-species lists
        on MetaPhlAn 4 profiles, so other lists (the run's guilds, a synthetic community) or
        another profiler's detection limits put most samples on one side, and an absent
        *Akkermansia* sends the grey zone to NR.

    Examples
    --------
    >>> s = pd.DataFrame({"toposcore": [0.5] * 9 + [0.9], "sig1_score": [1.0] * 10,
    ...     "sig2_score": [1.0] * 9 + [0.8], "akkermansia": [0.0] * 10,
    ...     "predicted_response": ["NR"] * 9 + ["R"]})
    >>> toposcore_prediction_note(s)[:60]
    '9 of 10 samples are predicted NR: the median score is 0.500 '
    """
    pred = scores["predicted_response"].dropna() if "predicted_response" in scores else []
    if not len(pred):
        return ""
    counts = pred.value_counts()
    major, n_major = counts.index[0], int(counts.iloc[0])
    if n_major < share * len(pred):
        return ""
    s1 = scores["sig1_score"].median() if "sig1_score" in scores else np.nan
    s2 = scores["sig2_score"].median() if "sig2_score" in scores else np.nan
    akk = (scores["akkermansia"].fillna(0) <= 0).sum() if "akkermansia" in scores else 0
    note = (
        f"{n_major} of {len(pred)} samples are predicted {major}: the median score is "
        f"{scores['toposcore'].median():.3f} (median share of SIG1 entries present "
        f"{100 * s1:.0f} %, SIG2 {100 * s2:.0f} %). The published cut-offs were calibrated for "
        "the published 37/45-species lists on MetaPhlAn 4 profiles; with other lists (e.g. the "
        "run's own guilds, or a synthetic community) or another profiler's detection limit, "
        "most samples can fall on one side of them."
    )
    if akk:
        note += (
            f" Akkermansia, which decides the grey zone, is absent in {akk} sample(s), which "
            "sends them to NR."
        )
    return note + " Read the continuous score and its AUC, not the predicted class."


# --------------------------------------------------------------------------------------------
# the report's figures as vector files at journal column width
# --------------------------------------------------------------------------------------------
MM = 1 / 25.4
"""Inches per millimetre."""
COLUMN_MM = {"single": 89.0, "double": 183.0}
"""Journal column widths (Nature, Cell: about 89 mm single, 183 mm double column)."""
FIGURE_STYLE = {
    "font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5, "legend.fontsize": 6.5, "legend.title_fontsize": 6.5,
    "axes.linewidth": 0.6, "lines.linewidth": 1.0, "xtick.major.width": 0.6,
    "ytick.major.width": 0.6, "axes.spines.top": False, "axes.spines.right": False,
    "svg.fonttype": "none", "pdf.fonttype": 42, "legend.frameon": False,
}  # fmt: skip
"""Matplotlib settings of every vector figure: 6.5-7 pt text kept as text (editable)."""
MIN_FONT_PT = 6.0


def _figure(width: str, height_mm: float, ncols: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, ncols, figsize=(COLUMN_MM[width] * MM, height_mm * MM), squeeze=False,
        layout="constrained",
    )  # fmt: skip
    return fig, axes[0]


def _save(fig, out: str | os.PathLike) -> Path:
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    small = [
        t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_fontsize"))
        if getattr(t, "get_text", lambda: "")() and t.get_fontsize() < MIN_FONT_PT
    ]  # fmt: skip
    if small:
        raise ValueError(f"text below {MIN_FONT_PT} pt in {out.name}: {small[:5]}")
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=out.suffix.lstrip("."), metadata={"Date": None})
    plt.close(fig)
    return out


def _short(name: str) -> str:
    """``s__Faecalibacterium_prausnitzii`` -> ``F. prausnitzii`` (figure labels)."""
    n = re.sub(r"^[a-z]__", "", str(name).split("|")[-1]).replace("_", " ")
    parts = n.split(" ", 1)
    return f"{parts[0][0]}. {parts[1]}" if len(parts) == 2 and parts[0][:1].isupper() else n


def signatures_vector_figure(
    forest_tsv: str | os.PathLike,
    predictions_tsv: str | os.PathLike,
    km_tsv: str | os.PathLike,
    out: str | os.PathLike,
    top: int = 12,
) -> Path:
    """Forest plot, LOCO ROC per held-out cohort and Kaplan-Meier, 183 mm wide (SVG or PDF).

    Forest: the pooled random-effects effect and 95 % CI of the ``top`` features of
    ``forest.tsv`` (file order = meta-analysis p). ROC: the first model's species predictions,
    one curve per held-out cohort, legend with each cohort's AUC. Kaplan-Meier: the first score
    of ``km.tsv``, high vs low per endpoint (:func:`km_curves`), with a legend.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    forest = pd.read_csv(forest_tsv, sep="\t")
    pred = pd.read_csv(predictions_tsv, sep="\t")
    km = pd.read_csv(km_tsv, sep="\t")
    with _style():
        fig, (ax_f, ax_r, ax_k) = _figure("double", 70, ncols=3)
        pooled = forest[forest["study"].astype(str).str.startswith("pooled")].head(top)
        if len(pooled):
            y = np.arange(len(pooled))[::-1]
            ax_f.errorbar(
                pooled["effect"], y,
                xerr=[pooled["effect"] - pooled["ci_low"], pooled["ci_high"] - pooled["effect"]],
                fmt="o", ms=3, color="#333333", elinewidth=0.8, capsize=0,
            )  # fmt: skip
            ax_f.axvline(0, color="#999999", lw=0.6, ls="--")
            ax_f.set_yticks(y, [_short(f) for f in pooled["feature"]])
            ax_f.set_xlabel("pooled CLR difference R - NR (95% CI)")
        else:
            ax_f.text(0.5, 0.5, "no feature meta-analysed", ha="center", transform=ax_f.transAxes)
        ax_f.set_title("a  Meta-analysis", loc="left")
        sp = pred[pred["features"] == "species"] if len(pred) else pred
        if len(sp):
            sp = sp[sp["model"] == sp["model"].iloc[0]]
            for c, g in sp.groupby("cohort"):
                y_true = (g["response"] == "R").to_numpy()
                if y_true.all() or not y_true.any():
                    continue
                fpr, tpr, _ = roc_curve(y_true, g["probability"])
                ax_r.plot(
                    fpr, tpr, label=f"{c} (AUC {roc_auc_score(y_true, g['probability']):.2f})"
                )
        ax_r.plot([0, 1], [0, 1], color="#999999", lw=0.6, ls="--", label="chance")
        ax_r.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 - specificity", ylabel="sensitivity")
        ax_r.legend(title="held-out cohort", loc="lower right")
        ax_r.set_title("b  Leave-one-cohort-out ROC", loc="left")
        curves = km_curves(km)
        for name, pts in curves.items():
            t, s = zip(*sorted(pts.items()), strict=True)
            ax_k.step(t, s, where="post", label=name.split(" ", 1)[0] + " " + name.split()[1],
                      ls="-" if " high " in name else "--")  # fmt: skip
        if curves:
            ax_k.legend(title=f"score: {next(iter(curves)).split()[-1]}", loc="lower left")
        else:
            ax_k.text(0.5, 0.5, "no survival data", ha="center", transform=ax_k.transAxes)
        ax_k.set(ylim=(0, 1.02), xlabel="months", ylabel="survival probability")
        ax_k.set_title("c  Kaplan-Meier by score", loc="left")
        return _save(fig, out)


def pcoa_vector_figure(
    pcoa_tsv: str | os.PathLike, out: str | os.PathLike, metric: str = "braycurtis"
) -> Path:
    """PCoA of one beta-diversity metric, samples coloured by response, 89 mm wide."""
    p = pd.read_csv(pcoa_tsv, sep="\t", keep_default_na=False)
    p = p[p["metric"] == metric]
    wide = p.pivot(index="sample_id", columns="axis", values="coordinate")
    info = p.drop_duplicates("sample_id").set_index("sample_id")
    expl = p.drop_duplicates("axis").set_index("axis")["proportion_explained"]
    with _style():
        fig, (ax,) = _figure("single", 75)
        colours = {"R": "#1b7837", "NR": "#762a83"}
        for r, ids in info.groupby(info["response"].replace("", "unknown")).groups.items():
            ax.scatter(wide.loc[ids, "PC1"], wide.loc[ids, "PC2"], s=9, lw=0,
                       color=colours.get(r, "#999999"), label=f"{r} (n={len(ids)})")  # fmt: skip
        ax.set_xlabel(f"PC1 ({100 * float(expl.get('PC1', np.nan)):.1f} %)")
        ax.set_ylabel(f"PC2 ({100 * float(expl.get('PC2', np.nan)):.1f} %)")
        ax.legend(title="response", loc="best")
        ax.set_title(f"PCoA, {metric.replace('braycurtis', 'Bray-Curtis')}", loc="left")
        return _save(fig, out)


def guild_network_vector_figure(
    edges_tsv: str | os.PathLike, guilds_tsv: str | os.PathLike, out: str | os.PathLike,
    seed: int = 1,
) -> Path:  # fmt: skip
    """The stable co-abundance network coloured by guild, 183 mm wide, labels spread out.

    Layout: Kamada-Kawai on the stable edges (distance = 1 for every edge), which keeps a
    densely connected guild open instead of the tight knot a spring layout gives; components
    are packed side by side. Labels are shortened (``F. prausnitzii``) and set beside their
    node away from the layout's centre, so labels of one cluster fan out.
    """
    import networkx as nx

    edges = pd.read_csv(edges_tsv, sep="\t")
    if "stable" in edges:
        edges = edges[edges["stable"].astype(str).str.lower() == "true"]
    guilds = pd.read_csv(guilds_tsv, sep="\t").set_index("clade_name")
    g = nx.Graph()
    for _, e in edges.iterrows():
        g.add_edge(e["taxon_a"], e["taxon_b"], sign=int(np.sign(e["weight"])))
    colours = {"foundation": "#1b7837", "pathobiont": "#b2182b"}
    with _style():
        fig, (ax,) = _figure("double", 110)
        ax.set_axis_off()
        if g.number_of_nodes() == 0:
            ax.text(0.5, 0.5, "no stable edge", ha="center", transform=ax.transAxes)
            return _save(fig, out)
        pos = spread_layout(g, seed=seed)
        for sign, style in ((1, "-"), (-1, ":")):
            el = [(a, b) for a, b, d in g.edges(data=True) if d["sign"] == sign]
            nx.draw_networkx_edges(g, pos, edgelist=el, ax=ax, style=style, width=0.6,
                                   edge_color="#555555" if sign > 0 else "#b2182b", alpha=0.7)  # fmt: skip
        guild = {n: guilds["guild"].get(n, "unassigned") for n in g}
        for name in [*colours, "other"]:
            nodes = [n for n in g if (guild[n] if guild[n] in colours else "other") == name]
            if nodes:
                nx.draw_networkx_nodes(g, pos, nodelist=nodes, ax=ax, node_size=28, linewidths=0,
                                       node_color=colours.get(name, "#bbbbbb"),
                                       label=f"{name} guild" if name in colours else "other")  # fmt: skip
        centre = np.array(list(pos.values())).mean(axis=0)
        for n, (x, y) in pos.items():
            d = np.array([x, y]) - centre
            d = d / (np.linalg.norm(d) or 1.0)
            ax.annotate(_short(n), (x, y), xytext=(6 * d[0], 6 * d[1]), textcoords="offset points",
                        ha="left" if d[0] >= 0 else "right", va="center", fontsize=6)  # fmt: skip
        _spread_labels(fig, ax.texts)
        ax.plot([], [], "-", color="#555555", lw=0.6, label="positive association")
        ax.plot([], [], ":", color="#b2182b", lw=0.6, label="negative association")
        ax.legend(loc="upper left", bbox_to_anchor=(0, 1), ncols=2)
        ax.margins(0.15)
        return _save(fig, out)


def toposcore_vector_figure(
    toposcore_tsv: str | os.PathLike, samples_tsv: str | os.PathLike, out: str | os.PathLike
) -> Path:
    """TOPOSCORE per sample by response group (strip + box), 89 mm wide."""
    from icibiome.samplesheet import read_sample_sheet

    s = pd.read_csv(toposcore_tsv, sep="\t", index_col="sample_id")
    sheet = read_sample_sheet(samples_tsv, check_files=False, reads=False)
    resp = sheet["response"].reindex(s.index).fillna("").replace("", "unknown").astype(str)
    with _style():
        fig, (ax,) = _figure("single", 65)
        groups = [
            r
            for r in RESPONSE_ORDER
            if (resp == r).any() and s.loc[resp == r, "toposcore"].notna().any()
        ]
        data = [s.loc[resp == r, "toposcore"].dropna() for r in groups]
        if data:
            ax.boxplot(data, showfliers=False, widths=0.5,
                       medianprops={"color": "#333333"}, boxprops={"linewidth": 0.6})  # fmt: skip
            rng = np.random.default_rng(1)
            for i, d in enumerate(data, start=1):
                ax.scatter(i + rng.uniform(-0.12, 0.12, len(d)), d, s=6, lw=0, alpha=0.7,
                           color="#1b7837" if groups[i - 1] == "R" else "#762a83")  # fmt: skip
            ax.set_xticks(range(1, len(groups) + 1),
                          [f"{g} (n={len(d)})" for g, d in zip(groups, data, strict=True)])  # fmt: skip
        else:
            ax.text(0.5, 0.5, "no TOPOSCORE (no lists)", ha="center", transform=ax.transAxes)
        ax.set(ylim=(0, 1), ylabel="TOPOSCORE", xlabel="response")
        ax.set_title("TOPOSCORE by response", loc="left")
        return _save(fig, out)


def _style():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.rc_context(FIGURE_STYLE)


def _spread_labels(fig, texts, rounds: int = 50) -> None:
    """Move overlapping annotation labels apart (vertically, in points) until none overlap."""
    import itertools

    scale = 72 / fig.dpi  # display pixels -> points
    for _ in range(rounds):
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(r) for t in texts]
        moved = False
        for i, j in itertools.combinations(range(len(texts)), 2):
            a, b = boxes[i], boxes[j]
            if not a.overlaps(b):
                continue
            # push the lower label down and the upper one up by half the overlap (+1 pt)
            lo, hi = (i, j) if a.y0 + a.y1 < b.y0 + b.y1 else (j, i)
            shift = (min(a.y1, b.y1) - max(a.y0, b.y0)) * scale / 2 + 1
            for k, sgn in ((lo, -1), (hi, 1)):
                dx, dy = texts[k].xyann
                texts[k].xyann = (dx, dy + sgn * shift)
            moved = True
        if not moved:
            return


def spread_layout(g, seed: int = 1) -> dict:
    """Node positions for a network figure that keep dense clusters open.

    Kamada-Kawai per connected component (a spring layout pulls a densely connected guild
    into a knot of overlapping labels), components packed left to right, each scaled by the
    square root of its share of nodes so that small components take little room.
    """
    import networkx as nx

    pos, x0 = {}, 0.0
    comps = sorted(nx.connected_components(g), key=len, reverse=True)
    for comp in comps:
        sub = g.subgraph(comp)
        lay = nx.kamada_kawai_layout(sub) if len(comp) > 2 else nx.spring_layout(sub, seed=seed)
        xy = np.array(list(lay.values()), dtype=float)
        xy = (xy - xy.mean(axis=0)) * np.sqrt(len(comp) / len(comps[0]))
        for n, (x, y) in zip(lay, xy, strict=True):
            pos[n] = np.array([x + x0 - xy[:, 0].min(), y])
        x0 += np.ptp(xy[:, 0]) + 0.8
    return pos
