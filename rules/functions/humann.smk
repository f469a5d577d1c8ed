# Input functions of rules/humann.smk (Snakemake's lint keeps functions and rules in
# separate files; this is part of the stage's home, included by its rules file).


def get_humann_profile(wildcards):
    # MetaPhlAn profile of the sample for humann --taxonomic-profile; none: --bypass-prescreen
    pattern = config["humann"]["taxonomic_profile"]
    return pattern.format(sample=wildcards.sample) if pattern else []


def get_humann_tables(kind):
    # per-sample HUMAnN tables of one kind for the samples that passed the sample gate
    def _tables(wildcards):
        return expand(
            "results/functions/humann/{sample}/{sample}_{kind}.tsv",
            sample=get_gated_samples(),
            kind=kind,
        )

    return _tables
