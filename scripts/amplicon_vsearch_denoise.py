"""Entry point for rule amplicon_vsearch_denoise (rules/amplicon.smk). Logic lives in icibiome.amplicon.stage."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.amplicon.stage import vsearch_asvs  # noqa: E402
from icibiome.logging import log_to_file  # noqa: E402

log_to_file(snakemake.log[0])
vsearch_asvs(
    filtered=list(snakemake.input.filtered),
    samples=snakemake.params.samples,
    asv_fasta=snakemake.output.asvs,
    asv_table=snakemake.output.table,
    min_size=snakemake.params.min_size,
    unoise_alpha=snakemake.params.alpha,
    abskew=snakemake.params.abskew,
    identity=snakemake.params.identity,
    threads=snakemake.threads,
    tool_log=snakemake.log[0],
)
