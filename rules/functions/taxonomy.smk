# Input functions of rules/taxonomy.smk (Snakemake's lint keeps functions and rules in
# separate files; this is part of the stage's home, included by its rules file).


def get_kmer_distribution(wildcards):
    k2 = config["taxonomy"]["kraken2"]
    if k2["kmer_distribution"]:
        return k2["kmer_distribution"]
    if k2["library"]:
        return f"results/taxonomy/kraken2/database{k2['read_length']}mers.kmer_distrib"
    return []  # no library: raw Kraken2 counts, no re-estimation
