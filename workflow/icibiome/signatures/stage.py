"""The response-signatures stage: DA per cohort, meta-analysis, LOCO prediction, survival, report.

:func:`run_signatures` is what rule ``signatures`` (rules/signatures.smk) calls. From one
profiler's standard abundance table and the sample sheet it writes, into ``out_dir``:

``differential.tsv``
    Per-cohort DA, R vs NR (:func:`icibiome.signatures.differential.differential_abundance`).
``meta_analysis.tsv``, ``forest.tsv``
    Random-effects meta-analysis per feature (:func:`icibiome.signatures.meta.meta_analysis`) and the
    forest-plot rows of the top features.
``loco_auc.tsv``, ``loco_predictions.tsv``, ``within_cohort_auc.tsv``
    Leave-one-cohort-out AUROC per held-out cohort and model/feature set (DeLong CI, the
    number of model features, and the within-cohort label-permutation null: ``perm_p``,
    ``null_mean``, ``null_sd`` with ``signatures.permutations`` permutations per model), the
    out-of-cohort probabilities, and the repeated within-cohort CV AUC with its own
    label-permutation reference (``signatures.permutations.within_<model>`` shuffles of the
    cohort's labels, the same CV re-run: ``perm_p``, ``null_mean``, ``null_sd``; on small
    cohorts without signal the CV AUC sits below 0.5, so it is read against that reference)
    (:mod:`icibiome.signatures.predict`).
``survival.tsv``, ``km.tsv``
    Cox (stratified by cohort) and Kaplan-Meier of PFS/OS on the out-of-cohort probability and on
    the extra scores (:mod:`icibiome.signatures.survival`).
``model.pkl``, ``model.yaml``
    The first model trained on all cohorts (:func:`icibiome.signatures.predict.fit_final`), with the
    profiler and rank it was trained on and every fitted parameter (pseudo-count, ComBat
    reference, guild memberships and direction, TOPOSCORE lists: :func:`extra_specs`), so that it
    scores a patient alone as in a batch (batch ``none``); :func:`apply_frozen_model` (rule
    ``apply_frozen_model``, config ``signatures.frozen_model``) applies such a model to another
    run's table without retraining.
``signatures.png`` and ``signatures_*_mqc.*``
    Figure (forest plot, ROC per held-out cohort, KM) and MultiQC custom content.

Extra per-sample features (guild balance from the networks stage, TOPOSCORE) are optional:
when given, LOCO also runs on them alone and together with the species.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from icibiome.errors import UserError
from icibiome.io import atomic_path, read_abundance, write_tsv
from icibiome.mqc import write_plot, write_table
from icibiome.report.build import stat_headers
from icibiome.report.sections import km_curves, roc_linegraph, signatures_summary
from icibiome.signatures import differential as da
from icibiome.signatures import meta as mt
from icibiome.signatures import predict as pr
from icibiome.signatures import survival as sv
from icibiome.signatures.settings import SignatureSettings

logger = logging.getLogger(__name__)

OUTPUTS = {
    "differential": "differential.tsv", "meta": "meta_analysis.tsv", "forest": "forest.tsv",
    "loco_auc": "loco_auc.tsv", "loco_predictions": "loco_predictions.tsv",
    "within": "within_cohort_auc.tsv", "survival": "survival.tsv", "km": "km.tsv",
    "model": "model.pkl", "model_card": "model.yaml", "figure": "signatures.png",
    "balance_markers": "balance_markers.tsv", "balance_model": "balance_model.yaml",
}  # fmt: skip
MQC = ("meta_mqc.tsv", "loco_mqc.tsv", "roc_mqc.yaml", "km_mqc.yaml", "figure_mqc.html")
FROZEN_PERMUTATIONS = 999
"""Label permutations behind each AUC of a frozen model applied to a new table (cheap: the
model is fixed, only the labels move)."""
EXTRA_COLUMNS = {"guilds": "guild_balance", "toposcore": "toposcore"}


def read_extra(paths: dict[str, str | os.PathLike | None]) -> pd.DataFrame | None:
    """Per-sample extra features: ``{name: tsv}``; the column :data:`EXTRA_COLUMNS` [name] (or
    every numeric column for other names) of each table indexed by ``sample_id``."""
    parts = []
    for name, p in (paths or {}).items():
        if not p:
            continue
        t = pd.read_csv(p, sep="\t", index_col="sample_id")
        t.index = t.index.astype(str)
        cols = (
            [EXTRA_COLUMNS[name]]
            if name in EXTRA_COLUMNS
            else list(t.select_dtypes("number").columns)
        )
        cols = [c for c in cols if c in t.columns]
        if not cols:
            logger.warning("extra features %s (%s): no usable column", name, p)
            continue
        parts.append(t[cols].apply(pd.to_numeric, errors="coerce"))
    return pd.concat(parts, axis=1) if parts else None


def extra_specs(paths: dict[str, str | os.PathLike | None]) -> dict[str, dict]:
    """How a frozen model rebuilds its extra features itself (:func:`icibiome.signatures.predict.extra_from_specs`).

    The guild balance: the foundation and pathobiont members of ``guilds.tsv`` beside the
    ``guild_scores.tsv`` (membership and direction of the training run). TOPOSCORE: the list
    entries of ``toposcore_members.tsv`` beside ``toposcore.tsv`` and the denominators of its
    scores. Missing files: no spec (the column is then read from the scoring run's table).
    """
    specs = {}
    g = paths.get("guilds")
    if g and (Path(g).parent / "guilds.tsv").exists():
        t = pd.read_csv(Path(g).parent / "guilds.tsv", sep="\t", dtype={"clade_name": str})
        fnd = list(t.loc[t["guild"] == "foundation", "clade_name"])
        pth = list(t.loc[t["guild"] == "pathobiont", "clade_name"])
        if fnd and pth:
            specs["guild_balance"] = {"kind": "guild_balance", "foundation": fnd,
                                      "pathobiont": pth}  # fmt: skip
    tp = paths.get("toposcore")
    if tp and (Path(tp).parent / "toposcore_members.tsv").exists():
        m = pd.read_csv(Path(tp).parent / "toposcore_members.tsv", sep="\t", dtype=str,
                        keep_default_na=False)  # fmt: skip
        sc = pd.read_csv(tp, sep="\t")
        sigs = list(dict.fromkeys(m["signature"]))
        if len(sigs) == 2 and {"sig1_count", "sig1_score", "sig2_count", "sig2_score"} <= set(sc):
            spec = {"kind": "toposcore"}
            for k, name in zip((1, 2), sigs, strict=True):
                entries = list(m.loc[m["signature"] == name, "profile_taxa"])
                ok = sc[f"sig{k}_score"] > 0
                size = (round(float((sc.loc[ok, f"sig{k}_count"] / sc.loc[ok, f"sig{k}_score"])
                                    .median())) if ok.any() else len(entries))  # fmt: skip
                spec[f"sig{k}"], spec[f"size{k}"] = entries, size
            specs["toposcore"] = spec
    return specs


def sample_info(samples_tsv: str | os.PathLike, ids: Sequence[str]) -> pd.DataFrame:
    """The sample sheet rows of ``ids`` (response ``R``/``NR``/``""``, cohort as str)."""
    from icibiome.samplesheet import outcomes_at_baseline, read_sample_sheet

    # one baseline per patient: donors and follow-up samples carry no label here
    sheet = outcomes_at_baseline(read_sample_sheet(samples_tsv, check_files=False))
    info = sheet.loc[[i for i in ids if i in sheet.index]].copy()
    info["cohort"] = info["cohort"].astype(str)
    info["response"] = info["response"].fillna("").astype(str)
    return info.rename_axis("sample_id")


# --------------------------------------------------------------------------------------------
# figure and MultiQC
# --------------------------------------------------------------------------------------------
def _roc(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, s)
    return fpr, tpr


def signatures_figure(forest: pd.DataFrame, preds: pd.DataFrame, km: pd.DataFrame, path) -> None:
    """Three panels: forest plot of the top features, ROC per held-out cohort, KM high/low."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 5.5))
    ax = axes[0]
    pooled = forest[forest["study"].str.startswith("pooled")].reset_index(drop=True)
    for i, r in pooled.iterrows():
        ax.errorbar(r["effect"], i, xerr=[[r["effect"] - r["ci_low"]], [r["ci_high"] - r["effect"]]],
                    fmt="D", color="C3" if r["effect"] > 0 else "C0", capsize=3)  # fmt: skip
        sub = forest[
            (forest["feature"] == r["feature"]) & ~forest["study"].str.startswith("pooled")
        ]
        ax.scatter(sub["effect"], np.full(len(sub), i), s=10, color="grey", alpha=0.6)
    ax.set_yticks(range(len(pooled)))
    ax.set_yticklabels([f.split("|")[-1][:40] for f in pooled["feature"]], fontsize=7)
    ax.axvline(0, color="k", lw=0.5)
    ax.invert_yaxis()
    ax.set_xlabel("log2 CLR difference R - NR (pooled, 95% CI; grey = cohorts)")
    ax.set_title("Meta-analysis, top features")
    ax = axes[1]
    first = preds[(preds["model"] == preds["model"].iloc[0]) & (preds["features"] == "species")] \
        if len(preds) else preds  # fmt: skip
    for c, g in first.groupby("cohort"):
        fpr, tpr = _roc((g["response"] == "R").to_numpy(), g["probability"].to_numpy())
        a = pr.delong_auc(g["response"] == "R", g["probability"])[0]
        ax.plot(fpr, tpr, label=f"{c} (AUC {a:.2f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(
        "LOCO ROC per held-out cohort" + (f" ({first['model'].iloc[0]})" if len(first) else "")
    )
    if len(first):
        ax.legend(fontsize=7, loc="lower right")
    ax = axes[2]
    if len(km):
        s0, e0 = km["score"].iloc[0], km["endpoint"].iloc[0]
        sub = km[(km["score"] == s0) & (km["endpoint"] == e0)]
        for g, d in sub.groupby("group"):
            ax.step(d["time"], d["survival"], where="post", label=f"{s0} {g}")
        ax.set_title(f"Kaplan-Meier, {e0} by {s0}\n(median split within cohort)")
        ax.set_xlabel("months")
        ax.set_ylabel("survival probability")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no survival data", ha="center")
        ax.set_axis_off()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def _mean_text(r) -> str:
    """One model's LOCO mean AUC with its CI and permutation reference, for the report."""
    txt = f"{r['model']}/{r['features']}: {r['auc']:.3f}"
    if np.isfinite(r.get("ci_low", np.nan)):
        txt += f" (95% CI {r['ci_low']:.3f}-{r['ci_high']:.3f})"
    p = r.get("perm_p", np.nan)
    if np.isfinite(p):
        txt += (f", permutation p {p:.3g}, null {r['null_mean']:.3f} +- {r['null_sd']:.3f} "
                f"({int(r['n_permutations'])} permutations)")  # fmt: skip
        if p >= 0.05:
            txt = f"{r['model']}/{r['features']}: no signal beyond chance ({txt.split(': ', 1)[1]})"
    else:
        txt += ", no permutation null run"
    return txt


WITHIN_MQC_COLUMNS = ["auc_mean", "auc_sd", "null_mean", "null_sd", "perm_p", "n_permutations",
                      "n_R", "n_NR", "note"]  # fmt: skip
WITHIN_DESCRIPTION = (
    "Repeated stratified 5-fold CV inside each cohort (AUC of the out-of-fold probabilities, "
    "mean and SD over repeats) beside its label-permutation reference: the cohort's labels "
    "shuffled and the same CV re-run (null mean and SD; perm_p = (1 + #null >= observed) / "
    "(1 + n), resolution 1 / (n + 1)). Not an optimistic bound: on small cohorts without "
    "signal this AUC scatters widely and can sit well below 0.5 (the reference's SD shows by "
    "how much), so read it against the null mean and perm_p, not against 0.5."
)


def _within_table(within: pd.DataFrame | None) -> pd.DataFrame:
    """The report's within-cohort table: AUC, its permutation reference, counts, note."""
    if within is None or not len(within):
        return pd.DataFrame({"note": ["no within-cohort CV in this run"]}, index=["none"])
    tab = within.assign(row=within["model"] + " | " + within["cohort"].astype(str))
    return tab.set_index("row").reindex(columns=WITHIN_MQC_COLUMNS)


def write_signatures_mqc(
    meta: pd.DataFrame, auc: pd.DataFrame, preds: pd.DataFrame, km: pd.DataFrame,
    figure: Path, out_dir: Path, label: str = "", top_n: int = 25, cancer_type: str | None = None,
    within: pd.DataFrame | None = None,
) -> list[Path]:  # fmt: skip
    """MultiQC custom content: meta-analysis table, LOCO AUC table, within-cohort CV table with
    its permutation reference, ROC and KM line graphs, figure.

    The published reference sentence depends on ``cancer_type`` and the endpoints in the data
    (:func:`icibiome.signatures.references.published_reference`); an empty ROC / KM panel is written as
    comments only, which the report leaves out (:func:`icibiome.report.build.has_data`).
    """
    from icibiome.signatures.references import published_reference

    key = "_" + re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_") if label else ""
    mean = auc[auc["held_out"] == "mean"]
    mean_txt = "; ".join(_mean_text(r) for _, r in mean.iterrows() if np.isfinite(r["auc"]))
    ref = published_reference("signatures", cancer_type, (["response"] if mean_txt else [])
                              + (list(km["endpoint"].unique()) if len(km) else []))  # fmt: skip
    parent = {
        "parent_id": f"icibiome_signatures{key}",
        "parent_name": f"Response signatures ({label})" if label else "Response signatures",
        "parent_description": signatures_summary(meta, auc)
        + "\n\n"
        + (
            "Per-cohort differential abundance (LinDA-style CLR regression), random-effects "
            "meta-analysis across cohorts, leave-one-cohort-out (LOCO) prediction of response and "
            "survival by score. "
            + (ref + " " if ref else "")
            + f"This run, LOCO mean AUC: {mean_txt or 'not estimable'}. "
            "Tables: results/signatures/<profiler>/ (icibiome.signatures.stage)."
        ),
    }
    written = []
    mtab = meta.head(top_n).set_index("feature")[
        ["effect", "ci_low", "ci_high", "p_value", "q_value", "I2", "n_cohorts",
         "direction_consistency"]] if len(meta) else pd.DataFrame(
        {"note": ["no feature was tested in at least 2 cohorts with enough R and NR "
                  "(min_per_class); see differential.tsv for the per-cohort tests"]},
        index=["none"])  # fmt: skip
    mtab.index = [f.split("|")[-1] for f in mtab.index]
    p = out_dir / "signatures_meta_mqc.tsv"
    write_table(mtab, {"id": f"icibiome_signatures_meta{key}", "section_name":
                    "Meta-analysis of responder-associated taxa", "description":
                    f"Top {top_n} features by meta-analysis p: pooled log2 CLR difference R - NR "
                    "(random effects), 95% CI, BH q, I² and the share of cohorts with the pooled "
                    "sign.", "plot_type": "table", **parent, "headers": stat_headers(mtab.columns),
                    "pconfig": {"id": f"icibiome_signatures_meta_table{key}", "sort_rows": False,
                                "only_defined_headers": False,
                                "title": "icibiome: meta-analysis"}}, p, "Feature")  # fmt: skip
    written.append(p)
    atab = auc.assign(row=auc["model"] + " | " + auc["features"] + " | " + auc["held_out"])
    # a table without a permutation null (or n_features) shows those columns empty
    atab = atab.set_index("row").reindex(columns=["auc", "ci_low", "ci_high", "perm_p", "null_mean",
                                                  "null_sd", "n_features", "n_R", "n_NR", "note"])  # fmt: skip
    p = out_dir / "signatures_loco_mqc.tsv"
    write_table(atab, {"id": f"icibiome_signatures_loco{key}", "section_name":
                    "Leave-one-cohort-out AUC", "description": "AUROC per held-out cohort "
                    "(DeLong 95% CI), the mean over cohorts and the pooled AUC, each with its "
                    "within-cohort label-permutation reference (perm_p = (1 + #null >= "
                    "observed) / (1 + n), null mean and SD). Cohorts with too few R or NR, and "
                    "lasso models that kept no feature, are listed with the reason.", "plot_type": "table", **parent,
                    "headers": stat_headers(atab.columns),
                    "pconfig": {"id": f"icibiome_signatures_loco_table{key}", "sort_rows": False,
                                "only_defined_headers": False,
                                "title": "icibiome: LOCO AUC"}}, p, "Model | features | cohort")  # fmt: skip
    written.append(p)
    p = out_dir / "signatures_within_mqc.tsv"
    write_table(_within_table(within), {"id": f"icibiome_signatures_within{key}", "section_name":
                "Within-cohort CV AUC and its permutation reference", "description":
                WITHIN_DESCRIPTION, "plot_type": "table", **parent,
                "headers": stat_headers(WITHIN_MQC_COLUMNS),
                "pconfig": {"id": f"icibiome_signatures_within_table{key}", "sort_rows": False,
                            "only_defined_headers": False,
                            "title": "icibiome: within-cohort CV"}}, p, "Model | cohort")  # fmt: skip
    written.append(p)
    roc = {}
    sp = preds[preds["features"] == "species"] if len(preds) else preds
    if len(sp):
        m0 = sp["model"].iloc[0]
        for c, g in sp[sp["model"] == m0].groupby("cohort"):
            fpr, tpr = _roc((g["response"] == "R").to_numpy(), g["probability"].to_numpy())
            roc[f"{c}"] = roc_linegraph(fpr, tpr)  # vertical steps kept (x keys unique)
    p = out_dir / "signatures_roc_mqc.yaml"
    write_plot({"id": f"icibiome_signatures_roc{key}", "section_name": "LOCO ROC curves",
               **parent, "description": "ROC of the out-of-cohort predicted probability, one "
               "curve per held-out cohort (species features, first model).",
               "plot_type": "linegraph", "pconfig": {"id": f"icibiome_signatures_roc_plot{key}",
               "title": "icibiome: LOCO ROC", "xlab": "1 - specificity",
               "ylab": "sensitivity", "xmin": 0, "xmax": 1, "ymin": 0, "ymax": 1,
               "showlegend": True},
               "data": roc}, p)  # fmt: skip
    written.append(p)
    kmd = km_curves(km)  # one score: its high and low group per endpoint
    p = out_dir / "signatures_km_mqc.yaml"
    write_plot({"id": f"icibiome_signatures_km{key}", "section_name": "Kaplan-Meier by score",
               **parent, "description": "Survival by score group (median split within cohort) "
               "of the first score; every score's Cox HR and log-rank p in survival.tsv.",
               "plot_type": "linegraph",
               "pconfig": {"id": f"icibiome_signatures_km_plot{key}",
                           "title": "icibiome: Kaplan-Meier", "xlab": "months",
                           "ylab": "survival probability", "ymin": 0, "ymax": 1,
                           "showlegend": True},
               "data": kmd}, p)  # fmt: skip
    written.append(p)
    b64 = base64.b64encode(Path(figure).read_bytes()).decode()
    p = out_dir / "signatures_figure_mqc.html"
    with atomic_path(p) as tmp:
        tmp.write_text(
            f"<!--\nid: 'icibiome_signatures_figure{key}'\nsection_name: 'Signatures figure'\n"
            f"parent_id: '{parent['parent_id']}'\nparent_name: '{parent['parent_name']}'\n"
            # MultiQC takes the section's text from whichever file it reads first: this one too
            f"{yaml.safe_dump({'parent_description': parent['parent_description']}, width=10**9)}"
            "description: 'Forest plot of the top meta-analysis features, LOCO ROC per held-out "
            "cohort, Kaplan-Meier by score.'\n-->\n"
            '<div class="mqc-custom-content-image"><img style="max-width:100%" '
            f'src="data:image/png;base64,{b64}" /></div>\n'
        )
    written.append(p)
    return written


# --------------------------------------------------------------------------------------------
# the stage
# --------------------------------------------------------------------------------------------
def _load_inputs(abundance_tsv, samples_tsv, extra_tsvs):
    """Abundance of the sheet's samples, their sheet rows, and the extra features (or None)."""
    ab = read_abundance(abundance_tsv)
    ab.index = ab.index.astype(str)
    info = sample_info(samples_tsv, ab.index)
    ab = ab.loc[info.index]
    extra = read_extra(extra_tsvs or {})
    return ab, info, None if extra is None else extra.reindex(ab.index)


def _n_permutations(permutations: int | dict, key: str) -> int:
    """Permutations of ``key`` (a classifier, ``balance``, ``within_<classifier>``): one number
    for all, or the dict's entry (0 when left out)."""
    if isinstance(permutations, dict):
        return int(permutations.get(key, 0))
    return int(permutations)


def run_signatures(
    abundance_tsv: str | os.PathLike,
    samples_tsv: str | os.PathLike,
    out_dir: str | os.PathLike,
    extra_tsvs: dict[str, str | os.PathLike | None] | None = None,
    balance_tsvs: Sequence[str | os.PathLike] = (),
    settings: SignatureSettings | None = None,
    label: str = "",
    profiler: str = "",
    rank: str = "",
    cancer_type: str | None = None,
    **overrides,
) -> dict[str, Path]:
    """Run the stage (see the module docstring); returns the written paths by key.

    ``settings``: the ``signatures`` config section
    (:class:`icibiome.signatures.settings.SignatureSettings`, whose defaults are the schema's);
    ``overrides`` replace single fields (a name that is not a field is a TypeError).

    ``cancer_type`` (config ``toposcore.cancer_type``) picks the report's published reference.

    ``permutations``: within-cohort label permutations of each LOCO (the whole LOCO refitted
    per permutation, :func:`icibiome.signatures.predict.permutation_null`), one number for every model or
    ``{model: n}`` (models left out get 0); the AUC table gets ``perm_p``, ``null_mean``,
    ``null_sd``. ``within_<model>`` entries set the permutation reference of the within-cohort
    CV (:func:`icibiome.signatures.predict.within_cohort_cv`; one number sets it too).

    ``balance`` (with ``balance_tsvs``: the standard tables whose taxa may be markers, e.g.
    species, genus and family): the nested log-ratio balance and, with extra features, the
    stack (:func:`icibiome.signatures.balance.balance_loco`) join the LOCO table; the final balance is
    written as ``balance_markers.tsv`` + ``balance_model.yaml``.
    """
    s = replace(settings or SignatureSettings(), **overrides)
    covariates, min_prevalence, min_per_class = s.covariates, s.min_prevalence, s.min_per_class
    meta_method, sensitivity, classifiers = s.meta_method, s.sensitivity, s.classifiers
    balance, transform, batch = s.balance, s.transform, s.batch
    within_repeats, permutations, seed = s.within_repeats, s.permutations, s.seed
    threads, top_n = s.threads, s.top_n
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / v for k, v in OUTPUTS.items()}
    ab, info, extra = _load_inputs(abundance_tsv, samples_tsv, extra_tsvs)
    if extra is not None:
        extra = extra.loc[:, extra.notna().any()]  # e.g. TOPOSCORE without lists: all NaN
        extra = extra if extra.shape[1] else None
    logger.info("signatures: %d samples, %d taxa, cohorts %s, extra features %s", len(ab),
                ab.shape[1], sorted(info["cohort"].unique()),
                None if extra is None else list(extra.columns))  # fmt: skip

    res = da.differential_abundance(ab, info, covariates, min_prevalence, min_per_class,
                                    sensitivity=sensitivity)  # fmt: skip
    write_tsv(res, paths["differential"], float_format="%.6g")
    meta = mt.meta_analysis(res, meta_method)
    write_tsv(meta, paths["meta"], float_format="%.6g")
    forest = mt.forest_data(res, meta, meta["feature"].head(15))
    write_tsv(forest, paths["forest"], float_format="%.6g")

    aucs, preds = [], []
    sets = [("species", None, True)]
    if extra is not None:
        sets += [("extra", extra, False), ("species+extra", extra, True)]
    for model in classifiers:
        n_perm = _n_permutations(permutations, model)
        for name, ex, use_sp in sets:
            a, p = pr.loco(ab, info, model, transform, batch, ex, use_sp, min_prevalence,
                           min_per_class, seed, threads, name, permutations=n_perm)  # fmt: skip
            aucs.append(a)
            preds.append(p)
    if balance:
        _run_balance(ab, balance_tsvs, info, extra, permutations, min_prevalence,
                     min_per_class, seed, paths, aucs, preds)  # fmt: skip
    else:
        for key in ("balance_markers", "balance_model"):
            with atomic_path(paths[key]) as tmp:
                tmp.write_text("# balance off (signatures.balance: false)\n")
    auc = pd.concat(aucs, ignore_index=True)
    pred = pd.concat(preds, ignore_index=True)
    write_tsv(auc, paths["loco_auc"], float_format="%.6g")
    write_tsv(pred, paths["loco_predictions"], float_format="%.6g")
    within = pd.concat([pr.within_cohort_cv(ab, info, m, transform, 5, within_repeats,
                                            min_prevalence, min_per_class, seed, threads,
                                            _n_permutations(permutations, f"within_{m}"))
                        for m in classifiers], ignore_index=True)  # fmt: skip
    write_tsv(within, paths["within"], float_format="%.6g")

    sdf = info.copy()
    scores = []
    if len(pred):
        p0 = pred[(pred["model"] == classifiers[0]) & (pred["features"] == "species")]
        sdf["loco_probability"] = p0.set_index("sample_id")["probability"].reindex(sdf.index)
        scores.append("loco_probability")
    if extra is not None:
        for c in extra.columns:
            sdf[c] = extra[c]
            scores.append(c)
    surv, km = sv.survival_table(sdf, scores)
    write_tsv(surv, paths["survival"], float_format="%.6g")
    write_tsv(km, paths["km"], float_format="%.6g")

    try:
        fm = pr.fit_final(ab, info, classifiers[0], transform, batch,
                          extra if extra is not None else None, min_prevalence, seed, threads,
                          extra_specs=extra_specs(extra_tsvs or {}))  # fmt: skip
        fm.profiler, fm.rank = profiler, rank
        pr.save_model(fm, paths["model"])
        pr.write_model_card(fm, paths["model_card"])
    except ValueError as err:  # one class only: an honest placeholder card, no model
        logger.warning("no final model: %s", err)
        with atomic_path(paths["model"]) as tmp:
            tmp.write_bytes(b"")
        with atomic_path(paths["model_card"]) as tmp:
            tmp.write_text(yaml.safe_dump({"model": None, "reason": str(err)}))

    signatures_figure(forest, pred, km, paths["figure"])
    for p in write_signatures_mqc(meta, auc, pred, km, paths["figure"], out, label, top_n,
                                  cancer_type, within):  # fmt: skip
        paths[p.name] = p
    logger.info("signatures done in %.1f s", time.perf_counter() - t0)
    return paths


