"""Entry point for rule amplicon_merge_filter (rules/amplicon.smk). Logic lives in icibiome.amplicon.stage."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.amplicon.stage import merge_and_filter  # noqa: E402
from icibiome.logging import log_to_file  # noqa: E402

log_to_file(snakemake.log[0])
merge_and_filter(
    trimmed=list(snakemake.input.reads),
    filtered=snakemake.output.fasta,
    step_logs=list(snakemake.output.step_logs),
    sample=snakemake.wildcards.sample,
    min_overlap=snakemake.params.min_overlap,
    max_diffs=snakemake.params.max_diffs,
    max_ee=snakemake.params.max_ee,
    min_len=snakemake.params.min_len,
    max_len=snakemake.params.max_len,
    trunc_len=snakemake.params.trunc_len,
    threads=snakemake.threads,
)
