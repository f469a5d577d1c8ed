# Import mode (config section import): existing profiles + the sample sheet as metadata, instead
# of reads, into the standard tables of profiler import.profiler. Checked at workflow start in
# rules/common.smk (icibiome.import_mode.plan_import); logic in workflow/icibiome/import_mode.py.

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
    log:
        f"logs/import_profiles/{IMPORT_PROFILER}.log",
    benchmark:
        f"benchmarks/import_profiles/{IMPORT_PROFILER}.tsv"
    localrule: True
    conda:
        "../envs/pylib.yaml"
    params:
        ranks=RANKS,
        out_dir=f"results/taxonomy/{IMPORT_PROFILER}",
        fmt=config["import"]["format"],
        value_kind=config["import"]["values"],
        on_mismatch=config["import"]["on_mismatch"],
    script:
        "../scripts/import_profiles.py"
