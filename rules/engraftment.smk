# FMT donor engraftment and longitudinal dynamics of repeated samples.
# Logic: workflow/icibiome/engraftment/donors.py, workflow/icibiome/engraftment/longitudinal.py.
# This stage decides its own activation from the sample sheet and registers its outputs in
# TARGETS and REPORT (rules/common.smk), so no other file lists them.

from icibiome.engraftment.donors import has_donors
from icibiome.engraftment.longitudinal import has_timepoints


include: "functions/engraftment.smk"


ENGRAFTMENT_PROFILER = config["engraftment"]["profiler"] or PROFILERS[0]
ENGRAFTMENT = config["engraftment"]["activate"] and has_donors(SAMPLES)
if ENGRAFTMENT and ENGRAFTMENT_PROFILER not in PROFILERS:
    raise WorkflowError(
        f"engraftment.profiler {ENGRAFTMENT_PROFILER!r} is not one of taxonomy.profilers {PROFILERS}"
    )
if ENGRAFTMENT and config["engraftment"]["rank"] not in RANKS:
    raise WorkflowError(
        f"engraftment.rank {config['engraftment']['rank']!r} is not one of taxonomy.ranks {RANKS}"
    )
LONGITUDINAL = config["longitudinal"]["activate"] and has_timepoints(SAMPLES)


rule engraftment:
    input:
        abundance=f"results/taxonomy/{ENGRAFTMENT_PROFILER}/abundance_{config['engraftment']['rank']}.tsv",
        samples=config["samples"],
    output:
        samples="results/engraftment/samples.tsv",
        recipients="results/engraftment/recipients.tsv",
        association="results/engraftment/association.tsv",
        table_mqc="results/engraftment/engraftment_association_mqc.tsv",
        trajectory_mqc="results/engraftment/engraftment_trajectory_mqc.yaml",
        heatmap_mqc="results/engraftment/engraftment_heatmap_mqc.yaml",
    log:
        "logs/engraftment/all.log",
    benchmark:
        "benchmarks/engraftment/all.tsv"
    conda:
        "../envs/pylib.yaml"
    params:
        detection=config["engraftment"]["detection"],
        label=f"{ENGRAFTMENT_PROFILER}, {config['engraftment']['rank']}",
    script:
        "../scripts/engraftment.py"


rule longitudinal:
    input:
        unpack(get_longitudinal_scores),
        samples=config["samples"],
    output:
        changes="results/longitudinal/change_from_baseline.tsv",
        models="results/longitudinal/mixed_models.tsv",
        paired="results/longitudinal/paired_tests.tsv",
        models_mqc="results/longitudinal/longitudinal_models_mqc.tsv",
        spaghetti_mqc="results/longitudinal/longitudinal_spaghetti_mqc.yaml",
    log:
        "logs/longitudinal/all.log",
    benchmark:
        "benchmarks/longitudinal/all.tsv"
    conda:
        "../envs/pylib.yaml"
    params:
        sources=lambda wc: sorted(get_longitudinal_scores(wc)),
    script:
        "../scripts/longitudinal.py"


if ENGRAFTMENT:
    TARGETS.extend(
        [rules.engraftment.output.samples, rules.engraftment.output.association]
    )
    REPORT.extend(
        [
            rules.engraftment.output.table_mqc,
            rules.engraftment.output.trajectory_mqc,
            rules.engraftment.output.heatmap_mqc,
        ]
    )
if LONGITUDINAL:
    TARGETS.append(rules.longitudinal.output.models)
    REPORT.extend(
        [rules.longitudinal.output.models_mqc, rules.longitudinal.output.spaghetti_mqc]
    )
