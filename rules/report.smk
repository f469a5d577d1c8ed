# Read tracking, MultiQC custom content, software versions, and the MultiQC report.


include: "functions/report.smk"


from icibiome.tools import run_tools


rule read_tracking:
    input:
        stats=get_read_stats,
        counts=f"results/taxonomy/{REPORT_PROFILER}/counts_species.tsv",
    output:
        "results/qc/read_tracking.tsv",
    log:
        "logs/read_tracking/all.log",
    localrule: True
    conda:
        "../envs/pylib.yaml"
    script:
        "../scripts/read_tracking.py"


rule report_custom_content:
    input:
        tracking="results/qc/read_tracking.tsv",
        abundance=f"results/taxonomy/{REPORT_PROFILER}/abundance_{config['report']['rank']}.tsv",
        status="results/qc/sample_status.tsv",
        stats=get_read_stats,
        samples=config["samples"],
    output:
        survival="results/report/custom/read_survival_mqc.tsv",
        host="results/report/custom/host_stats_mqc.tsv",
        composition="results/report/custom/composition_mqc.tsv",
        excluded="results/report/custom/excluded_samples_mqc.tsv",
        composition_response="results/report/custom/composition_response_mqc.tsv",
        zero_hit="results/report/custom/zero_hit_mqc.tsv",
    log:
        "logs/report_custom_content/all.log",
    localrule: True
    conda:
        "../envs/pylib.yaml"
    params:
        top_n=config["report"]["top_n_taxa"],
        rank=config["report"]["rank"],
        profiler=REPORT_PROFILER,
    script:
        "../scripts/report_custom_content.py"


if not SHOTGUN.empty:  # a 16S-only run has no shotgun QC or profiler sections
    REPORT.extend(rules.report_custom_content.output)


rule software_versions:
    output:
        "results/report/custom/software_mqc_versions.yaml",
    log:
        "logs/software_versions/all.log",
    localrule: True
    conda:
        "../envs/pylib.yaml"
    params:
        # cutadapt's version comes with its MultiQC module
        tools=[
            t
            for t in run_tools(PROFILERS, shotgun=len(SHOTGUN) > 0)
            if t != "cutadapt"
        ],
        packages=["icibiome", "snakemake", "multiqc", "pysylph", "pandas", "numpy"],
    script:
        "../scripts/software_versions.py"


REPORT.append(rules.software_versions.output[0])


rule multiqc_report:
    input:
        unpack(get_report_inputs),
        # every stage registers its MultiQC custom content in REPORT (rules/common.smk)
        custom=REPORT,
        # not read by MultiQC: built with the report (results/figures/)
        figures=get_report_figures(),
    output:
        report(
            "results/report/multiqc_report.html",
            caption="../workflow/report/multiqc.rst",
            category="Report",
        ),
    log:
        "logs/multiqc_report/all.log",
    benchmark:
        "benchmarks/multiqc_report/all.tsv"
    localrule: True
    conda:
        "../envs/multiqc.yaml"
    params:
        title=config["report"]["title"],
        config_file=str(ICIBIOME_DIR / "config" / "multiqc_config.yaml"),
    script:
        "../scripts/multiqc_report.py"


rule figure_signatures:
    input:
        forest="results/signatures/{profiler}/forest.tsv",
        predictions="results/signatures/{profiler}/loco_predictions.tsv",
        km="results/signatures/{profiler}/km.tsv",
    output:
        "results/figures/signatures_{profiler}.svg",
    log:
        "logs/figure_signatures/{profiler}.log",
    benchmark:
        "benchmarks/figure_signatures/{profiler}.tsv"
    localrule: True
    conda:
        "../envs/pylib.yaml"
    script:
        "../scripts/figure_signatures.py"


rule figure_pcoa:
    input:
        "results/diversity/{profiler}/pcoa.tsv",
    output:
        "results/figures/pcoa_{profiler}.svg",
    log:
        "logs/figure_pcoa/{profiler}.log",
    benchmark:
        "benchmarks/figure_pcoa/{profiler}.tsv"
    localrule: True
    conda:
        "../envs/pylib.yaml"
    script:
        "../scripts/figure_pcoa.py"


rule figure_network:
    input:
        edges="results/networks/{profiler}/edges.tsv",
        guilds="results/guilds/{profiler}/guilds.tsv",
    output:
        "results/figures/network_{profiler}.svg",
    log:
        "logs/figure_network/{profiler}.log",
    benchmark:
        "benchmarks/figure_network/{profiler}.tsv"
    localrule: True
    conda:
        "../envs/pylib.yaml"
    params:
        seed=config["guilds"]["seed"],
    script:
        "../scripts/figure_network.py"


rule figure_toposcore:
    input:
        scores="results/signatures/{profiler}/toposcore.tsv",
        samples=config["samples"],
    output:
        "results/figures/toposcore_{profiler}.svg",
    log:
        "logs/figure_toposcore/{profiler}.log",
    benchmark:
        "benchmarks/figure_toposcore/{profiler}.tsv"
    localrule: True
    conda:
        "../envs/pylib.yaml"
    script:
        "../scripts/figure_toposcore.py"


TARGETS.append(rules.multiqc_report.output[0])
