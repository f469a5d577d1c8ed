# TOPOSCORE (Derosa et al. 2024): SIG1/SIG2 presence counts, score, category, Akkermansia rule and
# predicted response per sample, from one profiler's standard abundance table; Cox HR and
# Kaplan-Meier of OS/PFS by predicted class and category; the cut-offs used (published, or
# fitted on training cohorts / reused from a stored calibration file) in toposcore_calibration.yaml.
# Logic: workflow/icibiome/signatures/toposcore*.py (score, discovery, endpoints, stage).


include: "functions/toposcore.smk"


rule toposcore:
    input:
        abundance=f"results/taxonomy/{{profiler}}/abundance_{TOPOSCORE_RANK}.tsv",
        samples=config["samples"],
        lists=get_toposcore_lists,
        calibration=config["toposcore"].get("calibration") or [],
    output:
        scores=report(
            "results/signatures/{profiler}/toposcore.tsv",
            caption="../workflow/report/toposcore.rst",
            category="Response signatures",
            labels={"profiler": "{profiler}", "result": "TOPOSCORE"},
        ),
        members="results/signatures/{profiler}/toposcore_members.tsv",
        survival="results/signatures/{profiler}/toposcore_survival.tsv",
        km="results/signatures/{profiler}/toposcore_km.tsv",
        calibration="results/signatures/{profiler}/toposcore_calibration.yaml",
        mqc=multiext(
            "results/signatures/{profiler}/toposcore_",
            "table_mqc.tsv",
            "scores_mqc.yaml",
            "survival_mqc.tsv",
            "km_mqc.yaml",
            "warnings_mqc.tsv",
        ),
    log:
        "logs/toposcore/{profiler}.log",
    benchmark:
        "benchmarks/toposcore/{profiler}.tsv"
    conda:
        "../envs/pylib.yaml"
    params:
        out_dir="results/signatures/{profiler}",
        guilds=lambda wc: (
            f"results/guilds/{wc.profiler}/guilds.tsv" if TOPOSCORE_GUILDS else None
        ),
        # the toposcore section, as typed settings in the script
        # (icibiome.signatures.settings.ToposcoreSettings)
        settings={
            k: v
            for k, v in sorted(config["toposcore"].items())
            if k not in ("activate", "profiler", "rank")
        },
        label=lambda wc: f"{wc.profiler}, {TOPOSCORE_RANK}",
    script:
        "../scripts/toposcore.py"


if TOPOSCORE:
    TARGETS.extend(expand(rules.toposcore.output.scores, profiler=TOPOSCORE_PROFILER))
    REPORT.extend(expand(rules.toposcore.output.mqc, profiler=TOPOSCORE_PROFILER))
