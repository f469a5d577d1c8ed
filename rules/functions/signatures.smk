# Input functions of rules/signatures.smk (Snakemake's lint keeps functions and rules in
# separate files; this is part of the stage's home, included by its rules file).


def get_signatures_extra(wildcards):
    # optional extra per-sample features {name: table}: the guild balance and TOPOSCORE only
    # when those stages run on the same profiler (config.get: the sections may be absent)
    sig, prof = config["signatures"], wildcards.profiler
    extra = {}
    if sig["use_guilds"] and config.get("networks", {}).get("activate"):
        if NETWORK_PROFILER == prof:
            extra["guilds"] = f"results/guilds/{prof}/guild_scores.tsv"
    if sig["use_toposcore"] and config.get("toposcore", {}).get("activate"):
        if TOPOSCORE_PROFILER == prof:
            extra["toposcore"] = f"results/signatures/{prof}/toposcore.tsv"
    if sig.get("use_functions") and FUNCTION_PANEL:
        extra["functions"] = "results/functions/panel/features.tsv"
    for path in sig["extra_features"]:
        extra[f"file_{Path(path).stem}"] = path
    return extra


def get_signatures_extra_files(wildcards):
    return list(get_signatures_extra(wildcards).values())
