"""Entry point for rule figure_toposcore (rules/report.smk). Logic lives in icibiome.report.sections."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "workflow"))
from icibiome.logging import log_to_file  # noqa: E402
from icibiome.report.sections import toposcore_vector_figure  # noqa: E402

log_to_file(snakemake.log[0])
toposcore_vector_figure(
    toposcore_tsv=snakemake.input.scores,
    samples_tsv=snakemake.input.samples,
    out=snakemake.output[0],
)
