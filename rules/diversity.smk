# Alpha and beta diversity, PCoA and cohort-stratified PERMANOVA of one rank's standard tables.
# Logic: workflow/icibiome/ecology/diversity.py (scikit-bio), permanova.py (restricted-permutation
# PERMANOVA) and diversity_report.py (figure, MultiQC).


rule run_diversity:
    input:
        abundance=f"results/taxonomy/{{profiler}}/abundance_{config['diversity']['rank']}.tsv",
        counts=counts_table(config["diversity"]["rank"]),
        samples=config["samples"],
    output:
        alpha=report(
            "results/diversity/{profiler}/alpha.tsv",
            caption="../workflow/report/diversity_alpha.rst",
            category="Diversity",
            labels={"profiler": "{profiler}", "result": "alpha diversity"},
        ),
        beta_braycurtis="results/diversity/{profiler}/beta_braycurtis.tsv",
        beta_aitchison="results/diversity/{profiler}/beta_aitchison.tsv",
        pcoa="results/diversity/{profiler}/pcoa.tsv",
        permanova=report(
            "results/diversity/{profiler}/permanova.tsv",
            caption="../workflow/report/diversity_permanova.rst",
            category="Diversity",
            labels={"profiler": "{profiler}", "result": "PERMANOVA"},
        ),
        figure=report(
            "results/diversity/{profiler}/pcoa.png",
            caption="../workflow/report/diversity_pcoa.rst",
            category="Diversity",
            labels={"profiler": "{profiler}", "result": "PCoA and alpha diversity"},
        ),
        mqc=multiext(
            "results/diversity/{profiler}/diversity_",
            "alpha_mqc.tsv",
            "alpha_box_mqc.yaml",
            "pcoa_mqc.yaml",
            "permanova_mqc.tsv",
            "figure_mqc.html",
        ),
    log:
        "logs/run_diversity/{profiler}.log",
    benchmark:
        "benchmarks/run_diversity/{profiler}.tsv"
    conda:
        "../envs/pylib.yaml"
    params:
        out_dir="results/diversity/{profiler}",
        permutations=config["diversity"]["permutations"],
        seed=config["diversity"]["seed"],
        label=lambda wc: f"{wc.profiler}, {config['diversity']['rank']}",
    script:
        "../scripts/run_diversity.py"


if DIVERSITY:
    TARGETS.extend(expand(rules.run_diversity.output.permanova, profiler=PROFILERS))
    REPORT.extend(expand(rules.run_diversity.output.mqc, profiler=PROFILERS))