def _run_balance(
    ab,
    balance_tsvs,
    info,
    extra,
    permutations,
    min_prevalence,
    min_per_class,
    seed,
    paths,
    aucs,
    preds,
) -> None:
    """The nested balance (and stack) LOCO rows, and the final balance model files."""
    from icibiome.signatures import balance as bl

    tables = [read_abundance(p).reindex(ab.index) for p in balance_tsvs] or [ab]
    bab = pd.concat(tables, axis=1).fillna(0.0)
    bab = bab.loc[:, ~bab.columns.duplicated()]
    n_perm = _n_permutations(permutations, "balance")
    res = bl.balance_loco(bab, info, min_prevalence=min_prevalence, min_per_class=min_per_class,
                          n_permutations=n_perm, seed=seed, extra=extra)  # fmt: skip
    aucs.append(res.table)
    preds.append(res.predictions)
    try:
        final = bl.fit_final(bab, info, min_prevalence=min_prevalence, min_per_class=min_per_class)
        bl.write_model(final, paths["balance_markers"], paths["balance_model"])
    except bl.BalanceError as err:  # e.g. one class only: an honest placeholder, no model
        logger.warning("no final balance: %s", err)
        for key in ("balance_markers", "balance_model"):
            with atomic_path(paths[key]) as tmp:
                tmp.write_text(f"# no final balance: {err}\n")


