"""Entry point for rule amplicon_cutadapt (rules/amplicon.smk). Logic lives in icibiome.amplicon.stage."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.amplicon.stage import trim_primers  # noqa: E402
from icibiome.logging import log_to_file  # noqa: E402

log_to_file(snakemake.log[0])
trim_primers(
    reads=list(snakemake.input.reads),
    trimmed=list(snakemake.output.reads),
    json_report=snakemake.output.json,
    forward_primer=snakemake.params.forward_primer,
    reverse_primer=snakemake.params.reverse_primer,
    discard_untrimmed=snakemake.params.discard_untrimmed,
    error_rate=snakemake.params.error_rate,
    min_length=snakemake.params.min_length,
    threads=snakemake.threads,
    tool_log=snakemake.log[0],
)
