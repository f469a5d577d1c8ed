"""Results of a run on the synthetic demo, measured against its ground truth.

Used by ``make demo`` (which prints the figures) and by the end-to-end tests (which assert on
them). Figures:

* **profile vs truth**: Bray-Curtis dissimilarity per sample between a profiler's species table
  and the planted cell abundances (``truth/abundance_species.tsv``); detection precision/recall.
* **guilds vs truth** (when the networks stage ran): adjusted Rand index between the found and
  the planted guilds (foundation, pathobiont, none) over the demo's taxa, the found guild that
  best matches each planted guild with its precision and recall, and the Spearman correlation
  of the per-sample ``guild_balance`` with the planted latent balance.
* **host removal**: from the read names (simulated host reads are named ``HOST_*``), the share of
  host fragments removed, and the share of microbial fragments lost by host removal (counted on
  the trimmed reads when they were kept, e.g. with ``--notemp``; otherwise against the raw reads,
  which then also counts QC losses).

Usage: ``python -m icibiome.demo.evaluate --demo demo --results results``.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
from pathlib import Path

import pandas as pd

from icibiome.io import read_abundance, write_tsv
from icibiome.taxonomy.profiles import bray_curtis

logger = logging.getLogger(__name__)


def count_origins(path: str | os.PathLike) -> tuple[int, int]:
    """Count (host, microbial) records of a FASTQ by read name (host names start with ``HOST_``)."""
    host = other = 0
    with gzip.open(path, "rb") as fh:
        for i, line in enumerate(fh):
            if i % 4 == 0:
                if line.startswith(b"@HOST_"):
                    host += 1
                else:
                    other += 1
    return host, other


def profile_accuracy(
    truth_tsv, profile_tsv, detection_limit: float = 0.0, recall_floor: float = 0.5
) -> pd.DataFrame:
    """Per-sample Bray-Curtis, precision and recall of a species table against the truth.

    ``recall`` counts the true species above ``recall_floor`` percent (a species at 0.01 % has a
    handful of reads in a demo sample and no profiler can be asked to find it); ``recall_all``
    counts every species present in the truth.
    """
    truth = read_abundance(truth_tsv)
    prof = read_abundance(profile_tsv)
    rows = []
    for s in prof.index:
        t = truth.loc[s]
        p = prof.loc[s]
        true_set = set(t.index[t > 0])
        true_major = set(t.index[t >= recall_floor])
        found = set(p.index[p > detection_limit])
        tp = len(true_set & found)
        rows.append(
            {
                "sample_id": s,
                "bray_curtis": bray_curtis(t, p),
                "precision": tp / len(found) if found else float("nan"),
                "recall": len(true_major & found) / len(true_major) if true_major else float("nan"),
                "recall_all": tp / len(true_set) if true_set else float("nan"),
                "n_true": len(true_set),
                "n_detected": len(found),
            }
        )
    return pd.DataFrame(rows)


def host_removal(demo: Path, results: Path) -> pd.DataFrame:
    """Host fragments removed and microbial fragments lost, per sample (counted on R1 or SE)."""
    truth = pd.read_csv(demo / "truth" / "reads.tsv", sep="\t", index_col="sample_id")
    rows = []
    for s in truth.index:
        suffix = "R1" if truth.loc[s, "layout"] == "paired" else "SE"
        out = results / "qc" / "host" / f"{s}_{suffix}.fastq.gz"
        if not out.exists():
            continue
        host_left, mic_left = count_origins(out)
        trimmed = results / "qc" / "fastp" / f"{s}_{suffix}.fastq.gz"
        if trimmed.exists():
            host_in, mic_in = count_origins(trimmed)
            basis = "trimmed"
        else:
            host_in, mic_in = int(truth.loc[s, "host_reads"]), int(truth.loc[s, "microbial_reads"])
            basis = "raw"
        rows.append(
            {
                "sample_id": s,
                "basis": basis,
                "host_in": host_in,
                "host_left": host_left,
                "host_removed_pct": 100 * (1 - host_left / host_in) if host_in else float("nan"),
                "microbial_in": mic_in,
                "microbial_left": mic_left,
                "microbial_lost_pct": 100 * (1 - mic_left / mic_in) if mic_in else float("nan"),
            }
        )
    return pd.DataFrame(rows)


PLANTED = ("foundation", "pathobiont")


def guild_recovery(
    truth_guilds_tsv, found_guilds_tsv, truth_samples_tsv=None, scores_tsv=None
) -> tuple[pd.DataFrame, dict]:
    """Found guilds (``results/guilds/<profiler>/guilds.tsv``) against the planted ones.

    Every taxon of the truth is labelled with its found guild; taxa outside any module
    (``unassigned``), filtered out of the network or not detected count as ``none``, like the
    truth's taxa outside both guilds. Returns a per-planted-guild table (``planted``,
    ``found``: the found guild with most members of it, ``n_planted``, ``n_found``, ``overlap``,
    ``precision``, ``recall``, ``same_label``: found under the planted name, i.e. oriented
    right) and a summary with the adjusted Rand index (scikit-learn) over the truth's taxa and,
    when the score files are given, the Spearman correlation of ``guild_balance`` with the
    planted latent balance.
    """
    from scipy.stats import spearmanr
    from sklearn.metrics import adjusted_rand_score

    truth = pd.read_csv(truth_guilds_tsv, sep="\t").set_index("clade_name")["guild"]
    found = pd.read_csv(found_guilds_tsv, sep="\t").set_index("clade_name")["guild"]
    called = found.reindex(truth.index).fillna("none")
    called = called.where(~called.isin(["unassigned", "filtered"]), "none")
    rows = []
    for g in PLANTED:
        members = set(truth.index[truth == g])
        cands = called[list(members)]
        cands = cands[cands != "none"]
        best = cands.value_counts().index[0] if len(cands) else ""
        got = set(called.index[called == best]) if best else set()
        n_found = int((found == best).sum()) if best else 0  # also taxa outside the truth
        ov = len(got & members)
        rows.append({
            "planted": g, "found": best or "none", "n_planted": len(members), "n_found": n_found,
            "overlap": ov, "precision": ov / n_found if n_found else float("nan"),
            "recall": ov / len(members) if members else float("nan"), "same_label": best == g,
        })  # fmt: skip
    table = pd.DataFrame(rows)
    summary = {
        "guild_ari": float(adjusted_rand_score(truth.to_numpy(), called.to_numpy())),
        "guild_n_taxa": len(truth),
        "guild_balance_rho": float("nan"),
    }
    if truth_samples_tsv is not None and scores_tsv is not None:
        z = pd.read_csv(truth_samples_tsv, sep="\t").set_index("sample_id")["guild_balance"]
        sc = pd.read_csv(scores_tsv, sep="\t").set_index("sample_id")["guild_balance"].dropna()
        ids = sc.index.intersection(z.index)
        if len(ids) > 2:
            summary["guild_balance_rho"] = float(spearmanr(sc[ids], z[ids]).statistic)
    return table, summary


def evaluate_demo(
    demo: str | os.PathLike, results: str | os.PathLike, profiler: str = "sylph"
) -> dict:
    """All figures of a demo run; also written to ``<results>/evaluation/``."""
    demo, results = Path(demo), Path(results)
    acc = profile_accuracy(
        demo / "truth" / "abundance_species.tsv",
        results / "taxonomy" / profiler / "abundance_species.tsv",
    )
    host = host_removal(demo, results)
    write_tsv(acc, results / "evaluation" / f"{profiler}_vs_truth.tsv", float_format="%.4f")
    write_tsv(host, results / "evaluation" / "host_removal.tsv", float_format="%.4f")
    summary = {
        "samples": len(acc),
        "bray_curtis_mean": float(acc["bray_curtis"].mean()),
        "bray_curtis_max": float(acc["bray_curtis"].max()),
        "precision_mean": float(acc["precision"].mean()),
        "recall_mean": float(acc["recall"].mean()),
        "recall_all_mean": float(acc["recall_all"].mean()),
        "host_removed_pct_min": float(host["host_removed_pct"].min())
        if len(host)
        else float("nan"),
        "host_removed_pct_total": float(100 * (1 - host["host_left"].sum() / host["host_in"].sum()))
        if len(host)
        else float("nan"),
        "microbial_lost_pct_max": float(host["microbial_lost_pct"].max())
        if len(host)
        else float("nan"),
        "microbial_lost_pct_total": float(
            100 * (1 - host["microbial_left"].sum() / host["microbial_in"].sum())
        )
        if len(host)
        else float("nan"),
        "host_basis": ",".join(sorted(set(host["basis"]))) if len(host) else "",
    }
    found = results / "guilds" / profiler / "guilds.tsv"
    if found.exists():
        table, gsum = guild_recovery(
            demo / "truth" / "guilds.tsv",
            found,
            demo / "truth" / "samples.tsv",
            results / "guilds" / profiler / "guild_scores.tsv",
        )
        write_tsv(table, results / "evaluation" / f"{profiler}_guilds_vs_truth.tsv",
                  float_format="%.4f")  # fmt: skip
        summary.update(gsum)
        summary["guilds"] = table.to_dict("records")
    logger.info("demo evaluation: %s", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo", default="demo", help="demo folder (made by python -m icibiome.demo)")
    ap.add_argument("--results", default="results", help="the pipeline's results folder")
    ap.add_argument("--profiler", action="append", help="profiler(s) to evaluate; default: all run")
    args = ap.parse_args(argv)
    profilers = args.profiler or sorted(
        p.parent.name for p in Path(args.results, "taxonomy").glob("*/abundance_species.tsv")
    )
    for profiler in profilers:
        _print_summary(evaluate_demo(args.demo, args.results, profiler), profiler)
    cmp = Path(args.results, "taxonomy", "profiler_comparison.tsv")  # rule profiler_comparison
    if cmp.exists():
        print("Profiler comparison vs truth (report.truth; icibiome.taxonomy.compare):")
        print(pd.read_csv(cmp, sep="\t").to_string(index=False, float_format="%.3f"))
    return 0


def _print_summary(s: dict, profiler: str) -> None:
    print(f"Demo vs ground truth ({s['samples']} samples, {profiler}):")
    print(
        f"  species profile Bray-Curtis to truth: mean {s['bray_curtis_mean']:.3f}, "
        f"max {s['bray_curtis_max']:.3f}; precision {s['precision_mean']:.3f}, recall {s['recall_mean']:.3f} "
        f"(species >= 0.5%; {s['recall_all_mean']:.3f} of all present)"
    )
    print(
        f"  host removal: {s['host_removed_pct_total']:.2f}% of host fragments removed "
        f"(worst sample {s['host_removed_pct_min']:.2f}%), {s['microbial_lost_pct_total']:.3f}% of "
        f"microbial fragments lost (worst {s['microbial_lost_pct_max']:.3f}%; vs {s['host_basis']} reads)"
    )
    if "guild_ari" in s:
        parts = [
            f"{g['planted']} -> {g['found']} (precision {g['precision']:.2f}, recall {g['recall']:.2f})"
            for g in s["guilds"]
        ]
        print(
            f"  guilds vs planted ({s['guild_n_taxa']} taxa): adjusted Rand index {s['guild_ari']:.3f}; "
            + "; ".join(parts)
            + f"; guild balance vs planted balance: Spearman {s['guild_balance_rho']:.3f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
