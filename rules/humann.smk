# Functional profiling with HUMAnN 3 (off by default: humann.activate): per-sample gene families,
# pathway abundance and coverage, then joined, normalised (CPM, relab) and split tables.
# Logic: workflow/icibiome/functions/humann.py (command, merge with the HUMAnN utilities, checks, heatmap).


# merged HUMAnN tables (rules/humann.smk); each also as _unstratified and _stratified
include: "functions/humann.smk"


HUMANN_TABLES = [
    "genefamilies_rpk",
    "genefamilies_cpm",
    "genefamilies_relab",
    "pathabundance_rpk",
    "pathabundance_cpm",
    "pathabundance_relab",
    "pathcoverage",
]


rule humann:
    input:
        reads=get_clean_reads,
        profile=get_humann_profile,
    output:
        multiext(
            "results/functions/humann/{sample}/{sample}_",
            "genefamilies.tsv",
            "pathabundance.tsv",
            "pathcoverage.tsv",
        ),
    log:
        run="logs/humann/{sample}.log",
        humann="logs/humann/{sample}.humann.log",
    benchmark:
        "benchmarks/humann/{sample}.tsv"
    conda:
        "../envs/humann.yaml"
    threads: config["humann"]["threads"]
    resources:
        mem_mb=lambda wc, attempt: db_mem_mb(
            [
                config["humann"]["nucleotide_database"],
                config["humann"]["protein_database"],
            ],
            0.25,
            6000,
            attempt,
        ),
    params:
        out_dir="results/functions/humann/{sample}",
        nucleotide_db=config["humann"]["nucleotide_database"],
        protein_db=config["humann"]["protein_database"],
        memory_use=config["humann"]["memory_use"],
        extra=config["humann"]["extra"].split(),
    script:
        "../scripts/humann.py"


rule humann_merge:
    input:
        genefamilies=get_humann_tables("genefamilies"),
        pathabundance=get_humann_tables("pathabundance"),
        pathcoverage=get_humann_tables("pathcoverage"),
    output:
        tables=expand(
            "results/functions/humann/{table}{split}.tsv",
            table=HUMANN_TABLES,
            split=["", "_unstratified", "_stratified"],
        ),
        heatmap="results/functions/humann/humann_pathways_mqc.yaml",
    log:
        "logs/humann_merge/all.log",
    benchmark:
        "benchmarks/humann_merge/all.tsv"
    conda:
        "../envs/humann.yaml"
    params:
        out_dir=lambda w, output: str(Path(output.heatmap).parent),
        top_n=config["humann"]["heatmap_top_n"],
    script:
        "../scripts/humann_merge.py"


if HUMANN:
    TARGETS.extend(
        expand(
            "results/functions/humann/{table}_{split}.tsv",
            table=["genefamilies_cpm", "pathabundance_cpm", "pathcoverage"],
            split=["unstratified", "stratified"],
        )
    )
    REPORT.append(rules.humann_merge.output.heatmap)
