# Co-abundance network (SparCC / proportionality / Spearman, stable edges across groups) and the
# two competing guilds with per-sample guild scores, from one profiler's standard tables.
# Logic: workflow/icibiome/ecology/correlation.py, network.py, guilds.py (with treecut.py and
# guild_report.py).


include: "functions/networks.smk"


rule build_network:
    input:
        abundance=f"results/taxonomy/{{profiler}}/abundance_{config['networks']['rank']}.tsv",
        counts=counts_table(config["networks"]["rank"]),
        samples=config["samples"],
    output:
        edges=report(
            "results/networks/{profiler}/edges.tsv",
            caption="../workflow/report/networks_edges.rst",
            category="Networks and guilds",
            labels={"profiler": "{profiler}", "result": "network edges"},
        ),
        nodes="results/networks/{profiler}/nodes.tsv",
        graphml="results/networks/{profiler}/graph.graphml",
    log:
        "logs/build_network/{profiler}.log",
    benchmark:
        "benchmarks/build_network/{profiler}.tsv"
    conda:
        "../envs/pylib.yaml"
    threads: 2
    params:
        out_dir="results/networks/{profiler}",
        # the networks section, as typed settings in the script
        # (icibiome.ecology.settings.NetworkSettings; sorted: the params, and so reruns, do not
        # depend on the order of keys in the config)
        settings={
            k: v
            for k, v in sorted(config["networks"].items())
            if k not in ("activate", "profiler", "rank")
        },
    script:
        "../scripts/build_network.py"


rule build_guilds:
    input:
        edges="results/networks/{profiler}/edges.tsv",
        nodes="results/networks/{profiler}/nodes.tsv",
        abundance=f"results/taxonomy/{{profiler}}/abundance_{config['networks']['rank']}.tsv",
        samples=config["samples"],
        annotation=get_guild_annotation,
    output:
        guilds=report(
            "results/guilds/{profiler}/guilds.tsv",
            caption="../workflow/report/guilds_membership.rst",
            category="Networks and guilds",
            labels={"profiler": "{profiler}", "result": "guild membership"},
        ),
        scores=report(
            "results/guilds/{profiler}/guild_scores.tsv",
            caption="../workflow/report/guilds_scores.rst",
            category="Networks and guilds",
            labels={"profiler": "{profiler}", "result": "guild scores"},
        ),
        pairs="results/guilds/{profiler}/guild_pairs.tsv",
        nodes="results/guilds/{profiler}/nodes.tsv",
        figure=report(
            "results/guilds/{profiler}/network.png",
            caption="../workflow/report/guilds_network.rst",
            category="Networks and guilds",
            labels={"profiler": "{profiler}", "result": "network figure"},
        ),
        mqc=multiext(
            "results/guilds/{profiler}/guilds_",
            "membership_mqc.tsv",
            "scores_mqc.yaml",
            "network_mqc.html",
        ),
    log:
        "logs/build_guilds/{profiler}.log",
    benchmark:
        "benchmarks/build_guilds/{profiler}.tsv"
    conda:
        "../envs/pylib.yaml"
    params:
        out_dir="results/guilds/{profiler}",
        method=config["guilds"]["method"],
        min_cluster_size=config["guilds"]["min_module_size"],
        deep_split=config["guilds"]["deep_split"],
        component=config["guilds"]["component"],
        annotation=config["guilds"]["annotation"],
        functions=config["guilds"]["functions"],
        seed=config["guilds"]["seed"],
        label=lambda wc: f"{wc.profiler}, {config['networks']['rank']}",
    script:
        "../scripts/build_guilds.py"


if NETWORKS:
    TARGETS.extend(
        expand(
            [
                rules.build_network.output.edges,
                rules.build_guilds.output.guilds,
                rules.build_guilds.output.scores,
            ],
            profiler=NETWORK_PROFILER,
        )
    )
    REPORT.extend(expand(rules.build_guilds.output.mqc, profiler=NETWORK_PROFILER))
