# Input functions of rules/networks.smk (Snakemake's lint keeps functions and rules in
# separate files; this is part of the stage's home, included by its rules file).


def get_guild_annotation(wildcards):
    # the optional user list and function table of rule build_guilds (a change re-runs it)
    guilds = config["guilds"]
    return [p for p in (guilds["annotation"], guilds["functions"]) if p]
