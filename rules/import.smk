# Import mode (config section import): existing profiles + the sample sheet as metadata, instead
# of reads, into the standard tables of profiler import.profiler. Checked at workflow start in
# rules/common.smk (icibiome.taxonomy.import_mode.plan_import); logic in workflow/icibiome/taxonomy/import_mode.py.

IMPORT_PROFILER = config["import"]["profiler"]


# the read-based merge_profiles writes the same file names; in import mode this rule makes them
ruleorder: import_profiles > merge_profiles


rule import_profiles:
    input:
        profiles=config["import"]["profiles"],
        samples=config["samples"],
        name_map=config["import"]["name_map"] or [],
        lineages=config["import"]["lineages"] or [],
        taxonomy=config["import"]["taxonomy"] or [],
    output:
        abundance=expand(
            "results/taxonomy/{profiler}/abundance_{rank}.tsv",
            profiler=IMPORT_PROFILER,
            rank=RANKS,
        ),
        counts=(
            expand(
                "results/taxonomy/{profiler}/counts_{rank}.tsv",
                profiler=IMPORT_PROFILER,
                rank=RANKS,
            )
            if IMPORT and IMPORT_PLAN.has_counts
            else []
        ),
        manifest=f"results/taxonomy/{IMPORT_PROFILER}/import_manifest.tsv",
        samples=f"results/taxonomy/{IMPORT_PROFILER}/samples.tsv",
        excluded=f"results/taxonomy/{IMPORT_PROFILER}/excluded_samples.tsv",
        filled=f"results/taxonomy/{IMPORT_PROFILER}/filled_cells.tsv",
    log:
        f"logs/import_profiles/{IMPORT_PROFILER}.log",
    benchmark:
        f"benchmarks/import_profiles/{IMPORT_PROFILER}.tsv"
    localrule: True
    conda:
        "../envs/pylib.yaml"
    params:
        ranks=RANKS,
        out_dir=lambda wc, output: str(Path(output.manifest).parent),
        fmt=config["import"]["format"],
        value_kind=config["import"]["values"],
        on_mismatch=config["import"]["on_mismatch"],
        missing=config["import"]["missing"],
        leaf=config["import"]["leaf"],
    script:
        "../scripts/import_profiles.py"


rule import_report_content:
    input:
        abundance=f"results/taxonomy/{IMPORT_PROFILER}/abundance_{config['report']['rank']}.tsv",
        samples=config["samples"],
        manifest=f"results/taxonomy/{IMPORT_PROFILER}/import_manifest.tsv",
        excluded=f"results/taxonomy/{IMPORT_PROFILER}/excluded_samples.tsv",
        filled=f"results/taxonomy/{IMPORT_PROFILER}/filled_cells.tsv",
    output:
        composition="results/report/custom/import_composition_mqc.tsv",
        composition_response="results/report/custom/import_composition_response_mqc.tsv",
        files="results/report/custom/import_files_mqc.tsv",
        flags="results/report/custom/import_flags_mqc.tsv",
    log:
        "logs/import_report_content/all.log",
    localrule: True
    conda:
        "../envs/pylib.yaml"
    params:
        top_n=config["report"]["top_n_taxa"],
        rank=config["report"]["rank"],
        profiler=IMPORT_PROFILER,
    script:
        "../scripts/import_report_content.py"


if IMPORT:
    TARGETS.append(rules.import_profiles.output.manifest)
    REPORT.extend(rules.import_report_content.output)
