"""Entry point for rule sample_gate (rules/qc.smk). Logic lives in icibiome.reads.qc."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.reads.qc import sample_gate  # noqa: E402

log_to_file(snakemake.log[0])
sample_gate(
    status_tsv=snakemake.input.status,
    stats_jsons=list(snakemake.input.stats),
    out_tsv=snakemake.output.table,
)
