"""Validation of the signatures stage on real melanoma ICI cohorts, against published numbers.

``python -m icibiome.validate [--data DIR] [--out DIR]`` (``make validate``) reads the MetaPhlAn 4
profiles of ``../shared/data/ici_mpa4_8cohorts`` (omicsEye/Cancer-Microbiome; see its SOURCE.md)
with :func:`icibiome.importers.read_profile`, labels them with ``labels_harmonised.tsv`` and runs
the library of the signatures stage. Writes into ``--out`` (default ``benchmarks/results``):

``validation_loco.tsv``
    LOCO AUROC per held-out cohort (L1-logistic and random forest), the mean over cohorts and
    the pooled AUC, with ``published`` = Lee et al. 2022 leave-one-dataset-out mean AUC (0.595,
    the middle of "0.59-0.60", docs/methods.md §8 row 20) and ``difference`` = auc - published.
``validation_within.tsv``
    Within-cohort 5-fold CV AUC (5 repeats) per cohort; ``published`` = Lee's best within-cohort
    AUCs where they apply (ORR PRIMM-UK 0.78; PFS12 PRIMM-NL 0.64, our label being ORR).
``validation_cross.tsv``
    Train-on-one, test-on-another AUC matrix (long); published share of pairs > 0.6 is 31.4 %.
``validation_meta.tsv``
    Top 30 taxa of the random-effects meta-analysis, plus Lee's consistent responder taxa
    (*Bifidobacterium pseudocatenulatum*, *Roseburia* spp., *Akkermansia muciniphila*) and the
    omicsEye top hit *Faecalibacterium* SGB15346, with the published direction.
``validation_summary.tsv``
    The headline figures vs published, and run times.

``python -m icibiome.validate --pipeline DIR --snakefile Snakefile`` (also run by ``make validate``)
runs **the pipeline itself in import mode** on the same cohorts: it writes ``DIR/samples.tsv``
(the labelled baseline samples) and ``DIR/config/config.yaml`` (import of the MetaPhlAn merged
tables, diversity, TOPOSCORE with the published SIG1/SIG2 lists of
``../shared/data/toposcore_nsclc`` when present, signatures), runs Snakemake in ``DIR`` and
writes ``DIR/validation_pipeline.tsv``: the pipeline's LOCO AUCs next to the library run above and
Lee 2022 (the two must agree: same data, same code path).

Design choices (documented in the tables' notes):

* label = ``ORR_recommended`` (Spencer's cMD ORR flipped, see SOURCE.md); Peters 2019 has PFS12
  only, used as its label;
* cohorts = studies, Lee 2022 split into its recruiting sites (``subcohort``), as Lee's
  leave-one-dataset-out did;
* the FMT trials Davar 2021 and Baruch 2021 are **excluded**: several samples per patient incl.
  donors, and their labels describe response to FMT + anti-PD-1 in refractory patients;
* all cohorts here are baseline (one sample per patient).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from icibiome import differential as da
from icibiome import meta as mt
from icibiome import predict as pr
from icibiome.importers import read_profile
from icibiome.io import write_tsv

logger = logging.getLogger(__name__)

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "ici_mpa4_8cohorts"
EXCLUDED = {
    "DavarD_2021": "FMT trial (longitudinal, donors; FMT + anti-PD-1 in refractory patients)",
    "BaruchEN_2021": "FMT trial (longitudinal; FMT + anti-PD-1 in refractory patients)",
}
PUBLISHED_LOCO_MEAN = 0.595  # Lee 2022 LODO mean AUC "0.59-0.60" (docs/methods.md §8 row 20)
PUBLISHED_WITHIN = {
    "LeeKA_2022:PRIMM-UK": (0.78, "Lee 2022 best within-cohort AUC, ORR"),
    "LeeKA_2022:PRIMM-NL": (0.64, "Lee 2022 within-cohort AUC for PFS12 (our label: ORR)"),
}
PUBLISHED_CROSS_SHARE = 0.314  # share of train->test pairs with AUC > 0.6 (Lee 2022)
PUBLISHED_TAXA = {
    "s__Bifidobacterium_pseudocatenulatum": "Lee 2022 consistent responder taxon",
    "s__Akkermansia_muciniphila": "Lee 2022 consistent responder taxon",
    "s__Roseburia_intestinalis": "Lee 2022 (Roseburia spp.)",
    "s__Roseburia_hominis": "Lee 2022 (Roseburia spp.)",
    "s__Roseburia_inulinivorans": "Lee 2022 (Roseburia spp.)",
    "s__Faecalibacterium_SGB15346": "omicsEye/Cancer-Microbiome top hit (MMUPHin)",
}


def load_cohorts(data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Species abundance (samples x species, percent) and sample info of the 8-cohort folder."""
    labels = pd.read_csv(data / "labels_harmonised.tsv", sep="\t", dtype=str)
    tables = []
    for f in sorted(data.glob("*_merged*.txt")):
        t = read_profile(f).drop(columns="lineage").set_index("clade_name")
        tables.append(t)
    ab = pd.concat(tables, axis=1).fillna(0.0).T
    ab.index = ab.index.astype(str)
    lab = labels.drop_duplicates("run_accession").set_index("run_accession")
    lab = lab.loc[[i for i in ab.index if i in lab.index]]
    resp = lab["ORR_recommended"].where(lab["ORR_recommended"].isin(["yes", "no"]))
    pfs = lab["PFS12"].where(lab["PFS12"].isin(["yes", "no"]))
    use_pfs = resp.isna() & (lab["study"] == "PetersBA_2019")
    resp = resp.where(~use_pfs, pfs)
    info = pd.DataFrame({
        "study": lab["study"],
        "cohort": np.where(lab["subcohort"].notna() & (lab["subcohort"] != "NA"),
                           lab["study"] + ":" + lab["subcohort"].fillna(""), lab["study"]),
        "response": resp.map({"yes": "R", "no": "NR"}).fillna(""),
        "label": np.where(use_pfs, "PFS12", "ORR"),
    }, index=lab.index)  # fmt: skip
    info = info[~info["study"].isin(list(EXCLUDED))]
    info = info[info["response"] != ""]
    return ab.loc[info.index], info


