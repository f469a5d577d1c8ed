# The 16S amplicon path (samples with assay 16S): primers -> ASVs -> SINTAX -> standard tables.
# Outputs: results/amplicon/ (cutadapt JSON reports, filtered reads, asvs.fa, asv_table.tsv and
# .biom, sintax.tsv, read_tracking.tsv) and results/taxonomy/amplicon/{abundance,counts}_<rank>.tsv,
# the profiler 'amplicon' that every downstream stage reads like a shotgun profiler.
include: "functions/amplicon.smk"


AMP = config["amplicon"]


rule amplicon_cutadapt:
    input:
        reads=get_raw_reads,
    output:
        reads=temp(
            expand(
                "results/amplicon/trimmed/{{sample}}_{read}.fastq.gz",
                read=AMPLICON_READS,
            )
        ),
        json="results/amplicon/cutadapt/{sample}.cutadapt.json",
    log:
        "logs/amplicon_cutadapt/{sample}.log",
    benchmark:
        "benchmarks/amplicon_cutadapt/{sample}.tsv"
    wildcard_constraints:
        sample=_alternatives(AMPLICON),
    conda:
        "../envs/cutadapt.yaml"
    params:
        forward_primer=AMP["primers"]["forward"],
        reverse_primer=AMP["primers"]["reverse"],
        discard_untrimmed=AMP["primers"]["discard_untrimmed"],
        error_rate=AMP["primers"]["error_rate"],
        min_length=AMP["primers"]["min_length"],
    script:
        "../scripts/amplicon_cutadapt.py"


if AMP["denoiser"] == "vsearch":

    rule amplicon_merge_filter:
        input:
            reads=expand(
                "results/amplicon/trimmed/{{sample}}_{read}.fastq.gz",
                read=AMPLICON_READS,
            ),
        output:
            fasta="results/amplicon/filtered/{sample}.fasta",
            # vsearch's messages, parsed for the read tracking: [merge, filter] or [filter]
            step_logs=expand(
                "results/amplicon/filtered/{{sample}}.{step}.log",
                step=(["merge"] if len(AMPLICON_READS) == 2 else []) + ["filter"],
            ),
        log:
            "logs/amplicon_merge_filter/{sample}.log",
        benchmark:
            "benchmarks/amplicon_merge_filter/{sample}.tsv"
        wildcard_constraints:
            sample=_alternatives(AMPLICON),
        conda:
            "../envs/vsearch.yaml"
        params:
            min_overlap=AMP["vsearch"]["merge_min_overlap"],
            max_diffs=AMP["vsearch"]["merge_max_diffs"],
            max_ee=AMP["vsearch"]["max_ee"],
            min_len=AMP["vsearch"]["min_length"],
            max_len=AMP["vsearch"]["max_length"],
            trunc_len=AMP["vsearch"]["trunc_length"],
        script:
            "../scripts/amplicon_merge_filter.py"

    rule amplicon_vsearch_denoise:
        input:
            filtered=expand("results/amplicon/filtered/{sample}.fasta", sample=AMPLICON),
        output:
            asvs="results/amplicon/asvs.fa",
            table="results/amplicon/asv_table.tsv",
        log:
            "logs/amplicon_vsearch_denoise/all.log",
        benchmark:
            "benchmarks/amplicon_vsearch_denoise/all.tsv"
        conda:
            "../envs/vsearch.yaml"
        threads: 2
        params:
            samples=AMPLICON,
            min_size=AMP["vsearch"]["unoise_minsize"],
            alpha=AMP["vsearch"]["unoise_alpha"],
            abskew=AMP["vsearch"]["uchime_abskew"],
            identity=AMP["vsearch"]["identity"],
        script:
            "../scripts/amplicon_vsearch_denoise.py"

