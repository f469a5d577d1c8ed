# Input functions of rules/engraftment.smk (Snakemake's lint keeps functions and rules in
# separate files; this is part of the stage's home, included by its rules file).


def get_longitudinal_scores(wildcards):
    scores = {}
    if DIVERSITY:
        scores["alpha"] = f"results/diversity/{PROFILERS[0]}/alpha.tsv"
    if NETWORKS:
        scores["guilds"] = f"results/guilds/{NETWORK_PROFILER}/guild_scores.tsv"
    if TOPOSCORE:
        scores["toposcore"] = f"results/signatures/{TOPOSCORE_PROFILER}/toposcore.tsv"
    return scores
