# Validation of config and sample sheet, wildcard constraints and input functions.
# Logic beyond one-liners lives in workflow/icibiome (icibiome.samplesheet, icibiome.qc).
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

from icibiome.samplesheet import (
    check_config,
    check_design,
    check_resources,
    read_sample_sheet,
)
from icibiome.qc import BadReadsError, check_read_compression, passed_samples
from icibiome.amplicon import check_assays
from icibiome.import_mode import plan_import
from icibiome.databases import verify_databases
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
IMPORT = config["import"]["activate"]  # import mode: existing profiles, no reads
# rank leaf (t__: MAGs, OGUs, SGBs) exists only in tables imported with import.leaf: keep
LEAF_KEPT = IMPORT and config["import"]["leaf"] == "keep"
if "leaf" in config["taxonomy"]["ranks"] and not LEAF_KEPT:
    raise WorkflowError(
        "taxonomy.ranks: rank 'leaf' needs import mode with import.leaf: keep"
        " (the read-based profilers write species and above)"
    )
if not IMPORT:  # every database the run will use exists and is readable
    checked(check_resources, config)
SAMPLES = checked(read_sample_sheet, config["samples"], reads=not IMPORT)

IMPORT_PLAN = None
# import mode: the profiles parse and match the sheet (icibiome.import_mode), before any job
if IMPORT:
    IMPORT_PLAN = checked(
        plan_import,
        config["import"]["profiles"],
        list(SAMPLES.index),
        fmt=config["import"]["format"],
        values=config["import"]["values"],
        name_map=config["import"]["name_map"],
        lineages=config["import"]["lineages"],
        taxonomy=config["import"]["taxonomy"],
        on_mismatch=config["import"]["on_mismatch"],
        ranks=config["taxonomy"]["ranks"],
        missing=config["import"]["missing"],
        leaf=config["import"]["leaf"],
    )

SHOTGUN = SAMPLES[SAMPLES["assay"] == "shotgun"]
# read files: gzip exactly when named .gz (fastp and bowtie2 judge by name), before any job
if not IMPORT:
    try:
        check_read_compression(SAMPLES, config["samples"])
    except BadReadsError as err:
        raise WorkflowError(str(err)) from None
PAIRED = sorted(SHOTGUN.index[SHOTGUN["layout"] == "paired"])
SINGLE = sorted(SHOTGUN.index[SHOTGUN["layout"] == "single"])
HOST = config["host_removal"]["activate"]
PROFILERS = (
    [config["import"]["profiler"]] if IMPORT else config["taxonomy"]["profilers"]
)
# 16S samples go through rules/amplicon.smk into the profiler 'amplicon'; shotgun profilers see
# only shotgun samples, so a mixed sheet gives separate tables per assay (icibiome.amplicon)
AMPLICON = sorted(SAMPLES.index[SAMPLES["assay"] == "16S"])
AMPLICON_READS = (
    ["R1", "R2"]
    if AMPLICON and SAMPLES.loc[AMPLICON[0], "layout"] == "paired"
    else ["SE"]
)
SHOTGUN_PROFILERS = [p for p in PROFILERS if p != "amplicon"]
# profiler of the shotgun read tracking and composition sections
REPORT_PROFILER = (SHOTGUN_PROFILERS or PROFILERS)[0]
_assay_problems = (
    [] if IMPORT else check_assays(SAMPLES["assay"], SAMPLES["layout"], PROFILERS)
)
if _assay_problems:
    raise WorkflowError(
        "sample sheet and taxonomy.profilers disagree:\n  - "
        + "\n  - ".join(_assay_problems)
    )
# the database manifest (databases.manifest): the databases of the tools this run uses are
# checked before any job (path, sha256, tool version) and recorded by rule run_info; only in the
# main Snakemake process (a cluster job re-reading the workflow does not hash them again)
DB_TOOLS = (
    (SHOTGUN_PROFILERS + (["bowtie2"] if HOST else [])) if len(SHOTGUN) else []
) + (["vsearch"] if AMPLICON else [])
DB_CHECK = []
if config["databases"]["manifest"] and workflow.is_main_process:
    DB_CHECK = checked(
        verify_databases,
        config["databases"]["manifest"],
        tools=DB_TOOLS,
        check_sha256=config["databases"]["sha256"],
        # digests of unchanged databases (same sizes and mtimes) are not computed again
        cache=".snakemake/icibiome/database_sha256.json",
        config=config,  # the check is of the databases the config names
    ).to_dict("records")
RANKS = config["taxonomy"]["ranks"]
if LEAF_KEPT and "leaf" not in RANKS:
    RANKS = [*RANKS, "leaf"]
DIVERSITY = config["diversity"]["activate"]
NETWORKS = config["networks"]["activate"]
NETWORK_PROFILER = config["networks"]["profiler"] or PROFILERS[0]
if NETWORKS and NETWORK_PROFILER not in PROFILERS:
    raise WorkflowError(
        f"networks.profiler {NETWORK_PROFILER!r} is not one of taxonomy.profilers {PROFILERS}"
    )
if NETWORKS and config["networks"]["rank"] not in RANKS:
    raise WorkflowError(
        f"networks.rank {config['networks']['rank']!r} is not one of taxonomy.ranks {RANKS}"
    )
