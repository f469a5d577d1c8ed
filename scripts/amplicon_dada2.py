"""Entry point for rule amplicon_dada2 (rules/amplicon.smk). Logic lives in icibiome.amplicon.stage."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.amplicon.stage import dada2_asvs  # noqa: E402
from icibiome.logging import log_to_file  # noqa: E402

log_to_file(snakemake.log[0])
dada2_asvs(
    samples=snakemake.params.samples,
    r1=list(snakemake.input.r1),
    r2=list(snakemake.input.r2),
    asv_fasta=snakemake.output.asvs,
    asv_table=snakemake.output.table,
    tracking=snakemake.output.tracking,
    threads=snakemake.threads,
    tool_log=snakemake.log.r,
    trunc_len=snakemake.params.trunc_len,
    max_ee=snakemake.params.max_ee,
    trunc_q=snakemake.params.trunc_q,
    min_len=snakemake.params.min_len,
    min_overlap=snakemake.params.min_overlap,
    max_mismatch=snakemake.params.max_mismatch,
    pool=snakemake.params.pool,
    chimera_method=snakemake.params.chimera_method,
    seed=snakemake.params.seed,
)
