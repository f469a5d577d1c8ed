# Taxonomic profiling of non-host shotgun reads, then the standard rank tables.


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