TOPOSCORE = config["toposcore"]["activate"]
TOPOSCORE_GUILDS = not (config["toposcore"]["sig1"] or config["toposcore"]["sig2"])
TOPOSCORE_PROFILER = config["toposcore"]["profiler"] or NETWORK_PROFILER
TOPOSCORE_RANK = config["toposcore"]["rank"] or (
    config["networks"]["rank"] if TOPOSCORE_GUILDS else "species"
)
if TOPOSCORE and not (config["toposcore"]["sig1"] and config["toposcore"]["sig2"]):
    if not TOPOSCORE_GUILDS:
        raise WorkflowError(
            "toposcore: give both sig1 and sig2, or neither (guild lists)"
        )
    if not NETWORKS or TOPOSCORE_PROFILER != NETWORK_PROFILER:
        raise WorkflowError(
            "toposcore: without sig1/sig2 files the lists come from the guilds, which need "
            f"networks.activate and toposcore.profiler = networks.profiler ({NETWORK_PROFILER})"
        )
if TOPOSCORE and TOPOSCORE_PROFILER not in PROFILERS:
    raise WorkflowError(
        f"toposcore.profiler {TOPOSCORE_PROFILER!r} is not one of taxonomy.profilers {PROFILERS}"
    )
if TOPOSCORE and TOPOSCORE_RANK not in RANKS:
    raise WorkflowError(
        f"toposcore rank {TOPOSCORE_RANK!r} is not one of taxonomy.ranks {RANKS}"
    )
if TOPOSCORE:  # sheet-dependent toposcore settings, before any job (icibiome.toposcore)
    from icibiome.toposcore import check_settings

    checked(
        check_settings,
        config["samples"],
        akkermansia_column=config["toposcore"]["akkermansia_column"],
        calibration=config["toposcore"]["calibration"],
        calibration_cohorts=config["toposcore"]["calibration_cohorts"],
    )
SIGNATURES = config["signatures"]["activate"]
SIGNATURES_PROFILER = config["signatures"]["profiler"] or PROFILERS[0]
SIGNATURES_RANK = config["signatures"]["rank"]
FROZEN_MODEL = config["signatures"]["frozen_model"]
if (SIGNATURES or FROZEN_MODEL) and SIGNATURES_PROFILER not in PROFILERS:
    raise WorkflowError(
        f"signatures.profiler {SIGNATURES_PROFILER!r} is not one of taxonomy.profilers {PROFILERS}"
    )
if (SIGNATURES or FROZEN_MODEL) and SIGNATURES_RANK not in RANKS:
    raise WorkflowError(
        f"signatures.rank {SIGNATURES_RANK!r} is not one of taxonomy.ranks {RANKS}"
    )
if FROZEN_MODEL and not Path(FROZEN_MODEL).is_file():
    raise WorkflowError(
        f"signatures.frozen_model: {FROZEN_MODEL} does not exist or is not a file"
    )
# stages the sheet is too small for (diversity, networks, signatures): key and counts
checked(
    check_design,
    {
        **config,
        "networks": {**config["networks"], "profiler": NETWORK_PROFILER},
        "signatures": {**config["signatures"], "profiler": SIGNATURES_PROFILER},
    },
    {
        p: SAMPLES.loc[
            (
                IMPORT_PLAN.samples
                if IMPORT
                else (AMPLICON if p == "amplicon" else list(SHOTGUN.index))
            )
        ]
        for p in PROFILERS
    },
)

# function panels: DIAMOND blastx of reads on a protein panel (rules/functions.smk)
FUNCTION_PANEL = (
    config["function_panel"]["activate"] and not IMPORT and len(SHOTGUN) > 0
)
# functional profiling of reads (rules/humann.smk)
HUMANN = config["humann"]["activate"] and len(SHOTGUN) > 0


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


def get_report_inputs(wildcards):
    if SHOTGUN.empty:  # a 16S-only run: no shotgun QC or profiler modules
        return {"fastp": [], "sylph": []}
    samples = get_gated_samples()
    inputs = {
        "fastp": expand("results/qc/fastp/{sample}.fastp.json", sample=samples),
        "sylph": (
            expand("results/taxonomy/sylph/profiles/{sample}.sylphmpa", sample=samples)
            if "sylph" in PROFILERS
            else []
        ),
    }
    if "kraken2" in PROFILERS:
        inputs["kraken2"] = expand(
            "results/taxonomy/kraken2/profiles/{sample}.kreport", sample=samples
        )
    if HOST:
        inputs["bowtie2"] = expand(
            "results/qc/host/{sample}.bowtie2.log", sample=samples
        )
    return inputs


def get_function_hits(wildcards):
    # DIAMOND hits of the samples that passed the sample gate (shotgun only)
    return expand(
        "results/functions/panel/hits/{sample}.tsv", sample=get_gated_samples()
    )


def get_humann_tables(kind):
    # per-sample HUMAnN tables of one kind for the samples that passed the sample gate
    def _tables(wildcards):
        return expand(
            "results/functions/humann/{sample}/{sample}_{kind}.tsv",
            sample=get_gated_samples(),
            kind=kind,
        )

    return _tables


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