def _published_meta(meta: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for feat, src in PUBLISHED_TAXA.items():
        m = meta[meta["feature"] == feat]
        r = m.iloc[0].to_dict() if len(m) else {"feature": feat}
        r.update({"published_direction": "+", "published_source": src,
                  "agrees": bool(len(m) and m["effect"].iloc[0] > 0)})  # fmt: skip
        rows.append(r)
    return pd.DataFrame(rows)


def run_validation(data: Path = DEFAULT_DATA, out: Path = Path("benchmarks/results"),
                   seed: int = 1, within_repeats: int = 5, threads: int = 2,
                   permutations: int = 2) -> dict[str, pd.DataFrame]:  # fmt: skip
    """Run the validation (see the module docstring) and write the tables."""
    times = {}
    t0 = time.perf_counter()
    ab, info = load_cohorts(data)
    times["load"] = time.perf_counter() - t0
    logger.info("validation: %d samples, %d species, cohorts:\n%s", len(ab), ab.shape[1],
                da.class_counts(info).to_string())  # fmt: skip

    t = time.perf_counter()
    res = da.differential_abundance(
        ab, info, min_prevalence=0.1, min_per_class=5, sensitivity=("ancombc", "dirmult")
    )
    meta = mt.meta_analysis(res, "DL")
    times["differential+meta"] = time.perf_counter() - t

    loco_tabs = []
    for model in pr.MODELS:
        t = time.perf_counter()
        tab, _ = pr.loco(ab, info, model=model, min_per_class=5, seed=seed, n_jobs=threads)
        times[f"loco_{model}"] = time.perf_counter() - t
        loco_tabs.append(tab)
    loco = pd.concat(loco_tabs, ignore_index=True)
    loco["published"] = PUBLISHED_LOCO_MEAN
    loco["difference"] = loco["auc"] - PUBLISHED_LOCO_MEAN
    loco["published_source"] = "Lee 2022 LODO mean AUC 0.59-0.60 (docs/methods.md §8 row 20)"

    t = time.perf_counter()
    within = pr.within_cohort_cv(ab, info, "lasso", n_repeats=within_repeats, seed=seed,
                                 n_jobs=threads)  # fmt: skip
    times["within_lasso"] = time.perf_counter() - t
    within["published"] = within["cohort"].map(lambda c: PUBLISHED_WITHIN.get(c, (np.nan, ""))[0])
    within["difference"] = within["auc_mean"] - within["published"]
    within["published_source"] = within["cohort"].map(
        lambda c: PUBLISHED_WITHIN.get(c, (np.nan, ""))[1]
    )

    t = time.perf_counter()
    cross = pr.cross_cohort_matrix(ab, info, "lasso", seed=seed, n_jobs=threads)
    times["cross_lasso"] = time.perf_counter() - t

    t = time.perf_counter()
    null = pr.permutation_null(ab, info, n_permutations=permutations, seed=seed,
                               model="lasso", min_per_class=5, n_jobs=threads)  # fmt: skip
    times["permutation_null"] = time.perf_counter() - t

    top = meta.head(30).assign(published_direction="", published_source="", agrees=np.nan)
    meta_out = pd.concat([top, _published_meta(meta)], ignore_index=True)

    def mean_auc(model):
        return float(
            loco.loc[(loco["model"] == model) & (loco["held_out"] == "mean"), "auc"].iloc[0]
        )

    per = loco[~loco["held_out"].isin(["mean", "pooled"]) & loco["auc"].notna()]
    summary = pd.DataFrame([
        {"metric": "LOCO mean AUC, L1-logistic", "value": mean_auc("lasso"),
         "published": PUBLISHED_LOCO_MEAN, "source": "Lee 2022 LODO mean 0.59-0.60"},
        {"metric": "LOCO mean AUC, random forest", "value": mean_auc("rf"),
         "published": PUBLISHED_LOCO_MEAN, "source": "Lee 2022 LODO mean 0.59-0.60"},
        {"metric": "share of held-out cohorts with AUC > 0.6 (L1-logistic)",
         "value": float((per[per["model"] == "lasso"]["auc"] > 0.6).mean()), "published": np.nan,
         "source": ""},
        {"metric": "share of train->test pairs with AUC > 0.6 (L1-logistic)",
         "value": float((cross["auc"] > 0.6).mean()), "published": PUBLISHED_CROSS_SHARE,
         "source": "Lee 2022 31.4% of pairs"},
        {"metric": "max within-cohort CV AUC (L1-logistic)",
         "value": float(within["auc_mean"].max()), "published": 0.78,
         "source": "Lee 2022 best within-cohort (ORR PRIMM-UK)"},
        {"metric": "permutation null, mean LOCO AUC (L1-logistic)", "value": float(null.mean()),
         "published": 0.5, "source": f"labels shuffled within cohorts, {len(null)} permutations"},
        {"metric": "meta-analysis features with q < 0.1", "value": int((meta["q_value"] < 0.1).sum()),
         "published": np.nan, "source": "Lee 2022: no species significant in every cohort"},
        {"metric": "samples / cohorts", "value": f"{len(info)} / {info['cohort'].nunique()}",
         "published": np.nan, "source": "excluded: " + "; ".join(f"{k} ({v})"
                                                                for k, v in EXCLUDED.items())},
    ] + [{"metric": f"run time {k} (s)", "value": round(v, 1), "published": np.nan, "source": ""}
         for k, v in times.items()])  # fmt: skip
    summary["difference"] = pd.to_numeric(summary["value"], errors="coerce") - summary["published"]
    out = Path(out)
    for name, df in (
        ("loco", loco),
        ("within", within),
        ("cross", cross),
        ("meta", meta_out),
        ("summary", summary),
    ):
        write_tsv(df, out / f"validation_{name}.tsv", float_format="%.4g")
    logger.info("validation written to %s in %.0f s", out, time.perf_counter() - t0)
    return {"loco": loco, "within": within, "cross": cross, "meta": meta_out, "summary": summary}


PIPELINE_TABLES = ("Baruch", "Davar")  # the FMT trials' tables are not imported (EXCLUDED)


def pipeline_inputs(data: Path, wd: Path, threads: int = 2) -> Path:
    """Sample sheet and config for an import-mode run of the pipeline on the real cohorts.

    Returns the config path (``wd/config/config.yaml``). Profiled samples without a labelled
    sheet row (unlabelled, other time points) are excluded by the import with the reason listed
    (``on_mismatch: exclude``).
    """
    import yaml

    _, info = load_cohorts(data)
    labels = pd.read_csv(data / "labels_harmonised.tsv", sep="\t", dtype=str)
    subj = labels.drop_duplicates("run_accession").set_index("run_accession")["subject_id"]
    sheet = pd.DataFrame({
        "sample_id": info.index, "subject_id": subj.reindex(info.index).fillna("").to_numpy(),
        "cohort": info["cohort"].str.replace(r"[^A-Za-z0-9_.-]+", "_", regex=True).to_numpy(),
        "timepoint": "baseline", "response": info["response"].to_numpy(),
    })  # fmt: skip
    sheet["subject_id"] = sheet["subject_id"].where(sheet["subject_id"] != "", sheet["sample_id"])
    sheet["subject_id"] = sheet["subject_id"].str.replace(r"[^A-Za-z0-9_.-]+", "_", regex=True)
    wd = Path(wd)
    (wd / "config").mkdir(parents=True, exist_ok=True)
    write_tsv(sheet, wd / "samples.tsv")
    tables = [str(f.resolve()) for f in sorted(data.glob("*_merged*.txt"))
              if not f.name.startswith(PIPELINE_TABLES)]  # fmt: skip
    topo = data.parent / "toposcore_nsclc"
    sig = {"sig1": str((topo / "sig1.txt").resolve()), "sig2": str((topo / "sig2.txt").resolve())}
    cfg = {
        "samples": "samples.tsv",
        "import": {"activate": True, "profiles": tables, "format": "metaphlan_merged",
                   "profiler": "imported", "on_mismatch": "exclude"},
        "report": {"title": "icibiome validation: 8 melanoma ICI cohorts (MetaPhlAn 4)"},
        "networks": {"activate": False},
        "toposcore": {"activate": (topo / "sig1.txt").exists(), "rank": "species",
                      "cancer_type": "melanoma",  # the report's reference: Lee 2022
                      **(sig if (topo / "sig1.txt").exists() else {})},
        "signatures": {"activate": True, "min_per_class": 5, "classifiers": ["lasso", "rf"],
                       "within_repeats": 5, "threads": threads, "covariates": [],
                       "use_guilds": False},
    }  # fmt: skip
    path = wd / "config" / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_pipeline_validation(data: Path, wd: Path, snakefile: Path, threads: int = 2,
                            library_out: Path | None = None) -> pd.DataFrame:  # fmt: skip
    """Run the pipeline in import mode in ``wd`` and compare its LOCO AUCs (see module doc)."""
    import subprocess

    cfg = pipeline_inputs(data, wd, threads)
    t = time.perf_counter()
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(Path(snakefile).resolve()),
           "--directory", str(Path(wd).resolve()), "--configfile", str(cfg.resolve()),
           "--cores", str(threads)]  # fmt: skip
    logger.info("pipeline validation: %s", " ".join(cmd))
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t
    auc = pd.read_csv(Path(wd) / "results/signatures/imported/loco_auc.tsv", sep="\t")
    auc = auc[auc["features"] == "species"].copy()
    auc["held_out"] = auc["held_out"].astype(str)
    lib = None
    if library_out is not None and (Path(library_out) / "validation_loco.tsv").exists():
        lib = pd.read_csv(Path(library_out) / "validation_loco.tsv", sep="\t")
        lib["held_out"] = lib["held_out"].str.replace(r"[^A-Za-z0-9_.-]+", "_", regex=True)
        lib = lib.set_index(["model", "held_out"])["auc"]
    auc["library_auc"] = [lib.get((m, h), np.nan) if lib is not None else np.nan
                          for m, h in zip(auc["model"], auc["held_out"], strict=True)]  # fmt: skip
    auc["published"] = np.where(auc["held_out"] == "mean", PUBLISHED_LOCO_MEAN, np.nan)
    auc["published_source"] = np.where(auc["held_out"] == "mean",
                                       "Lee 2022 LODO mean AUC 0.59-0.60", "")  # fmt: skip
    auc["pipeline_wall_s"] = round(wall, 1)
    out = auc[["model", "held_out", "n_R", "n_NR", "auc", "ci_low", "ci_high", "library_auc",
               "published", "published_source", "pipeline_wall_s"]]  # fmt: skip
    write_tsv(out, Path(wd) / "validation_pipeline.tsv", float_format="%.4g")
    logger.info("pipeline validation written to %s (pipeline %.0f s)", wd, wall)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Validate the signatures stage on real ICI cohorts.")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--within-repeats", type=int, default=5)
    ap.add_argument("--permutations", type=int, default=2)
    ap.add_argument(
        "--pipeline",
        type=Path,
        default=None,
        help="run the pipeline in import mode in this directory instead",
    )
    ap.add_argument("--snakefile", type=Path, default=Path("Snakefile"))
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not (a.data / "labels_harmonised.tsv").exists():
        print(f"validate: {a.data} not found (the real cohorts live in ../shared/data)",
              file=sys.stderr)  # fmt: skip
        return 2
    if a.pipeline is not None:
        tab = run_pipeline_validation(a.data, a.pipeline, a.snakefile, a.threads, a.out)
        print(tab.to_string(index=False))
        return 0
    res = run_validation(a.data, a.out, a.seed, a.within_repeats, a.threads, a.permutations)
    print(res["summary"].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
