"""Entry point for rule read_tracking (rules/report.smk). Logic lives in icibiome.reads.qc."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.reads.qc import read_tracking  # noqa: E402

log_to_file(snakemake.log[0])
read_tracking(
    stats_jsons=list(snakemake.input.stats),
    counts_tsv=snakemake.input.counts,
    out_tsv=snakemake.output[0],
)
