# Validation of config and sample sheet, wildcard constraints and input functions.
# Logic beyond one-liners lives in workflow/icibiome (icibiome.config, icibiome.reads.qc).
import sys
from pathlib import Path

# the repository root, from this file: also right when the workflow is used as a module (where
# workflow.basedir is the importing workflow's folder)
ICIBIOME_DIR = Path(str(workflow.current_basedir)).parent
sys.path.insert(0, str(ICIBIOME_DIR / "workflow"))

from snakemake.utils import validate

from icibiome.errors import UserError

# registries: a stage's rules file appends its final outputs (TARGETS) and its MultiQC custom
# content (REPORT) from its own rules (rules.<name>.output.<key>), so each file name is written once
TARGETS = []
REPORT = []

from icibiome.config import check_config, plan_run
from icibiome.reads.qc import passed_samples
from icibiome.resources import db_mem_mb


def checked(check, *args, **kwargs):
    # the one place where a user error (icibiome.errors.UserError: sheet, config, import,
    # databases) becomes Snakemake's one-message stop before any job, without a traceback
    try:
        return check(*args, **kwargs)
    except UserError as err:
        raise WorkflowError(str(err)) from None


checked(check_config, config)  # one short line per problem (typos get a suggestion)
validate(config, schema="../workflow/schemas/config.schema.yaml")  # fills in defaults
# the sheet, the import plan, the cross-key checks and the run's flags (icibiome.config); the
# database manifest is checked in the main Snakemake process only (not again in cluster jobs)
PLAN = checked(
    plan_run,
    config,
    verify_manifest=workflow.is_main_process,
    manifest_cache=".snakemake/icibiome/database_sha256.json",
)
SAMPLES, IMPORT, IMPORT_PLAN = PLAN.samples, PLAN.import_mode, PLAN.import_plan
SHOTGUN, PAIRED, SINGLE, HOST = PLAN.shotgun, PLAN.paired, PLAN.single, PLAN.host
PROFILERS, SHOTGUN_PROFILERS, RANKS = PLAN.profilers, PLAN.shotgun_profilers, PLAN.ranks
REPORT_PROFILER, DB_CHECK = PLAN.report_profiler, PLAN.databases
# 16S samples go through rules/amplicon.smk into the profiler 'amplicon'; shotgun profilers see
# only shotgun samples, so a mixed sheet gives separate tables per assay
AMPLICON, AMPLICON_READS = PLAN.amplicon, PLAN.amplicon_reads
DIVERSITY, NETWORKS, NETWORK_PROFILER = (
    PLAN.diversity,
    PLAN.networks,
    PLAN.network_profiler,
)
TOPOSCORE, TOPOSCORE_GUILDS = PLAN.toposcore, PLAN.toposcore_guilds
TOPOSCORE_PROFILER, TOPOSCORE_RANK = PLAN.toposcore_profiler, PLAN.toposcore_rank
SIGNATURES, SIGNATURES_PROFILER = PLAN.signatures, PLAN.signatures_profiler
SIGNATURES_RANK, FROZEN_MODEL = PLAN.signatures_rank, PLAN.frozen_model
# function panels (rules/functions.smk) and HUMAnN (rules/humann.smk): shotgun reads only
FUNCTION_PANEL, HUMANN = PLAN.function_panel, PLAN.humann


def _alternatives(ids):
    # a regex matching exactly these ids; ids are restricted to [A-Za-z0-9_-] by the schema
    return "|".join(ids) if ids else "$^"


wildcard_constraints:
    sample=_alternatives(sorted(SHOTGUN.index)),
    profiler="|".join(PROFILERS),
    rank="|".join(RANKS),


def get_raw_reads(wildcards):
    row = SAMPLES.loc[wildcards.sample]
    return [row["fq1"], row["fq2"]] if row["fq2"] else [row["fq1"]]


def _layout_suffixes(sample):
    return ["R1", "R2"] if sample in PAIRED else ["SE"]


def get_trimmed_reads(wildcards):
    return expand(
        "results/qc/fastp/{sample}_{read}.fastq.gz",
        sample=wildcards.sample,
        read=_layout_suffixes(wildcards.sample),
    )


def get_clean_reads(wildcards):
    if not HOST:
        return get_trimmed_reads(wildcards)
    return expand(
        "results/qc/host/{sample}_{read}.fastq.gz",
        sample=wildcards.sample,
        read=_layout_suffixes(wildcards.sample),
    )


def get_passed_samples(wildcards=None):
    # samples that passed the read checks (checkpoint check_reads_all); with on_bad_sample=stop
    # the checkpoint has already stopped the run when any sample failed
    table = checkpoints.select_samples.get().output.table
    return passed_samples(table)


def get_read_stats(wildcards):
    return expand("results/qc/stats/{sample}.json", sample=get_passed_samples())


def get_gated_samples(wildcards=None):
    # THE helper of every per-sample stage after QC: samples that passed both the raw-read check
    # and the post-QC read count (checkpoint sample_gate, results/qc/sample_gate.tsv)
    return passed_samples(checkpoints.sample_gate.get().output.table)


def get_profiles(wildcards):
    return expand(
        "results/taxonomy/{profiler}/profiles/{sample}.tsv",
        profiler=wildcards.profiler,
        sample=get_gated_samples(),
    )


def counts_table(rank):
    # counts_<rank>.tsv of a profiler; none for imported relative abundances (no read counts)
    if IMPORT and not IMPORT_PLAN.has_counts:
        return []
    return f"results/taxonomy/{{profiler}}/counts_{rank}.tsv"


def get_final_output():
    # the run's final files: the report, provenance, the standard tables, and what each stage
    # registered in TARGETS (its rules file, from its own rules' outputs)
    return [
        *TARGETS,
        *expand(
            "results/taxonomy/{profiler}/abundance_{rank}.tsv",
            profiler=PROFILERS,
            rank=RANKS,
        ),
    ]
