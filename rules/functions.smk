# Function panels: DIAMOND blastx of non-host reads against a protein panel with categories,
# RPKM per category and sample, and the categories per guild (icibiome.functions.panel).


include: "functions/functions.smk"


rule diamond_makedb:
    input:
        config["function_panel"]["proteins"] or [],
    output:
        "results/functions/panel/db/panel.dmnd",
    log:
        "logs/diamond_makedb/panel.log",
    benchmark:
        "benchmarks/diamond_makedb/panel.tsv"
    conda:
        "../envs/diamond.yaml"
    threads: 1
    shell:
        "diamond makedb --in {input:q} --db {output:q} --threads {threads} > {log:q} 2>&1"


rule diamond_blastx:
    input:
        reads=get_clean_reads,
        db="results/functions/panel/db/panel.dmnd",
    output:
        hits="results/functions/panel/hits/{sample}.tsv",
    log:
        "logs/diamond_blastx/{sample}.log",
    benchmark:
        "benchmarks/diamond_blastx/{sample}.tsv"
    conda:
        "../envs/diamond.yaml"
    threads: config["function_panel"]["threads"]
    resources:
        mem_mb=lambda wc, attempt: db_mem_mb(
            config["function_panel"]["proteins"], 2.0, 2000, attempt
        ),
    params:
        sensitivity=lambda wc: (
            ""
            if config["function_panel"]["sensitivity"] == "default"
            else f"--{config['function_panel']['sensitivity']}"
        ),
        evalue=config["function_panel"]["evalue"],
        min_identity=config["function_panel"]["min_identity"],
        extra=config["function_panel"]["extra"],
    # one best hit per read; mates share read names, so each line starts with the mate number;
    # sorted, because DIAMOND's output order depends on its threads (reruns are byte-identical)
    shell:
        "(set -o pipefail; i=0; for f in {input.reads:q}; do i=$((i + 1));"
        " diamond blastx --db {input.db:q} --query $f --threads {threads}"
        " {params.sensitivity} --evalue {params.evalue} --id {params.min_identity}"
        " --max-target-seqs 1 --max-hsps 1 {params.extra}"
        " --outfmt 6 qseqid sseqid pident length evalue bitscore qlen slen"
        " | sed 's/^/'$i'\\t/'; done | LC_ALL=C sort > {output.hits:q}) 2> {log:q}"


rule function_panel:
    input:
        hits=get_function_hits,
        stats=get_read_stats,
        proteins=config["function_panel"]["proteins"] or [],
        categories=config["function_panel"]["categories"] or [],
    output:
        counts="results/functions/panel/protein_counts.tsv",
        protein_rpkm="results/functions/panel/protein_rpkm.tsv",
        category_rpkm=report(
            "results/functions/panel/category_rpkm.tsv",
            caption="../workflow/report/functions_category_rpkm.rst",
            category="Functions",
            labels={"result": "function panel RPKM per category"},
        ),
        taxon_rpkm="results/functions/panel/taxon_rpkm.tsv",
        features="results/functions/panel/features.tsv",
        heatmap="results/functions/panel/function_panel_mqc.yaml",
    log:
        "logs/function_panel/panel.log",
    benchmark:
        "benchmarks/function_panel/panel.tsv"
    conda:
        "../envs/pylib.yaml"
    params:
        samples=lambda wc, input: [Path(p).stem for p in input.hits],
        out_dir=lambda wc, output: str(Path(output.counts).parent),
    script:
        "../scripts/function_panel.py"


rule function_guilds:
    input:
        protein_rpkm="results/functions/panel/protein_rpkm.tsv",
        proteins=config["function_panel"]["proteins"] or [],
        categories=config["function_panel"]["categories"] or [],
        guilds=f"results/guilds/{NETWORK_PROFILER}/guilds.tsv",
    output:
        table=report(
            "results/functions/panel/guild_functions.tsv",
            caption="../workflow/report/functions_guilds.rst",
            category="Functions",
            labels={"result": "function categories per guild"},
        ),
        mqc="results/functions/panel/function_guilds_mqc.tsv",
    log:
        "logs/function_guilds/panel.log",
    benchmark:
        "benchmarks/function_guilds/panel.tsv"
    conda:
        "../envs/pylib.yaml"
    script:
        "../scripts/function_guilds.py"


if FUNCTION_PANEL:
    TARGETS.append(rules.function_panel.output.category_rpkm)
    REPORT.append(rules.function_panel.output.heatmap)
    if NETWORKS:
        TARGETS.append(rules.function_guilds.output.table)
        REPORT.append(rules.function_guilds.output.mqc)
