# Input functions of rules/functions.smk (Snakemake's lint keeps functions and rules in
# separate files; this is part of the stage's home, included by its rules file).


def get_function_hits(wildcards):
    # DIAMOND hits of the samples that passed the sample gate (shotgun only)
    return expand(
        "results/functions/panel/hits/{sample}.tsv", sample=get_gated_samples()
    )