else:

    rule amplicon_dada2:
        input:
            unpack(get_amplicon_trimmed),
        output:
            asvs="results/amplicon/asvs.fa",
            table="results/amplicon/asv_table.tsv",
            tracking="results/amplicon/dada2_tracking.tsv",
        log:
            python="logs/amplicon_dada2/all.log",
            r="logs/amplicon_dada2/dada2_R.log",
        benchmark:
            "benchmarks/amplicon_dada2/all.tsv"
        conda:
            "../envs/dada2.yaml"
        threads: 2
        params:
            samples=AMPLICON,
            trunc_len=AMP["dada2"]["trunc_len"],
            max_ee=AMP["dada2"]["max_ee"],
            trunc_q=AMP["dada2"]["trunc_q"],
            min_len=AMP["dada2"]["min_length"],
            min_overlap=AMP["dada2"]["min_overlap"],
            max_mismatch=AMP["dada2"]["max_mismatch"],
            pool=AMP["dada2"]["pool"],
            chimera_method=AMP["dada2"]["chimera_method"],
            seed=AMP["dada2"]["seed"],
        script:
            "../scripts/amplicon_dada2.py"


rule amplicon_sintax:
    input:
        asvs="results/amplicon/asvs.fa",
        reference=AMP["sintax"]["reference"],
    output:
        "results/amplicon/sintax.tsv",
    log:
        "logs/amplicon_sintax/all.log",
    benchmark:
        "benchmarks/amplicon_sintax/all.tsv"
    conda:
        "../envs/vsearch.yaml"
    params:
        cutoff=AMP["sintax"]["cutoff"],
    script:
        "../scripts/amplicon_sintax.py"


# the standard tables of profiler 'amplicon' come from here, not from merge_profiles
ruleorder: amplicon_tables > merge_profiles


rule amplicon_tables:
    input:
        table="results/amplicon/asv_table.tsv",
        sintax="results/amplicon/sintax.tsv",
    output:
        abundance=expand("results/taxonomy/amplicon/abundance_{rank}.tsv", rank=RANKS),
        counts=expand("results/taxonomy/amplicon/counts_{rank}.tsv", rank=RANKS),
        biom="results/amplicon/asv_table.biom",
    log:
        "logs/amplicon_tables/all.log",
    benchmark:
        "benchmarks/amplicon_tables/all.tsv"
    conda:
        "../envs/pylib.yaml"
    params:
        out_dir=lambda w, output: str(Path(output.abundance[0]).parent),
        ranks=RANKS,
        cutoff=AMP["sintax"]["cutoff"],
    script:
        "../scripts/amplicon_tables.py"


rule amplicon_report_content:
    input:
        unpack(get_amplicon_tracking_inputs),
        table="results/amplicon/asv_table.tsv",
        sintax="results/amplicon/sintax.tsv",
        abundance=f"results/taxonomy/amplicon/abundance_{config['report']['rank']}.tsv",
    output:
        tracking="results/amplicon/read_tracking.tsv",
        tracking_mqc="results/report/custom/amplicon_read_tracking_mqc.tsv",
        composition="results/report/custom/amplicon_composition_mqc.tsv",
    log:
        "logs/amplicon_report_content/all.log",
    localrule: True
    conda:
        "../envs/pylib.yaml"
    params:
        samples=AMPLICON,
        cutoff=AMP["sintax"]["cutoff"],
        assigned_rank=AMP["sintax"]["assigned_rank"],
        top_n=config["report"]["top_n_taxa"],
        rank=config["report"]["rank"],
    script:
        "../scripts/amplicon_report_content.py"


if AMPLICON:
    TARGETS.extend(
        [rules.amplicon_sintax.input.asvs, rules.amplicon_tables.output.biom]
    )
    # cutadapt JSONs for MultiQC's native module, then the custom content
    REPORT.extend(expand(rules.amplicon_cutadapt.output.json, sample=AMPLICON))
    REPORT.extend(
        [
            rules.amplicon_report_content.output.tracking_mqc,
            rules.amplicon_report_content.output.composition,
        ]
    )
