"""The MultiQC report: custom-content sections made from the pipeline's tables, versions, the run.

Each ``*_mqc`` function writes one MultiQC custom-content file (TSV with a YAML header in ``#``
comments, or YAML). :func:`run_multiqc` then runs MultiQC's Python API over the tool outputs
(fastp JSON, bowtie2 logs, sylph ``.sylphmpa``) and these files.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml

from icibiome.io import UNCLASSIFIED, atomic_path, read_standard_table
from icibiome.mqc import write_table
from icibiome.tools import tool_version

logger = logging.getLogger(__name__)


# Number formats of statistics in the report's tables, by column name (MultiQC ``format``):
# AUCs and their CIs with 3 decimals, p-values in scientific notation, q-values with 2
# significant digits, effects with 2 decimals.
STAT_FORMATS = {
    "auc": "{:.3f}", "ci_low": "{:.3f}", "ci_high": "{:.3f}", "mean_auc": "{:.3f}",
    "p_value": "{:.2e}", "logrank_p": "{:.2e}", "p_high_vs_low": "{:.2e}", "perm_p": "{:.2e}",
    "p_perm": "{:.2e}", "permutation_p": "{:.2e}", "q_value": "{:.2g}",
    "effect": "{:.2f}", "se": "{:.2f}", "I2": "{:.2f}", "direction_consistency": "{:.2f}",
    "hr_per_sd": "{:.2f}", "hr_ci_low": "{:.2f}", "hr_ci_high": "{:.2f}",
    "toposcore": "{:.3f}", "sig1_score": "{:.3f}", "sig2_score": "{:.3f}",
    "n_R": "{:,.0f}", "n_NR": "{:,.0f}", "n_cohorts": "{:,.0f}",
    "auc_mean": "{:.3f}", "auc_sd": "{:.3f}", "null_mean": "{:.3f}", "null_sd": "{:.3f}",
    "n_permutations": "{:,.0f}",
}  # fmt: skip
STAT_TITLES = {"auc": "AUC", "ci_low": "CI low", "ci_high": "CI high", "p_value": "p",
               "q_value": "q (BH)", "I2": "I²", "direction_consistency": "same sign",
               "n_cohorts": "cohorts", "auc_mean": "CV AUC", "auc_sd": "CV AUC SD",
               "null_mean": "null mean", "null_sd": "null SD", "perm_p": "permutation p",
               "n_permutations": "permutations"}  # fmt: skip


def stat_headers(columns: Sequence[str]) -> dict[str, dict]:
    """MultiQC table ``headers`` giving each known statistics column its number format.

    MultiQC shows table numbers with one decimal unless told otherwise, which turns an AUC of
    0.63 into 0.6 and p = 0.004 into 0.0; give this as the ``headers`` of a custom-content table.

    >>> stat_headers(["auc", "note", "q_value"])
    {'auc': {'format': '{:.3f}', 'title': 'AUC'}, 'q_value': {'format': '{:.2g}', 'title': 'q (BH)'}}
    """
    return {
        c: {"format": STAT_FORMATS[c], **({"title": STAT_TITLES[c]} if c in STAT_TITLES else {})}
        for c in columns
        if c in STAT_FORMATS
    }


def read_survival_mqc(tracking_tsv: str | os.PathLike, out: str | os.PathLike) -> pd.DataFrame:
    """Stacked bar of where each sample's fragments went: QC-removed, host, unclassified, classified."""
    t = pd.read_csv(tracking_tsv, sep="\t", index_col="sample_id")
    df = pd.DataFrame(
        {
            "Classified": t["classified"],
            "Non-host, unclassified": (t["non_host"] - t["classified"]).clip(lower=0),
            "Host": t["trimmed"] - t["non_host"],
            "Removed by QC": t["raw"] - t["trimmed"],
        }
    )
    header = {
        "id": "icibiome_read_survival",
        "section_name": "Read survival",
        "description": (
            "Fragments (read pairs, or reads for single-end samples) of each sample by fate: removed "
            "by fastp trimming/filtering, aligned to the host genome (bowtie2), kept but not classified, "
            "and classified by the taxonomic profiler. The bars add up to the raw fragment count."
        ),
        "plot_type": "bargraph",
        "pconfig": {
            "id": "icibiome_read_survival_plot",
            "title": "icibiome: read survival",
            "ylab": "Fragments",
        },
    }
    write_table(df, header, out, index_label="Sample")
    return df