def frozen_auc_table(out: pd.DataFrame, fm, n_permutations: int = FROZEN_PERMUTATIONS):
    """AUROC (DeLong 95% CI) of a frozen model's predictions per cohort and for ``all``, each with
    a label-permutation reference (labels shuffled within cohort, seeded: ``perm_p``,
    ``null_mean``, ``null_sd``, ``n_permutations``).

    ``out``: ``cohort, response, probability`` per sample (:func:`apply_frozen_model`).
    """
    rows = []
    lab = out[out["response"].isin(["R", "NR"])]
    groups = [(c, g) for c, g in lab.groupby("cohort")] + [("all", lab)]
    for cohort, g in groups:
        n_r, n_nr = int((g["response"] == "R").sum()), int((g["response"] == "NR").sum())
        a, _, lo, hi = (pr.delong_auc(g["response"] == "R", g["probability"]) if n_r and n_nr
                        else (np.nan, np.nan, np.nan, np.nan))  # fmt: skip
        # permutation reference of a fixed predictor: labels shuffled within cohort, seeded
        rng = np.random.default_rng(1)
        y = (g["response"] == "R").to_numpy()
        coh = g["cohort"].to_numpy()
        null = []
        for _ in range(n_permutations if n_r and n_nr else 0):
            yp = y.copy()
            for c in np.unique(coh):
                yp[coh == c] = rng.permutation(yp[coh == c])
            null.append(pr.delong_auc(yp, g["probability"])[0])
        pp, nm, nsd, _ = pr.permutation_p(a, null)
        rows.append({"cohort": cohort, "n_R": n_r, "n_NR": n_nr, "auc": a, "ci_low": lo,
                     "ci_high": hi, "perm_p": pp, "null_mean": nm, "null_sd": nsd,
                     "n_permutations": len(null), "model": fm.model,
                     "training_cohorts": ",".join(fm.training_cohorts),
                     "note": "" if n_r and n_nr else "needs R and NR labels"})  # fmt: skip
    return pd.DataFrame(rows)


