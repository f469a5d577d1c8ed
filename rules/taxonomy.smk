# Taxonomic profiling of non-host shotgun reads, then the standard rank tables.


include: "functions/taxonomy.smk"


from icibiome.tools import PROFILERS as PROFILER_TABLE

# per-sample rules of each shotgun profiler (icibiome.tools.PROFILERS), whose benchmark files
# give its time per sample
PROFILER_STEPS = {name: list(p.steps) for name, p in PROFILER_TABLE.items() if p.steps}


# the shotgun profilers compared with a known composition (report.truth), species tables only
COMPARED_PROFILERS = (
    [p for p in SHOTGUN_PROFILERS if p in PROFILER_STEPS]
    if config["report"]["truth"] and not IMPORT and len(SHOTGUN) and "species" in RANKS
    else []
)


rule sylph_profile:
    input:
        reads=get_clean_reads,
        db=config["taxonomy"]["sylph"]["database"],
        taxonomy=config["taxonomy"]["sylph"]["taxonomy"],
    output:
        profile="results/taxonomy/sylph/profiles/{sample}.tsv",
        sylphmpa="results/taxonomy/sylph/profiles/{sample}.sylphmpa",
    log:
        "logs/sylph_profile/{sample}.log",
    benchmark:
        "benchmarks/sylph_profile/{sample}.tsv"
    conda:
        "../envs/sylph.yaml"
    resources:
        mem_mb=lambda wc, attempt: db_mem_mb(
            config["taxonomy"]["sylph"]["database"], 1.3, 1000, attempt
        ),
    params:
        min_ani=config["taxonomy"]["sylph"]["min_ani"],
        min_number_kmers=config["taxonomy"]["sylph"]["min_number_kmers"],
    script:
        "../scripts/sylph_profile.py"


rule merge_profiles:
    input:
        profiles=get_profiles,
        stats=get_read_stats,
    output:
        abundance=expand(
            "results/taxonomy/{{profiler}}/abundance_{rank}.tsv", rank=RANKS
        ),
        counts=expand("results/taxonomy/{{profiler}}/counts_{rank}.tsv", rank=RANKS),
    log:
        "logs/merge_profiles/{profiler}.log",
    benchmark:
        "benchmarks/merge_profiles/{profiler}.tsv"
    conda:
        "../envs/pylib.yaml"
    params:
        ranks=RANKS,
        out_dir="results/taxonomy/{profiler}",
    script:
        "../scripts/merge_profiles.py"


rule kraken2_classify:
    input:
        reads=get_clean_reads,
        db=config["taxonomy"]["kraken2"]["database"],
    output:
        report="results/taxonomy/kraken2/reports/{sample}.k2report",
    log:
        "logs/kraken2_classify/{sample}.log",
    benchmark:
        "benchmarks/kraken2_classify/{sample}.tsv"
    conda:
        "../envs/kraken2.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: db_mem_mb(
            config["taxonomy"]["kraken2"]["database"], 1.1, 1000, attempt, ["*.k2d"]
        ),
    params:
        paired=lambda wc, input: "--paired" if len(input.reads) == 2 else "",
        confidence=config["taxonomy"]["kraken2"]["confidence"],
    shell:
        "kraken2 --db {input.db:q} --threads {threads} --confidence {params.confidence}"
        " --report {output.report:q} --output /dev/null {params.paired} {input.reads:q}"
        " > {log:q} 2>&1"


rule bracken_kmer_distribution:
    input:
        db=config["taxonomy"]["kraken2"]["database"],
        library=config["taxonomy"]["kraken2"]["library"] or [],
        taxonomy=config["taxonomy"]["kraken2"]["library_taxonomy"] or [],
    output:
        "results/taxonomy/kraken2/database{read_len}mers.kmer_distrib",
    log:
        "logs/bracken_kmer_distribution/{read_len}.log",
    benchmark:
        "benchmarks/bracken_kmer_distribution/{read_len}.tsv"
    conda:
        "../envs/kraken2.yaml"
    threads: 2
    params:
        step=config["taxonomy"]["kraken2"]["kmer_distribution_step"],
        confidence=config["taxonomy"]["kraken2"]["confidence"],
    script:
        "../scripts/bracken_kmer_distribution.py"


rule kraken2_profile:
    input:
        report="results/taxonomy/kraken2/reports/{sample}.k2report",
        db=config["taxonomy"]["kraken2"]["database"],
        kmer_distr=get_kmer_distribution,
    output:
        profile="results/taxonomy/kraken2/profiles/{sample}.tsv",
        report="results/taxonomy/kraken2/profiles/{sample}.kreport",
        bracken="results/taxonomy/kraken2/profiles/{sample}.bracken",
    log:
        "logs/kraken2_profile/{sample}.log",
    benchmark:
        "benchmarks/kraken2_profile/{sample}.tsv"
    conda:
        "../envs/pylib.yaml"
    params:
        threshold=config["taxonomy"]["kraken2"]["threshold"],
        genome_lengths=config["taxonomy"]["kraken2"]["genome_lengths"] or None,
    script:
        "../scripts/kraken2_profile.py"


rule metaphlan_profile:
    input:
        reads=get_clean_reads,
        db=config["taxonomy"]["metaphlan"]["db_dir"],
    output:
        raw="results/taxonomy/metaphlan/reports/{sample}.mpa.txt",
        profile="results/taxonomy/metaphlan/profiles/{sample}.tsv",
    log:
        "logs/metaphlan_profile/{sample}.log",
    benchmark:
        "benchmarks/metaphlan_profile/{sample}.tsv"
    conda:
        "../envs/metaphlan.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: db_mem_mb(
            Path(config["taxonomy"]["metaphlan"]["db_dir"])
            / config["taxonomy"]["metaphlan"]["index"],
            1.2,
            1000,
            attempt,
            ["*.bt2", "*.bt2l"],
        ),
    params:
        index=config["taxonomy"]["metaphlan"]["index"],
    script:
        "../scripts/metaphlan_profile.py"


rule profiler_comparison:
    input:
        truth=config["report"]["truth"] or [],
        profiles=expand(
            "results/taxonomy/{profiler}/abundance_species.tsv",
            profiler=COMPARED_PROFILERS,
        ),
    output:
        table="results/taxonomy/profiler_comparison.tsv",
        per_sample="results/taxonomy/profiler_comparison_per_sample.tsv",
        mqc="results/report/custom/profiler_comparison_mqc.tsv",
    log:
        "logs/profiler_comparison/all.log",
    localrule: True
    conda:
        "../envs/pylib.yaml"
    params:
        profilers=COMPARED_PROFILERS,
        steps={p: PROFILER_STEPS[p] for p in COMPARED_PROFILERS},
        benchmark_dir="benchmarks",
    script:
        "../scripts/profiler_comparison.py"


if COMPARED_PROFILERS:
    REPORT.append(rules.profiler_comparison.output.mqc)
