# Validation of config and sample sheet, wildcard constraints and input functions.
# Logic beyond one-liners lives in workflow/icibiome (icibiome.samplesheet, icibiome.qc).
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))

from snakemake.utils import validate

from icibiome.samplesheet import (
    ConfigError,
    SampleSheetError,
    check_config,
    check_resources,
    read_sample_sheet,
)
from icibiome.qc import BadReadsError, check_read_compression, passed_samples
from icibiome.amplicon import check_assays
from icibiome.import_mode import ImportModeError, plan_import
from icibiome.databases import DatabaseError, verify_databases

try:
    check_config(config)  # one short line per problem (typos get a suggestion)
    validate(
        config, schema="../workflow/schemas/config.schema.yaml"
    )  # fills in defaults
    IMPORT = config["import"]["activate"]  # import mode: existing profiles, no reads
    if not IMPORT:  # every database the run will use exists and is readable
        check_resources(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None

try:
    SAMPLES = read_sample_sheet(config["samples"], reads=not IMPORT)
except SampleSheetError as err:
    raise WorkflowError(str(err)) from None

IMPORT_PLAN = None
# import mode: the profiles parse and match the sheet (icibiome.import_mode), before any job
if IMPORT:
    try:
        IMPORT_PLAN = plan_import(
            config["import"]["profiles"],
            list(SAMPLES.index),
            fmt=config["import"]["format"],
            values=config["import"]["values"],
            name_map=config["import"]["name_map"],
            lineages=config["import"]["lineages"],
            taxonomy=config["import"]["taxonomy"],
            on_mismatch=config["import"]["on_mismatch"],
        )
    except ImportModeError as err:
        raise WorkflowError(str(err)) from None

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
    try:
        DB_CHECK = verify_databases(
            config["databases"]["manifest"],
            tools=DB_TOOLS,
            check_sha256=config["databases"]["sha256"],
            # digests of unchanged databases (same sizes and mtimes) are not computed again
            cache=".snakemake/icibiome/database_sha256.json",
        ).to_dict("records")
    except DatabaseError as err:
        raise WorkflowError(str(err)) from None
RANKS = config["taxonomy"]["ranks"]
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

# function panels: DIAMOND blastx of reads on a protein panel (rules/functions.smk)
FUNCTION_PANEL = (
    config["function_panel"]["activate"] and not IMPORT and len(SHOTGUN) > 0
)
# functional profiling of reads (rules/humann.smk)
HUMANN = config["humann"]["activate"] and len(SHOTGUN) > 0
# merged HUMAnN tables (rules/humann.smk); each also as _unstratified and _stratified
HUMANN_TABLES = [
    "genefamilies_rpk",
    "genefamilies_cpm",
    "genefamilies_relab",
    "pathabundance_rpk",
    "pathabundance_cpm",
    "pathabundance_relab",
    "pathcoverage",
]


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


def get_kmer_distribution(wildcards):
    k2 = config["taxonomy"]["kraken2"]
    if k2["kmer_distribution"]:
        return k2["kmer_distribution"]
    if k2["library"]:
        return f"results/taxonomy/kraken2/database{k2['read_length']}mers.kmer_distrib"
    return []  # no library: raw Kraken2 counts, no re-estimation


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


def get_shotgun_report_files():
    # MultiQC custom content of the shotgun QC and taxonomy sections; none in a 16S-only run
    if SHOTGUN.empty:
        return []
    return expand(
        "results/report/custom/{name}_mqc.tsv",
        name=[
            "read_survival",
            "host_stats",
            "composition",
            "excluded_samples",
            "composition_response",
            "zero_hit",
        ],
    )


# per-sample rules of each shotgun profiler, whose benchmark files give its time per sample
PROFILER_STEPS = {
    "sylph": ["sylph_profile"],
    "kraken2": ["kraken2_classify", "kraken2_profile"],
    "metaphlan": ["metaphlan_profile"],
}
# the shotgun profilers compared with a known composition (report.truth), species tables only
COMPARED_PROFILERS = (
    [p for p in SHOTGUN_PROFILERS if p in PROFILER_STEPS]
    if config["report"]["truth"] and not IMPORT and len(SHOTGUN) and "species" in RANKS
    else []
)


def get_profiler_comparison_report_files():
    # MultiQC table of the profilers vs report.truth; none without a truth or shotgun profiler
    if not COMPARED_PROFILERS:
        return []
    return ["results/report/custom/profiler_comparison_mqc.tsv"]


def get_import_report_files():
    # MultiQC custom content of import mode: composition, imported files, flagged samples
    if not IMPORT:
        return []
    return expand(
        "results/report/custom/import_{name}_mqc.tsv",
        name=["composition", "composition_response", "files", "flags"],
    )


def get_amplicon_trimmed(wildcards):
    # primer-trimmed reads of every 16S sample, one list per mate (R2 empty for single-end)
    return {
        mate: expand(
            "results/amplicon/trimmed/{sample}_{read}.fastq.gz",
            sample=AMPLICON,
            read=read,
        )
        for mate, read in zip(["r1", "r2"], [AMPLICON_READS[0], AMPLICON_READS[1:]])
    }


def get_amplicon_tracking_inputs(wildcards):
    # the per-step counts of the 16S read tracking: cutadapt JSONs, vsearch logs or DADA2's table
    vsearch = config["amplicon"]["denoiser"] == "vsearch"
    steps = (["merge"] if len(AMPLICON_READS) == 2 else []) + ["filter"]
    return {
        "cutadapt": expand(
            "results/amplicon/cutadapt/{sample}.cutadapt.json", sample=AMPLICON
        ),
        "step_logs": (
            expand(
                "results/amplicon/filtered/{sample}.{step}.log",
                sample=AMPLICON,
                step=steps,
            )
            if vsearch
            else []
        ),
        "dada2": [] if vsearch else ["results/amplicon/dada2_tracking.tsv"],
    }


def get_amplicon_report_files():
    # MultiQC inputs of the 16S path: cutadapt JSONs (native module), tracking, composition
    if not AMPLICON:
        return []
    return [
        *expand("results/amplicon/cutadapt/{sample}.cutadapt.json", sample=AMPLICON),
        "results/report/custom/amplicon_read_tracking_mqc.tsv",
        "results/report/custom/amplicon_composition_mqc.tsv",
    ]


def get_diversity_report_files():
    # MultiQC custom content of the diversity stage, one set per profiler; none when it is off
    if not DIVERSITY:
        return []
    return expand(
        "results/diversity/{profiler}/diversity_{part}",
        profiler=PROFILERS,
        part=[
            "alpha_mqc.tsv",
            "alpha_box_mqc.yaml",
            "pcoa_mqc.yaml",
            "permanova_mqc.tsv",
            "figure_mqc.html",
        ],
    )


def get_guild_annotation(wildcards):
    # the optional user list and function table of rule build_guilds (a change re-runs it)
    guilds = config["guilds"]
    return [p for p in (guilds["annotation"], guilds["functions"]) if p]


def get_networks_report_files():
    # MultiQC custom content of the networks and guilds stage; none when it is off
    if not NETWORKS:
        return []
    return expand(
        "results/guilds/{profiler}/guilds_{part}",
        profiler=NETWORK_PROFILER,
        part=["membership_mqc.tsv", "scores_mqc.yaml", "network_mqc.html"],
    )


def get_toposcore_lists(wildcards):
    # the SIG list files (or the guild table they come from) and the optional name map
    tp = config["toposcore"]
    lists = (
        [f"results/guilds/{wildcards.profiler}/guilds.tsv"]
        if TOPOSCORE_GUILDS
        else [tp["sig1"], tp["sig2"]]
    )
    return lists + ([tp["name_map"]] if tp["name_map"] else [])


def get_toposcore_report_files():
    # MultiQC custom content of the TOPOSCORE stage; none when it is off
    if not TOPOSCORE:
        return []
    return expand(
        "results/signatures/{profiler}/toposcore_{part}",
        profiler=TOPOSCORE_PROFILER,
        part=["table_mqc.tsv", "scores_mqc.yaml"],
    )


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


def get_signatures_report_files():
    # MultiQC custom content of the signatures stage; none when it is off
    if not SIGNATURES:
        return []
    return expand(
        "results/signatures/{profiler}/signatures_{part}",
        profiler=SIGNATURES_PROFILER,
        part=[
            "meta_mqc.tsv",
            "loco_mqc.tsv",
            "roc_mqc.yaml",
            "km_mqc.yaml",
            "figure_mqc.html",
        ],
    )


def get_function_hits(wildcards):
    # DIAMOND hits of the samples that passed the sample gate (shotgun only)
    return expand(
        "results/functions/panel/hits/{sample}.tsv", sample=get_gated_samples()
    )


def get_functions_report_files():
    # MultiQC custom content of the function panel; the guild table only with networks
    if not FUNCTION_PANEL:
        return []
    files = ["results/functions/panel/function_panel_mqc.yaml"]
    if NETWORKS:
        files.append("results/functions/panel/function_guilds_mqc.tsv")
    return files


def get_humann_profile(wildcards):
    # MetaPhlAn profile of the sample for humann --taxonomic-profile; none: --bypass-prescreen
    pattern = config["humann"]["taxonomic_profile"]
    return pattern.format(sample=wildcards.sample) if pattern else []


def get_humann_tables(kind):
    # per-sample HUMAnN tables of one kind for the samples that passed the sample gate
    def _tables(wildcards):
        return expand(
            "results/functions/humann/{sample}/{sample}_{kind}.tsv",
            sample=get_gated_samples(),
            kind=kind,
        )

    return _tables


def get_humann_report_files():
    # MultiQC custom content of the HUMAnN stage (pathway heatmap); none when it is off
    return ["results/functions/humann/humann_pathways_mqc.yaml"] if HUMANN else []


def get_final_output():
    return [
        "results/report/multiqc_report.html",
        "results/run_info/run_info.yaml",
        *(
            expand("results/diversity/{profiler}/permanova.tsv", profiler=PROFILERS)
            if DIVERSITY
            else []
        ),
        *(
            expand(
                [
                    "results/networks/{profiler}/edges.tsv",
                    "results/guilds/{profiler}/guilds.tsv",
                    "results/guilds/{profiler}/guild_scores.tsv",
                ],
                profiler=NETWORK_PROFILER,
            )
            if NETWORKS
            else []
        ),
        *(
            expand(
                "results/signatures/{profiler}/toposcore.tsv",
                profiler=TOPOSCORE_PROFILER,
            )
            if TOPOSCORE
            else []
        ),
        *(
            expand(
                [
                    "results/signatures/{profiler}/meta_analysis.tsv",
                    "results/signatures/{profiler}/loco_auc.tsv",
                    "results/signatures/{profiler}/survival.tsv",
                ],
                profiler=SIGNATURES_PROFILER,
            )
            if SIGNATURES
            else []
        ),
        *(
            expand(
                "results/signatures/{profiler}/frozen_predictions.tsv",
                profiler=SIGNATURES_PROFILER,
            )
            if FROZEN_MODEL
            else []
        ),
        *(
            expand(
                "results/functions/humann/{table}_{split}.tsv",
                table=["genefamilies_cpm", "pathabundance_cpm", "pathcoverage"],
                split=["unstratified", "stratified"],
            )
            if HUMANN
            else []
        ),
        *(
            ["results/functions/panel/category_rpkm.tsv"]
            + (["results/functions/panel/guild_functions.tsv"] if NETWORKS else [])
            if FUNCTION_PANEL
            else []
        ),
        *expand(
            "results/taxonomy/{profiler}/abundance_{rank}.tsv",
            profiler=PROFILERS,
            rank=RANKS,
        ),
        *([f"results/taxonomy/{PROFILERS[0]}/import_manifest.tsv"] if IMPORT else []),
        *(
            ["results/amplicon/asvs.fa", "results/amplicon/asv_table.biom"]
            if AMPLICON
            else []
        ),
    ]