def host_stats_mqc(tracking_tsv: str | os.PathLike, out: str | os.PathLike) -> pd.DataFrame:
    """General-statistics columns: host fraction, fragments kept, percent classified."""
    t = pd.read_csv(tracking_tsv, sep="\t", index_col="sample_id")
    df = pd.DataFrame(
        {
            "host_pct": (100 * t["host_fraction"]).round(2),
            "non_host_fragments": t["non_host"],
            "classified_pct": (
                100 * t["classified"] / t["non_host"].where(t["non_host"] > 0)
            ).round(2),
        }
    )
    header = {
        "id": "icibiome_host",
        "plot_type": "generalstats",
        "pconfig": [
            {
                "host_pct": {
                    "title": "% Host",
                    "description": "Percent of QC-passed fragments aligned to the host",
                    "max": 100,
                    "min": 0,
                    "suffix": "%",
                    "scale": "OrRd",
                }
            },
            {
                "non_host_fragments": {
                    "title": "Non-host",
                    "description": "Fragments left after QC and host removal",
                    "format": "{:,.0f}",
                }
            },
            {
                "classified_pct": {
                    "title": "% Classified",
                    "description": "Percent of non-host fragments classified by the profiler",
                    "max": 100,
                    "min": 0,
                    "suffix": "%",
                }
            },
        ],
    }
    write_table(df, header, out, index_label="Sample")
    return df


def composition_mqc(
    abundance_tsv: str | os.PathLike,
    out: str | os.PathLike,
    top_n: int = 12,
    rank: str = "species",
    profiler: str = "sylph",
) -> pd.DataFrame:
    """Stacked bar of the ``top_n`` most abundant taxa per sample (the rest pooled as 'Other')."""
    tab = (
        read_standard_table(abundance_tsv)
        .drop(index=UNCLASSIFIED, errors="ignore")
        .drop(columns="lineage")
    )
    top = tab.mean(axis=1).sort_values(ascending=False).index[:top_n]
    df = tab.loc[top].T
    df.columns = [re.sub(r"^[a-z]__", "", c).replace("_", " ") for c in df.columns]
    df["Other"] = (tab.sum(axis=0) - tab.loc[top].sum(axis=0)).clip(lower=0)
    header = {
        "id": f"icibiome_composition_{profiler}_{rank}",
        "section_name": f"Taxonomic composition ({profiler}, {rank})",
        "description": (
            f"Relative abundance (% of classified) of the {top_n} most abundant {rank}-level taxa "
            f"across samples as profiled by {profiler}; the remainder is pooled as 'Other'. "
            f"Full table: results/taxonomy/{profiler}/abundance_{rank}.tsv."
        ),
        "plot_type": "bargraph",
        "pconfig": {
            "id": f"icibiome_composition_{profiler}_{rank}_plot",
            "title": f"icibiome: top {rank} ({profiler})",
            "ylab": "Relative abundance (%)",
            "cpswitch_c_active": False,
        },
    }
    write_table(df, header, out, index_label="Sample")
    return df


def _icibiome_version() -> str:
    from icibiome import __version__

    return __version__


