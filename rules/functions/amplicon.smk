# Input functions of rules/amplicon.smk (Snakemake's lint keeps functions and rules in
# separate files; this is part of the stage's home, included by its rules file).


def get_amplicon_trimmed(wildcards):
    # primer-trimmed reads of every 16S sample, one list per mate (R2 empty for single-end)
    return {
        mate: expand(
            "results/amplicon/trimmed/{sample}_{read}.fastq.gz",
            sample=AMPLICON,
            read=read,
        )
        for mate, read in zip(["r1", "r2"], [AMPLICON_READS[0], AMPLICON_READS[1:]])
    }


def get_amplicon_tracking_inputs(wildcards):
    # the per-step counts of the 16S read tracking: cutadapt JSONs, vsearch logs or DADA2's table
    vsearch = config["amplicon"]["denoiser"] == "vsearch"
    steps = (["merge"] if len(AMPLICON_READS) == 2 else []) + ["filter"]
    return {
        "cutadapt": expand(
            "results/amplicon/cutadapt/{sample}.cutadapt.json", sample=AMPLICON
        ),
        "step_logs": (
            expand(
                "results/amplicon/filtered/{sample}.{step}.log",
                sample=AMPLICON,
                step=steps,
            )
            if vsearch
            else []
        ),
        "dada2": [] if vsearch else ["results/amplicon/dada2_tracking.tsv"],
    }
