"""Entry point for rule check_reads (rules/qc.smk). Logic lives in icibiome.reads.qc."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.reads.qc import check_reads  # noqa: E402

log_to_file(snakemake.log[0])
check_reads(
    sample=snakemake.wildcards.sample,
    fq1=snakemake.params.fq1,
    fq2=snakemake.params.fq2,
    out_json=snakemake.output[0],
)
