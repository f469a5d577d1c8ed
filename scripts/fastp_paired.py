"""Entry point for rule fastp_paired (rules/qc.smk). Logic lives in icibiome.reads.qc."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.reads.qc import run_fastp  # noqa: E402

log_to_file(snakemake.log[0])
run_fastp(
    reads=[snakemake.input.r1] + ([snakemake.input.r2] if "r2" in snakemake.input.keys() else []),
    out_reads=[snakemake.output.r1]
    + ([snakemake.output.r2] if "r2" in snakemake.output.keys() else []),
    out_json=snakemake.output.json,
    out_html=snakemake.output.html,
    log=snakemake.log[0],
    sample=snakemake.wildcards.sample,
    threads=snakemake.threads,
    min_length=snakemake.params.min_length,
    cut_tail_quality=snakemake.params.cut_tail_quality,
    adapters=list(snakemake.params.adapters),
    extra=snakemake.params.extra,
)
