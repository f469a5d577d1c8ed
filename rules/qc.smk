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
        adapters=lambda wc: (
            f"--adapter_sequence {config['qc']['fastp']['adapter_r1']} "
            f"--adapter_sequence_r2 {config['qc']['fastp']['adapter_r2']}"
            if config["qc"]["fastp"]["adapter_r1"]
            else "--detect_adapter_for_pe"
        ),
        extra=config["qc"]["fastp"]["extra"],
    shell:
        "fastp --in1 {input.r1:q} --in2 {input.r2:q} --out1 {output.r1:q} --out2 {output.r2:q}"
        " --json {output.json:q} --html {output.html:q} --report_title {wildcards.sample}"
        " --thread {threads} --length_required {params.min_length}"
        " --cut_tail --cut_tail_mean_quality {params.cut_tail_quality}"
        " {params.adapters} {params.extra} > {log:q} 2>&1"


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
        adapters=lambda wc: (
            f"--adapter_sequence {config['qc']['fastp']['adapter_r1']}"
            if config["qc"]["fastp"]["adapter_r1"]
            else ""
        ),
        extra=config["qc"]["fastp"]["extra"],
    shell:
        "fastp --in1 {input.r1:q} --out1 {output.r1:q}"
        " --json {output.json:q} --html {output.html:q} --report_title {wildcards.sample}"
        " --thread {threads} --length_required {params.min_length}"
        " --cut_tail --cut_tail_mean_quality {params.cut_tail_quality}"
        " {params.adapters} {params.extra} > {log:q} 2>&1"


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
    # keep a pair only when neither mate aligns to the host (samtools fastq -f 12 -F 256)
    shell:
        "(set -o pipefail; bowtie2 -p {threads} -x {params.index:q} -1 {input.r1:q} -2 {input.r2:q}"
        " {params.extra} 2> {output.bowtie2_log:q}"
        " | samtools fastq -f 12 -F 256 -c 6 -1 {output.r1:q} -2 {output.r2:q}"
        " -0 /dev/null -s /dev/null -) > {log:q} 2>&1"


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
    shell:
        "(set -o pipefail; bowtie2 -p {threads} -x {params.index:q} -U {input.r1:q}"
        " {params.extra} 2> {output.bowtie2_log:q}"
        " | samtools fastq -f 4 -F 256 -c 6 -0 {output.r1:q} -) > {log:q} 2>&1"


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
