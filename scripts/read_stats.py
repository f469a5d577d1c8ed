"""Entry point for rule read_stats (rules/qc.smk). Logic lives in icibiome.reads.qc."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.reads.qc import read_stats  # noqa: E402

log_to_file(snakemake.log[0])
read_stats(
    sample=snakemake.wildcards.sample,
    fastp_json=snakemake.input.fastp,
    nonhost_reads=list(snakemake.input.reads),
    out_json=snakemake.output[0],
    min_fragments=snakemake.params.min_fragments,
    on_bad_sample=snakemake.params.on_bad_sample,
)
