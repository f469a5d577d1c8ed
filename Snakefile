# icibiome: gut microbiome of immune-checkpoint-inhibitor patients, from reads to report.
#
# results/
#   qc/check/{sample}.json           raw-read checks (empty / truncated / corrupt / mates out of step)
#   qc/sample_status.tsv             which samples go on (on_bad_sample: stop | exclude)
#   qc/fastp/{sample}.fastp.json     fastp reports (trimmed reads are temporary)
#   qc/host/{sample}_R1.fastq.gz     non-host reads (bowtie2 + samtools), bowtie2 logs beside them
#   qc/stats/{sample}.json           fragments raw -> trimmed -> non-host
#   qc/read_tracking.tsv             read tracking per sample, with classified fragments
#   taxonomy/<profiler>/profiles/    per-sample standard profiles (+ .sylphmpa for MultiQC)
#   taxonomy/<profiler>/abundance_<rank>.tsv, counts_<rank>.tsv   the standard tables
#   taxonomy/<import.profiler>/      import mode: the standard tables of existing profiles
#                                    (+ import_manifest.tsv, samples.tsv, excluded_samples.tsv)
#   amplicon/                        16S: cutadapt reports, asvs.fa, asv_table.tsv/.biom, sintax.tsv,
#                                    read_tracking.tsv (profiler 'amplicon' in taxonomy/)
#   diversity/<profiler>/alpha.tsv   alpha diversity; beta_braycurtis/aitchison.tsv, PCoA, permanova.tsv
#   networks/<profiler>/edges.tsv    co-abundance network (+ nodes.tsv, graph.graphml)
#   guilds/<profiler>/guilds.tsv     guild per taxon; guild_scores.tsv per sample (+ network.png)
#   signatures/<profiler>/toposcore.tsv   TOPOSCORE per sample (+ toposcore_members.tsv)
#   signatures/<profiler>/meta_analysis.tsv   DA per cohort, meta-analysis, LOCO AUC, survival,
#                                    model.pkl (response signatures)
#   functions/humann/{sample}/       HUMAnN per sample: {sample}_genefamilies|pathabundance|pathcoverage.tsv
#   functions/humann/<table>[_unstratified|_stratified].tsv   joined HUMAnN tables, <table> =
#                                    genefamilies_{rpk,cpm,relab}, pathabundance_{rpk,cpm,relab},
#                                    pathcoverage; humann_pathways_mqc.yaml (report heatmap)
#   functions/panel/category_rpkm.tsv   function panel (DIAMOND blastx): RPKM per category x sample
#                                    (+ protein_counts/protein_rpkm/taxon_rpkm/features.tsv, hits/),
#                                    guild_functions.tsv (category x guild) when networks run
#   engraftment/                     FMT designs: samples.tsv (per post-FMT sample), recipients.tsv,
#                                    association.tsv (engraftment vs response)
#   longitudinal/                    repeated samples: change_from_baseline.tsv, mixed_models.tsv,
#                                    paired_tests.tsv
#   run_info/                        provenance: run_info.yaml (versions, config, command), the
#                                    config snapshot, databases.tsv (manifest check)
#   figures/<figure>_<profiler>.svg  the report's figures as vector files (journal column width):
#                                    signatures, pcoa, network, toposcore
#   report/multiqc_report.html       the MultiQC report
from snakemake.utils import min_version

min_version("9.0")

# a YAML syntax error in the config names file, line and column (icibiome.config)
import sys

sys.path.insert(0, f"{workflow.basedir}/workflow")
from icibiome.config import ConfigError, check_yaml_file

try:
    check_yaml_file("config/config.yaml")
except ConfigError as err:
    raise WorkflowError(str(err)) from None


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "rules/common.smk"


# One home per stage: each rules file decides its own activation and registers its final
# outputs and report sections (TARGETS, REPORT in rules/common.smk). The stages below run in
# pipeline order; any other rules/<stage>.smk (a new stage, see CONTRIBUTING.md) is included
# after them, then provenance and the report, which read the registries.
from pathlib import Path

STAGES = [
    "qc",
    "taxonomy",
    "import",
    "amplicon",
    "diversity",
    "networks",
    "toposcore",
    "signatures",
    "humann",
    "functions",
    "engraftment",
]
_rules_dir = Path(workflow.current_basedir) / "rules"
STAGES += sorted(
    {p.stem for p in _rules_dir.glob("*.smk")}
    - {*STAGES, "common", "provenance", "report"}
)


for _stage in STAGES:

    include: f"rules/{_stage}.smk"


include: "rules/provenance.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