def apply_frozen_model(
    model_path: str | os.PathLike,
    abundance_tsv: str | os.PathLike,
    samples_tsv: str | os.PathLike,
    predictions_tsv: str | os.PathLike,
    auc_tsv: str | os.PathLike,
    extra_tsvs: dict[str, str | os.PathLike | None] | None = None,
    profiler: str = "",
    rank: str = "",
) -> pd.DataFrame:
    """Apply a frozen model (``model.pkl`` of an earlier run) to this run's table, no retraining.

    Writes one row per sample (``sample_id, cohort, response, probability, predicted``;
    ``predicted`` is R at probability >= 0.5) and, for every cohort with both R and NR labels
    (and all labelled samples together), the AUROC with its DeLong 95% CI and a label-
    permutation reference (:data:`FROZEN_PERMUTATIONS` shuffles within cohort, seeded:
    ``perm_p``, ``null_mean``, ``null_sd``). Refuses with a
    UserError naming the model file when profiler, rank or feature naming do not match, or when
    a model with per-cohort batch handling gets too few samples of a cohort
    (:func:`icibiome.signatures.predict.apply_model`).
    """
    fm = pr.load_model(model_path)
    ab, info, extra = _load_inputs(abundance_tsv, samples_tsv, extra_tsvs)
    try:
        prob = pr.apply_model(fm, ab, info["cohort"].astype(str), extra, profiler=profiler,
                              rank=rank)  # fmt: skip
    except UserError as err:
        raise UserError(f"frozen model {model_path}: {err}") from err
    out = pd.DataFrame({"cohort": info["cohort"].astype(str), "response": info["response"],
                        "probability": prob,
                        "predicted": np.where(prob >= 0.5, "R", "NR")},
                       index=ab.index).rename_axis("sample_id")  # fmt: skip
    write_tsv(out, predictions_tsv, index=True, float_format="%.6g")
    write_tsv(frozen_auc_table(out, fm), auc_tsv, index=False, float_format="%.6g")
    logger.info("frozen model %s (%s, trained on %s) applied to %d samples", model_path,
                fm.model, ",".join(fm.training_cohorts), len(out))  # fmt: skip
    return out
