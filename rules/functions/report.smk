# Input functions of rules/report.smk (Snakemake's lint keeps functions and rules in
# separate files; this is part of the stage's home, included by its rules file).


# The report's figures as vector files (SVG, journal column width, 6.5-7 pt text) for papers:
# results/figures/<figure>_<profiler>.svg, one rule per figure (icibiome.report.sections).
def get_report_figures():
    figs = []
    if SIGNATURES:
        figs.append(f"results/figures/signatures_{SIGNATURES_PROFILER}.svg")
    if DIVERSITY:
        figs += expand("results/figures/pcoa_{profiler}.svg", profiler=PROFILERS)
    if NETWORKS:
        figs.append(f"results/figures/network_{NETWORK_PROFILER}.svg")
    if TOPOSCORE:
        figs.append(f"results/figures/toposcore_{TOPOSCORE_PROFILER}.svg")
    return figs


def get_report_inputs(wildcards):
    if SHOTGUN.empty:  # a 16S-only run: no shotgun QC or profiler modules
        return {"fastp": [], "sylph": []}
    samples = get_gated_samples()
    inputs = {
        "fastp": expand("results/qc/fastp/{sample}.fastp.json", sample=samples),
        "sylph": (
            expand("results/taxonomy/sylph/profiles/{sample}.sylphmpa", sample=samples)
            if "sylph" in PROFILERS
            else []
        ),
    }
    if "kraken2" in PROFILERS:
        inputs["kraken2"] = expand(
            "results/taxonomy/kraken2/profiles/{sample}.kreport", sample=samples
        )
    if HOST:
        inputs["bowtie2"] = expand(
            "results/qc/host/{sample}.bowtie2.log", sample=samples
        )
    return inputs
