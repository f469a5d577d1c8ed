# Input functions of rules/humann.smk (Snakemake's lint keeps functions and rules in
# separate files; this is part of the stage's home, included by its rules file).


def get_humann_profile(wildcards):
    # MetaPhlAn profile of the sample for humann --taxonomic-profile; none: --bypass-prescreen
    pattern = config["humann"]["taxonomic_profile"]
    return pattern.format(sample=wildcards.sample) if pattern else []
