"""Entry point for rule bowtie2_remove_host_paired (rules/qc.smk). Logic lives in icibiome.reads.qc."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.reads.qc import run_host_removal  # noqa: E402

log_to_file(snakemake.log[0])
run_host_removal(
    reads=[snakemake.input.r1] + ([snakemake.input.r2] if "r2" in snakemake.input.keys() else []),
    index=snakemake.params.index,
    out_reads=[snakemake.output.r1]
    + ([snakemake.output.r2] if "r2" in snakemake.output.keys() else []),
    bowtie2_log=snakemake.output.bowtie2_log,
    log=snakemake.log[0],
    threads=snakemake.threads,
    extra=snakemake.params.extra,
)