def python_version(package: str) -> str | None:
    """Installed version of a Python distribution, or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def software_versions_mqc(
    tools: Sequence[str], packages: Sequence[str], out: str | os.PathLike
) -> dict[str, str]:
    """Write a MultiQC ``*_mqc_versions.yaml`` with the versions of the tools and packages used."""
    versions = {}
    for t in tools:
        v = tool_version(t)
        if v:
            versions[t] = v
    for p in packages:
        v = python_version(p) or (_icibiome_version() if p == "icibiome" else None)
        if v:
            versions[p] = v
    with atomic_path(out) as tmp:
        tmp.write_text(yaml.safe_dump(versions, sort_keys=True))
    return versions


def run_multiqc(
    inputs: Sequence[str | os.PathLike],
    out_html: str | os.PathLike,
    title: str = "icibiome report",
    config_file: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
) -> Path:
    """Run MultiQC (Python API) on the given files and write ``out_html`` (+ ``<name>_data/``).

    The report is written into a temporary folder beside the destination and moved into place
    only when MultiQC succeeded, so a failed run leaves no half-written report.
    """
    import multiqc
    from multiqc.core.update_config import ClConfig

    out_html = Path(out_html)
    out_dir = out_html.parent
    tmp_dir = out_dir / f".{out_html.stem}.tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    cfg = ClConfig(
        output_dir=str(tmp_dir),
        filename=out_html.name,
        title=title,
        force=True,
        quiet=True,
        no_ai=True,
        no_version_check=True,
        config_files=[
            str(c)
            for c in ([config_file] if isinstance(config_file, (str, Path)) else config_file or [])
        ],  # fmt: skip
        extra_fn_clean_exts=[".fastp", ".bowtie2", ".sylph", ".kreport", "_mqc"],
    )
    multiqc.reset()
    res = multiqc.run(*[str(p) for p in inputs], cfg=cfg)
    if getattr(res, "sys_exit_code", 0) != 0:
        raise RuntimeError(f"MultiQC failed with exit code {res.sys_exit_code}")
    data_name = out_html.stem + "_data"
    shutil.rmtree(out_dir / data_name, ignore_errors=True)
    if (tmp_dir / data_name).exists():
        os.replace(tmp_dir / data_name, out_dir / data_name)
    os.replace(tmp_dir / out_html.name, out_html)
    shutil.rmtree(tmp_dir, ignore_errors=True)
    logger.info("MultiQC report written: %s", out_html)
    return out_html


def has_data(path: str | os.PathLike) -> bool:
    """True when a custom-content file has content beyond its ``#`` header and column line."""
    lines = [
        ln for ln in Path(path).read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    return len(lines) > (1 if str(path).endswith(".tsv") else 0)


# Reading order of the report, top to bottom: QC and exclusions, the tools' own modules,
# then composition -> diversity -> networks/guilds -> functions -> TOPOSCORE -> signatures ->
# provenance. Custom-content ids carry the profiler and rank, so they are matched by prefix.
SECTION_ORDER = (
    "icibiome_read_survival", "icibiome_excluded", "icibiome_zero_hit", "icibiome_import",
    "icibiome_amplicon", "cutadapt", "fastp", "bowtie2", "sylphtax", "kraken", "metaphlan",
    "icibiome_composition", "icibiome_profiler_comparison", "icibiome_diversity",
    "icibiome_guilds", "icibiome_function_panel", "icibiome_function", "icibiome_humann",
    "icibiome_toposcore",
    "icibiome_signatures", "icibiome_run_provenance", "multiqc_software_versions",
)  # fmt: skip
_ID_LINE = re.compile(r"^\s*#?\s*(parent_id|id):\s*['\"]?([A-Za-z0-9_.-]+)")


def custom_content_anchor(path: str | os.PathLike) -> str | None:
    """The MultiQC module anchor of a custom-content file: its ``parent_id``, else its ``id``."""
    found = {}
    with open(path, errors="replace") as fh:
        for _, line in zip(range(60), fh, strict=False):
            m = _ID_LINE.match(line)
            if m and m.group(1) not in found:
                found[m.group(1)] = m.group(2)
    return found.get("parent_id") or found.get("id")


def section_order(anchors: Sequence[str]) -> dict[str, dict[str, int]]:
    """MultiQC ``report_section_order`` putting ``anchors`` in :data:`SECTION_ORDER`.

    Examples
    --------
    >>> o = section_order(["icibiome_run_provenance", "icibiome_signatures_sylph_species",
    ...                    "icibiome_other", "icibiome_read_survival"])
    >>> sorted(o, key=lambda k: -o[k]["order"])  # doctest: +NORMALIZE_WHITESPACE
    ['icibiome_read_survival', 'cutadapt', 'fastp', 'bowtie2', 'sylphtax', 'kraken', 'metaphlan',
     'icibiome_signatures_sylph_species', 'icibiome_other', 'icibiome_run_provenance',
     'multiqc_software_versions']

    Unknown sections go just before the provenance.
    """
    order = {}
    for a in dict.fromkeys([*SECTION_ORDER[5:11], *anchors, SECTION_ORDER[-1]]):
        known = [i for i, p in enumerate(SECTION_ORDER) if a == p or a.startswith(p + "_")]
        rank = known[0] * 10 if known else SECTION_ORDER.index("icibiome_run_provenance") * 10 - 5
        order[a] = {"order": 10_000 - rank}
    return order


def make_report(
    fastp_jsons: Sequence[str],
    bowtie2_logs: Sequence[str],
    sylphmpa: Sequence[str],
    custom_content: Sequence[str],
    out_html: str,
    title: str,
    config_file: str | None = None,
    kraken_reports: Sequence[str] = (),
) -> Path:
    """Collect the report inputs and run MultiQC; see :func:`run_multiqc`.

    Custom-content tables without data rows (e.g. no sample was excluded) are left out, so the
    report has no empty sections.
    """
    custom = [p for p in custom_content if has_data(p)]
    inputs = [*fastp_jsons, *bowtie2_logs, *sylphmpa, *kraken_reports, *custom]
    logger.info("MultiQC inputs: %s", json.dumps(inputs))
    anchors = [a for a in (custom_content_anchor(p) for p in custom) if a]
    order_cfg = Path(out_html).parent / f".{Path(out_html).stem}.section_order.yaml"
    order_cfg.parent.mkdir(parents=True, exist_ok=True)
    order_cfg.write_text(yaml.safe_dump({"report_section_order": section_order(anchors)}))
    try:
        return run_multiqc(inputs, out_html, title=title,
                           config_file=[c for c in (config_file, order_cfg) if c])  # fmt: skip
    finally:
        order_cfg.unlink(missing_ok=True)


def zero_hit_mqc(
    tracking_tsv: str | os.PathLike, out: str | os.PathLike, profiler: str = "sylph"
) -> pd.DataFrame:
    """Warning table of samples with reads left after QC but nothing classified (zero hits).

    Such a sample keeps a valid, all-``UNCLASSIFIED`` profile (:mod:`icibiome.taxonomy.profiles`), so the
    run does not fail; it has no composition, so it is left out of beta diversity and networks,
    and its alpha diversity is empty. The section appears only when there is such a sample
    (:func:`make_report` drops tables without data rows).
    """
    t = pd.read_csv(tracking_tsv, sep="\t", index_col="sample_id")
    zero = t[t["classified"] <= 0]
    df = pd.DataFrame(
        {
            "non_host_fragments": zero["non_host"],
            "classified_fragments": zero["classified"],
            "profile": "all unclassified",
        },
        index=zero.index,
    )
    if len(df):
        logger.warning("zero-hit sample(s) (%s classified nothing): %s", profiler, list(df.index))
    header = {
        "id": "icibiome_zero_hit",
        "section_name": "Samples with nothing classified",
        "description": (
            f"Warning: {len(df)} sample(s) had reads left after QC and host removal but "
            f"{profiler} classified none of them. Their profiles are valid and all unclassified; "
            "they have no composition, so they are left out of beta diversity and networks. "
            "Check the database matches the samples (e.g. host or non-gut material)."
        ),
        "plot_type": "table",
    }
    write_table(df, header, out, index_label="Sample")
    return df


def excluded_samples_mqc(
    status_tsv: str | os.PathLike, stats_jsons: Sequence[str], out: str | os.PathLike
) -> pd.DataFrame:
    """Table of samples left out of cohort-level results, with the stage and the reason."""
    from icibiome.reads.qc import excluded_samples

    df = excluded_samples(status_tsv, list(stats_jsons)).set_index("sample_id")
    header = {
        "id": "icibiome_excluded",
        "section_name": "Samples excluded",
        "description": (
            f"{len(df)} sample(s) were left out of the cohort-level tables (on_bad_sample: exclude), "
            "with the stage at which they failed and why."
        ),
        "plot_type": "table",
    }
    write_table(df, header, out, index_label="Sample")
    return df


def write_custom_content(
    tracking_tsv: str,
    abundance_tsv: str,
    status_tsv: str,
    stats_jsons: Sequence[str],
    out_survival: str,
    out_host: str,
    out_composition: str,
    out_excluded: str,
    top_n: int = 12,
    rank: str = "species",
    profiler: str = "sylph",
    samples_tsv: str | None = None,
    out_composition_response: str | None = None,
    out_zero_hit: str | None = None,
) -> None:
    """Write every custom-content file of the QC and taxonomy sections of the report.

    With ``samples_tsv`` and ``out_composition_response`` also the composition by response
    group (:func:`icibiome.report.sections.composition_by_response_mqc`).
    """
    read_survival_mqc(tracking_tsv, out_survival)
    host_stats_mqc(tracking_tsv, out_host)
    composition_mqc(abundance_tsv, out_composition, top_n=top_n, rank=rank, profiler=profiler)
    excluded_samples_mqc(status_tsv, stats_jsons, out_excluded)
    if out_zero_hit:
        zero_hit_mqc(tracking_tsv, out_zero_hit, profiler=profiler)
    if samples_tsv and out_composition_response:
        from icibiome.report.sections import composition_by_response_mqc

        composition_by_response_mqc(
            abundance_tsv=abundance_tsv,
            samples_tsv=samples_tsv,
            out=out_composition_response,
            top_n=top_n,
            rank=rank,
            profiler=profiler,
        )
