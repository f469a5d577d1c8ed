# Response signatures: per-cohort differential abundance R vs NR, random-effects meta-analysis,
# leave-one-cohort-out prediction, survival by score and a frozen model, from one profiler's
# standard abundance table (optionally with the guild balance and TOPOSCORE as extra features).
# Logic: workflow/icibiome/signatures/stage.py (differential, meta, predict, survival).


include: "functions/signatures.smk"


rule signatures:
    input:
        abundance=f"results/taxonomy/{{profiler}}/abundance_{SIGNATURES_RANK}.tsv",
        samples=config["samples"],
        extra=get_signatures_extra_files,
        # the balance's marker ranks: species, genus and family (those the run has)
        balance=expand(
            "results/taxonomy/{{profiler}}/abundance_{rank}.tsv",
            rank=(
                [r for r in ("species", "genus", "family") if r in RANKS]
                if config["signatures"]["balance"]
                else []
            ),
        ),
    output:
        differential="results/signatures/{profiler}/differential.tsv",
        meta=report(
            "results/signatures/{profiler}/meta_analysis.tsv",
            caption="../workflow/report/signatures.rst",
            category="Response signatures",
            labels={"profiler": "{profiler}", "result": "meta-analysis"},
        ),
        forest="results/signatures/{profiler}/forest.tsv",
        loco_auc="results/signatures/{profiler}/loco_auc.tsv",
        loco_predictions="results/signatures/{profiler}/loco_predictions.tsv",
        within="results/signatures/{profiler}/within_cohort_auc.tsv",
        survival="results/signatures/{profiler}/survival.tsv",
        km="results/signatures/{profiler}/km.tsv",
        model="results/signatures/{profiler}/model.pkl",
        model_card="results/signatures/{profiler}/model.yaml",
        figure="results/signatures/{profiler}/signatures.png",
        balance_markers="results/signatures/{profiler}/balance_markers.tsv",
        balance_model="results/signatures/{profiler}/balance_model.yaml",
        mqc=multiext(
            "results/signatures/{profiler}/signatures_",
            "meta_mqc.tsv",
            "loco_mqc.tsv",
            "within_mqc.tsv",
            "roc_mqc.yaml",
            "km_mqc.yaml",
            "figure_mqc.html",
        ),
    log:
        "logs/signatures/{profiler}.log",
    benchmark:
        "benchmarks/signatures/{profiler}.tsv"
    conda:
        "../envs/pylib.yaml"
    threads: config["signatures"]["threads"]
    params:
        out_dir="results/signatures/{profiler}",
        extra_tsvs=get_signatures_extra,
        # the signatures section less the keys read here, as typed settings in the script
        # (icibiome.signatures.settings.SignatureSettings)
        settings={
            k: v
            for k, v in sorted(config["signatures"].items())
            if k
            not in (
                "activate",
                "profiler",
                "rank",
                "use_guilds",
                "use_toposcore",
                "use_functions",
                "extra_features",
                "frozen_model",
            )
        },
        label=lambda wc: f"{wc.profiler}, {SIGNATURES_RANK}",
        rank=SIGNATURES_RANK,
        # the report's published reference sentence (icibiome.signatures.references)
        cancer_type=config.get("toposcore", {}).get("cancer_type"),
    script:
        "../scripts/signatures.py"


# A frozen model of an earlier run (signatures.frozen_model) applied to this run's table without
# retraining; refuses when profiler, rank or feature naming differ from the model's.
rule apply_frozen_model:
    input:
        model=config["signatures"]["frozen_model"] or [],
        abundance=f"results/taxonomy/{{profiler}}/abundance_{SIGNATURES_RANK}.tsv",
        samples=config["samples"],
        extra=get_signatures_extra_files,
    output:
        predictions="results/signatures/{profiler}/frozen_predictions.tsv",
        auc="results/signatures/{profiler}/frozen_auc.tsv",
    log:
        "logs/apply_frozen_model/{profiler}.log",
    benchmark:
        "benchmarks/apply_frozen_model/{profiler}.tsv"
    conda:
        "../envs/pylib.yaml"
    params:
        extra_tsvs=get_signatures_extra,
        rank=SIGNATURES_RANK,
    script:
        "../scripts/apply_frozen_model.py"


if SIGNATURES:
    TARGETS.extend(
        expand(
            [
                rules.signatures.output.meta,
                rules.signatures.output.loco_auc,
                rules.signatures.output.survival,
            ],
            profiler=SIGNATURES_PROFILER,
        )
    )
    REPORT.extend(expand(rules.signatures.output.mqc, profiler=SIGNATURES_PROFILER))
if FROZEN_MODEL:
    TARGETS.extend(
        expand(
            rules.apply_frozen_model.output.predictions, profiler=SIGNATURES_PROFILER
        )
    )
