# Input functions of rules/toposcore.smk (Snakemake's lint keeps functions and rules in
# separate files; this is part of the stage's home, included by its rules file).


def get_toposcore_lists(wildcards):
    # the SIG list files (or the guild table they come from) and the optional name map
    tp = config["toposcore"]
    lists = (
        [f"results/guilds/{wildcards.profiler}/guilds.tsv"]
        if TOPOSCORE_GUILDS
        else [tp["sig1"], tp["sig2"]]
    )
    return lists + ([tp["name_map"]] if tp["name_map"] else [])
