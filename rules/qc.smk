# Read checks, trimming (fastp), host removal (bowtie2 + samtools), read statistics.


rule check_reads:
    input:
        get_raw_reads,
    output:
        "results/qc/check/{sample}.json",
    log:
        "logs/check_reads/{sample}.log",
    benchmark:
        "benchmarks/check_reads/{sample}.tsv"
    conda:
        "../envs/pylib.yaml"
    params:
        fq1=lambda wc: SAMPLES.loc[wc.sample, "fq1"],
        fq2=lambda wc: SAMPLES.loc[wc.sample, "fq2"],
    script:
        "../scripts/check_reads.py"


checkpoint select_samples:
    input:
        expand("results/qc/check/{sample}.json", sample=sorted(SHOTGUN.index)),
    output:
        table="results/qc/sample_status.tsv",
    log:
        "logs/select_samples/all.log",
    localrule: True
    conda:
        "../envs/pylib.yaml"
    params:
        on_bad_sample=config["on_bad_sample"],
    script:
        "../scripts/select_samples.py"


rule fastp_paired:
    input:
        r1=lambda wc: SAMPLES.loc[wc.sample, "fq1"],
        r2=lambda wc: SAMPLES.loc[wc.sample, "fq2"],
        check="results/qc/sample_status.tsv",
    output:
        r1=(
            temp("results/qc/fastp/{sample}_R1.fastq.gz")
            if HOST
            else "results/qc/fastp/{sample}_R1.fastq.gz"
        ),
        r2=(
            temp("results/qc/fastp/{sample}_R2.fastq.gz")
            if HOST
            else "results/qc/fastp/{sample}_R2.fastq.gz"
        ),
        json="results/qc/fastp/{sample}.fastp.json",
        html="results/qc/fastp/{sample}.fastp.html",
    log:
        "logs/fastp_paired/{sample}.log",
    benchmark:
        "benchmarks/fastp_paired/{sample}.tsv"
    wildcard_constraints:
        sample=_alternatives(PAIRED),
    conda:
        "../envs/fastp.yaml"
    threads: 2
    params:
        min_length=config["qc"]["fastp"]["min_length"],
        cut_tail_quality=config["qc"]["fastp"]["cut_tail_quality"],
        adapters=(
            [
                "--adapter_sequence",
                config["qc"]["fastp"]["adapter_r1"],
                "--adapter_sequence_r2",
                config["qc"]["fastp"]["adapter_r2"],
            ]
            if config["qc"]["fastp"]["adapter_r1"]
            else ["--detect_adapter_for_pe"]
        ),
        extra=config["qc"]["fastp"]["extra"],
    script:
        "../scripts/fastp_paired.py"


rule fastp_single:
    input:
        r1=lambda wc: SAMPLES.loc[wc.sample, "fq1"],
        check="results/qc/sample_status.tsv",
    output:
        r1=(
            temp("results/qc/fastp/{sample}_SE.fastq.gz")
            if HOST
            else "results/qc/fastp/{sample}_SE.fastq.gz"
        ),
        json="results/qc/fastp/{sample}.fastp.json",
        html="results/qc/fastp/{sample}.fastp.html",
    log:
        "logs/fastp_single/{sample}.log",
    benchmark:
        "benchmarks/fastp_single/{sample}.tsv"
    wildcard_constraints:
        sample=_alternatives(SINGLE),
    conda:
        "../envs/fastp.yaml"
    threads: 2
    params:
        min_length=config["qc"]["fastp"]["min_length"],
        cut_tail_quality=config["qc"]["fastp"]["cut_tail_quality"],
        adapters=(
            ["--adapter_sequence", config["qc"]["fastp"]["adapter_r1"]]
            if config["qc"]["fastp"]["adapter_r1"]
            else []
        ),
        extra=config["qc"]["fastp"]["extra"],
    script:
        "../scripts/fastp_single.py"


rule bowtie2_remove_host_paired:
    input:
        r1="results/qc/fastp/{sample}_R1.fastq.gz",
        r2="results/qc/fastp/{sample}_R2.fastq.gz",
        index=multiext(
            config["host_removal"]["bowtie2_index"],
            ".1.bt2",
            ".2.bt2",
            ".3.bt2",
            ".4.bt2",
            ".rev.1.bt2",
            ".rev.2.bt2",
        ),
    output:
        r1="results/qc/host/{sample}_R1.fastq.gz",
        r2="results/qc/host/{sample}_R2.fastq.gz",
        bowtie2_log="results/qc/host/{sample}.bowtie2.log",
    log:
        "logs/bowtie2_remove_host_paired/{sample}.log",
    benchmark:
        "benchmarks/bowtie2_remove_host_paired/{sample}.tsv"
    wildcard_constraints:
        sample=_alternatives(PAIRED),
    conda:
        "../envs/bowtie2.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: db_mem_mb(
            config["host_removal"]["bowtie2_index"],
            1.2,
            1000,
            attempt,
            ["*.bt2", "*.bt2l"],
        ),
    params:
        index=lambda wc, input: input.index[0].removesuffix(".1.bt2"),
        extra=config["host_removal"]["extra"],
    # keep a pair only when neither mate aligns to the host (samtools fastq -f 12 -F 256); both
    # exit statuses checked, bowtie2's stderr in its own file (icibiome.reads.qc.run_host_removal)
    script:
        "../scripts/bowtie2_remove_host_paired.py"


rule bowtie2_remove_host_single:
    input:
        r1="results/qc/fastp/{sample}_SE.fastq.gz",
        index=multiext(
            config["host_removal"]["bowtie2_index"],
            ".1.bt2",
            ".2.bt2",
            ".3.bt2",
            ".4.bt2",
            ".rev.1.bt2",
            ".rev.2.bt2",
        ),
    output:
        r1="results/qc/host/{sample}_SE.fastq.gz",
        bowtie2_log="results/qc/host/{sample}.bowtie2.log",
    log:
        "logs/bowtie2_remove_host_single/{sample}.log",
    benchmark:
        "benchmarks/bowtie2_remove_host_single/{sample}.tsv"
    wildcard_constraints:
        sample=_alternatives(SINGLE),
    conda:
        "../envs/bowtie2.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: db_mem_mb(
            config["host_removal"]["bowtie2_index"],
            1.2,
            1000,
            attempt,
            ["*.bt2", "*.bt2l"],
        ),
    params:
        index=lambda wc, input: input.index[0].removesuffix(".1.bt2"),
        extra=config["host_removal"]["extra"],
    script:
        "../scripts/bowtie2_remove_host_single.py"


rule read_stats:
    input:
        fastp="results/qc/fastp/{sample}.fastp.json",
        reads=get_clean_reads,
    output:
        "results/qc/stats/{sample}.json",
    log:
        "logs/read_stats/{sample}.log",
    benchmark:
        "benchmarks/read_stats/{sample}.tsv"
    conda:
        "../envs/pylib.yaml"
    params:
        min_fragments=config["min_reads_after_qc"],
        on_bad_sample=config["on_bad_sample"],
    script:
        "../scripts/read_stats.py"


# the one per-sample decision (raw-read check + reads left after QC): every per-sample stage after
# QC takes its samples from this table through get_gated_samples (rules/common.smk)
checkpoint sample_gate:
    input:
        status="results/qc/sample_status.tsv",
        stats=get_read_stats,
    output:
        table="results/qc/sample_gate.tsv",
    log:
        "logs/sample_gate/all.log",
    localrule: True
    conda:
        "../envs/pylib.yaml"
    script:
        "../scripts/sample_gate.py"
